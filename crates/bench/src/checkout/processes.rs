//! The deployed shape for the checkout benchmark: the Stripe emulator and the four services as
//! release binaries in processes of their own (config files written here, logs in
//! `target/bench/logs/`), on a database and NATS namespace of the benchmark's own; and what
//! /proc says about them (CPU time, resident memory), PostgreSQL and NATS.

use ordo_testkit::{TestBus, TestDb, service_config};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "sk_test_ordo";
const WEBHOOK_SECRET: &str = "whsec_bench";

pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    pub base: String,
}

/// Where a checkout goes.
#[derive(Debug, Clone, Copy)]
pub struct Addresses<'a> {
    pub order: &'a str,
    pub emulator: &'a str,
}

/// The running stack; its processes are killed on drop.
pub struct Stack {
    pub procs: Vec<Proc>,
    pub emulator: String,
    pub order: String,
    dir: PathBuf,
    mail: PathBuf,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        let _ = std::fs::remove_dir_all(self.dir.join("assets"));
        let _ = std::fs::remove_dir_all(&self.mail);
    }
}

/// The services reach PostgreSQL over loopback on the same box, where TLS protects nothing and
/// costs both ends CPU (measured: 10–18 % of the throughput when the server has `ssl = on`):
/// `sslmode=disable` unless the URL names a mode or `ORDO_BENCH_PG_TLS=1` asks to keep TLS.
fn same_box_url(url: &str) -> String {
    if url.contains("sslmode=") || std::env::var("ORDO_BENCH_PG_TLS").is_ok_and(|v| v == "1") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode=disable")
}

/// Where the notification service writes its e-mails (`file` transport): a folder in memory
/// (`/dev/shm`) when there is one. On the disk, ext4's inode allocation for one new file per
/// e-mail (skipping the inodes of the last run's deleted files) took half the service's CPU in
/// a profile; a deployment sends by SMTP, so that cost is the disk's, not ordo's.
fn mail_folder() -> PathBuf {
    let name = format!("ordo-bench-mail-{}", std::process::id());
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm.join(name)
    } else {
        std::env::temp_dir().join(name)
    }
}

fn release_bin(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = root.join("target/release").join(name);
    assert!(
        bin.exists(),
        "{} is missing: `make bench` builds the services in release first",
        bin.display()
    );
    bin
}

async fn ready(url: &str, what: &str, log: &PathBuf) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Stack {
    pub async fn start(db: &TestDb, bus: &TestBus) -> Stack {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let free = ordo_testkit::peers::free_port;
        let mail = mail_folder();
        let mut procs = Vec::new();
        let (emulator_port, payment_port) = (free(), free());
        let emulator = format!("http://127.0.0.1:{emulator_port}");
        let payment = format!("http://127.0.0.1:{payment_port}");
        let log = dir.join("logs/stripe-emulator.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(release_bin("ordo-stripe-emulator"))
            .env("ORDO_STRIPE_EMULATOR_ADDR", format!("127.0.0.1:{emulator_port}"))
            .env("ORDO_STRIPE_EMULATOR_KEY", KEY)
            .env("ORDO_STRIPE_EMULATOR_WEBHOOK_URL", format!("{payment}/webhooks/stripe"))
            .env("ORDO_STRIPE_EMULATOR_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        procs.push(Proc {
            name: "stripe-emulator",
            child,
            base: emulator.clone(),
        });
        ready(
            &format!("{emulator}/_emulator/webhooks/stats"),
            "the Stripe emulator",
            &log,
        )
        .await;
        for name in ["payment", "order", "delivery", "notification"] {
            let mut cfg = service_config(name, db, bus);
            cfg.http.port = if name == "payment" { payment_port } else { free() };
            cfg.database.max_connections = 10;
            cfg.telemetry.filter = "warn".into();
            cfg.stripe.api_base = format!("{emulator}/");
            cfg.stripe.webhook_secrets = vec![ordo_config::Secret::new(WEBHOOK_SECRET.into())];
            cfg.database.url = ordo_config::Secret::new(same_box_url(cfg.database.url.expose()));
            cfg.delivery.storage.root = dir.join("assets").to_string_lossy().into_owned();
            cfg.notification.file_dir = mail.to_string_lossy().into_owned();
            cfg.checkout.rate_per_sec = 1_000_000;
            cfg.checkout.rate_burst = 1_000_000;
            let config = dir.join(format!("{name}.toml"));
            std::fs::write(&config, toml::to_string(&cfg).unwrap()).unwrap();
            let log = dir.join(format!("logs/{name}.log"));
            let out = std::fs::File::create(&log).unwrap();
            let child = Command::new(release_bin(&format!("ordo-{name}")))
                .env("ORDO_CONFIG", &config)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap();
            let base = format!("http://127.0.0.1:{}", cfg.http.port);
            ready(&format!("{base}/health/ready"), name, &log).await;
            procs.push(Proc {
                name: match name {
                    "payment" => "payment",
                    "order" => "order",
                    "delivery" => "delivery",
                    _ => "notification",
                },
                child,
                base,
            });
        }
        let order = procs
            .iter()
            .find(|p| p.name == "order")
            .map(|p| p.base.clone())
            .unwrap();
        Stack {
            procs,
            emulator,
            order,
            dir,
            mail,
        }
    }
}

/// CPU time (user + system, milliseconds) of a process, from /proc/<pid>/stat.
fn cpu_ms(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks * 1000.0 / 100.0 // USER_HZ is 100 on Linux
}

/// Resident memory of a process, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// CPU milliseconds of every process whose command is `comm` (all PostgreSQL backends, say).
fn cpu_of_command(comm: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == comm)
                .unwrap_or(false)
        })
        .map(cpu_ms)
        .sum()
}

/// CPU milliseconds so far per process of the stack, PostgreSQL and NATS.
pub fn cpu_snapshot(stack: &Stack) -> HashMap<&'static str, f64> {
    let mut m: HashMap<&'static str, f64> = stack.procs.iter().map(|p| (p.name, cpu_ms(p.child.id()))).collect();
    m.insert("postgresql", cpu_of_command("postgres"));
    m.insert("nats", cpu_of_command("nats-server"));
    m.insert("load generator", cpu_ms(std::process::id()));
    m
}
