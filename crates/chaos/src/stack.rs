//! The stack under chaos: the Stripe emulator and two replicas of every service, each a process
//! of its own (the binaries next to this one, so `make chaos` runs what it just built), on the
//! run's own PostgreSQL cluster and NATS server; and the signals the driver sends them.

use ordo_config::{Secret, ServiceConfig};
use ordo_testkit::peers::{NatsServer, PgCluster, free_port};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "sk_test_ordo";
pub const WEBHOOK_SECRET: &str = "whsec_chaos";
pub const SERVICES: [&str; 4] = ["order", "payment", "delivery", "notification"];
pub const DATABASE: &str = "ordo";

/// How long JetStream waits for a consumer's ack before delivering again (a frozen replica's
/// messages go to the other replica after this).
pub const ACK_WAIT_SECS: u64 = 10;

/// One service process.
#[derive(Debug)]
pub struct Replica {
    pub service: &'static str,
    pub index: usize,
    pub port: u16,
    config: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
    pub frozen: bool,
}

impl Replica {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn name(&self) -> String {
        format!("{}-{}", self.service, self.index + 1)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let child = Command::new(&self.bin)
            .env("ORDO_CONFIG", &self.config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin.display()));
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no flush; whatever was in flight is lost to the process.
    pub fn kill9(&mut self) {
        if self.frozen {
            self.thaw();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.name());
        self.spawn();
    }

    /// SIGSTOP: the process holds its connections and messages but does nothing.
    pub fn freeze(&mut self) {
        if let Some(c) = &self.child {
            signal("STOP", c.id());
            self.frozen = true;
        }
    }

    pub fn thaw(&mut self) {
        if let Some(c) = &self.child {
            signal("CONT", c.id());
        }
        self.frozen = false;
    }

    pub async fn wait_ready(&self, within: Duration) -> bool {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/health/ready", self.base())).send().await
                && r.status().is_success()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn log_tail(&self) -> String {
        let all = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// The running stack; every process is killed on drop.
#[derive(Debug)]
pub struct Stack {
    pub replicas: Vec<Replica>,
    pub emulator: String,
    emulator_child: Child,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            r.kill9();
        }
        let _ = self.emulator_child.kill();
        let _ = self.emulator_child.wait();
    }
}

/// The folder of this executable: the services were built beside it.
fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/debug"))
}

fn binary(name: &str) -> PathBuf {
    let bin = bin_dir().join(name);
    assert!(
        bin.exists(),
        "{} is missing: `make chaos` builds the services first",
        bin.display()
    );
    bin
}

/// The configuration of one replica.
fn config(service: &str, port: u16, pg: &PgCluster, nats: &NatsServer, emulator: &str, dir: &Path) -> ServiceConfig {
    let mut cfg = ServiceConfig::defaults(service, port);
    cfg.database.url = Secret::new(format!(
        "postgres://ordo_{service}@127.0.0.1:{}/{DATABASE}?sslmode=disable",
        pg.port
    ));
    cfg.database.max_connections = 8;
    cfg.nats.url = nats.url.clone();
    cfg.nats.password = Secret::new(nats.password(service));
    cfg.nats.ca_file = nats.ca_file.clone();
    cfg.auth = ordo_testkit::auth_config();
    cfg.telemetry.filter = "warn".into();
    cfg.outbox.poll_interval_ms = 500;
    // Retries for about a minute, so an outage of seconds heals and nothing is dead-lettered.
    cfg.consumer.backoff_initial_ms = 100;
    cfg.consumer.backoff_max_ms = 5_000;
    cfg.consumer.ack_wait_secs = ACK_WAIT_SECS;
    cfg.consumer.lost_check_interval_secs = 5;
    cfg.consumer.lost_check_grace_secs = 15;
    cfg.consumer.lost_check_lookback_secs = 900;
    cfg.stripe.api_base = emulator.to_owned();
    cfg.stripe.webhook_secrets = vec![Secret::new(WEBHOOK_SECRET.into())];
    // ack_wait must exceed a Stripe call with its retries.
    cfg.stripe.timeout_ms = 2_000;
    cfg.stripe.attempts = 3;
    cfg.stripe.reconcile_interval_secs = 5;
    cfg.stripe.reconcile_after_secs = 20;
    cfg.delivery.storage.root = dir.join("assets").to_string_lossy().into_owned();
    cfg.notification.file_dir = dir.join("mail").to_string_lossy().into_owned();
    cfg.checkout.rate_per_sec = 1_000_000;
    cfg.checkout.rate_burst = 1_000_000;
    cfg
}

impl Stack {
    /// The emulator (webhooks to both payment replicas) and two replicas of each service.
    pub async fn start(pg: &PgCluster, nats: &NatsServer, dir: &Path) -> Stack {
        std::fs::create_dir_all(dir.join("logs")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let ports: Vec<(&'static str, usize, u16)> = SERVICES
            .iter()
            .flat_map(|s| (0..2).map(move |i| (*s, i)))
            .map(|(s, i)| (s, i, free_port()))
            .collect();
        let payment_urls: Vec<String> = ports
            .iter()
            .filter(|(s, _, _)| *s == "payment")
            .map(|(_, _, p)| format!("http://127.0.0.1:{p}/webhooks/stripe"))
            .collect();
        let emulator_port = free_port();
        let emulator = format!("http://127.0.0.1:{emulator_port}/");
        let log = dir.join("logs/stripe-emulator.log");
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let emulator_child = Command::new(binary("ordo-stripe-emulator"))
            .env("ORDO_STRIPE_EMULATOR_ADDR", format!("127.0.0.1:{emulator_port}"))
            .env("ORDO_STRIPE_EMULATOR_KEY", KEY)
            .env("ORDO_STRIPE_EMULATOR_WEBHOOK_URL", payment_urls.join(","))
            .env("ORDO_STRIPE_EMULATOR_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the Stripe emulator: {e}"));
        let mut replicas = Vec::new();
        for (service, index, port) in ports {
            let cfg = config(service, port, pg, nats, &emulator, dir);
            let path = dir.join(format!("{service}-{}.toml", index + 1));
            let text = toml::to_string(&cfg).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut r = Replica {
                service,
                index,
                port,
                config: path,
                log: dir.join(format!("logs/{service}-{}.log", index + 1)),
                bin: binary(&format!("ordo-{service}")),
                child: None,
                frozen: false,
            };
            r.spawn();
            replicas.push(r);
        }
        let stack = Stack {
            replicas,
            emulator,
            emulator_child,
        };
        for r in &stack.replicas {
            assert!(
                r.wait_ready(Duration::from_secs(60)).await,
                "{} did not become ready:\n{}",
                r.name(),
                r.log_tail()
            );
        }
        stack
    }

    pub fn bases(&self, service: &str) -> Vec<String> {
        self.replicas
            .iter()
            .filter(|r| r.service == service)
            .map(Replica::base)
            .collect()
    }
}
