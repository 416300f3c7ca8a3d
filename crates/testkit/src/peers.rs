//! Real servers that tests start as peers, from the tools `deploy/local/ensure-test-tools.sh`
//! installs (`make test` runs it; a test that finds a tool missing runs it too): moto's
//! S3-compatible server and an SMTP server (aiosmtpd) that keeps what it receives; and NATS and
//! PostgreSQL servers of a test's own, which it may kill and start again.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Install the tests' peers when missing (`deploy/local/ensure-test-tools.sh`, once per process):
/// the Python tools and Chromium with its WebDriver.
pub fn ensure_test_tools() {
    static READY: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    READY.get_or_init(|| {
        let status = Command::new("bash")
            .arg(workspace_root().join("deploy/local/ensure-test-tools.sh"))
            .status()
            .expect("running deploy/local/ensure-test-tools.sh");
        assert!(status.success(), "deploy/local/ensure-test-tools.sh failed: {status}");
    });
}

/// The path of an installed test tool (`bin/{name}` in the tools' virtual environment). The
/// set-up script runs once per process first: it returns at once when the pins are installed,
/// and installs them when they changed.
pub fn test_tool(name: &str) -> PathBuf {
    ensure_test_tools();
    let state = std::env::var("ORDO_STATE_DIR").map_or_else(|_| workspace_root().join(".run"), PathBuf::from);
    let tool = state.join("test-tools/bin").join(name);
    assert!(tool.exists(), "{} is not installed", tool.display());
    tool
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// moto's S3 server on its own port, killed on drop. Any access key works.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:{port}`
    pub endpoint: String,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let port = free_port();
        let child = Command::new(test_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start on {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SMTP server (aiosmtpd, `peers/smtp_sink.py`) on its own port that writes each message it
/// accepts to a folder, numbered in arrival order. It can be stopped and started again on the
/// same port (messages keep their numbers); killed and its folder removed on drop.
#[derive(Debug)]
pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    pub folder: PathBuf,
    options: Vec<String>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        Self::start_with(&[]).await
    }

    /// With the sink's options: `--tls` (STARTTLS required; trust `ca_file()`), `--auth`,
    /// `user:password` (AUTH required).
    pub async fn start_with(options: &[&str]) -> SmtpServer {
        let mut server = SmtpServer {
            child: None,
            port: free_port(),
            folder: std::env::temp_dir().join(format!("ordo-smtp-{}", uuid::Uuid::now_v7())),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        };
        server.resume().await;
        server
    }

    /// The PEM of the CA that issued the server's certificate (with `--tls`).
    pub fn ca_file(&self) -> PathBuf {
        self.folder.join("ca.pem")
    }

    /// Stop accepting connections (the process ends).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let python = test_tool("python");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/smtp_sink.py");
        let child = Command::new(python)
            .arg(script)
            .args(["127.0.0.1", &self.port.to_string()])
            .arg(&self.folder)
            .args(&self.options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the SMTP sink");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the SMTP sink did not start on {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The messages received so far, in arrival order.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.folder)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        names.sort();
        names.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// A NATS server of the test's own (JetStream, its own port and store) as deploy/k8s runs it:
/// TLS only (a certificate for 127.0.0.1 made for the test; clients trust it through
/// [`NatsServer::ca_file`]) and ordo's authorization (`deploy/local/nats-auth.conf`: one user per
/// service, subject permissions, no anonymous access) with a fresh random password per
/// service. Killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
    /// `nats://127.0.0.1:{port}` (TLS is required by the server).
    pub url: String,
    /// The PEM certificate clients must trust.
    pub ca_file: String,
    passwords: std::collections::HashMap<String, String>,
}

fn store_log(store: &std::path::Path, name: &str) -> PathBuf {
    store.join(name)
}

/// The services `deploy/local/nats-auth.conf` knows.
pub const NATS_USERS: [&str; 4] = ["order", "payment", "delivery", "notification"];

impl NatsServer {
    pub async fn start() -> NatsServer {
        let port = free_port();
        let store = std::env::temp_dir().join(format!("ordo-nats-{}", uuid::Uuid::new_v4().simple()));
        let passwords: std::collections::HashMap<String, String> = NATS_USERS
            .iter()
            // Starting with a letter: nats-server parses a variable's value as configuration, and
            // a value such as `12e45…` is a malformed number, not a string.
            .map(|s| (s.to_string(), format!("pw{}", uuid::Uuid::new_v4().simple())))
            .collect();
        std::fs::create_dir_all(&store).expect("the NATS store folder");
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("a test certificate");
        let (cert_file, key_file) = (store.join("server.pem"), store.join("server.key"));
        std::fs::write(&cert_file, cert.pem()).expect("writing the certificate");
        std::fs::write(&key_file, signing_key.serialize_pem()).expect("writing the key");
        let mut server = NatsServer {
            child: None,
            port,
            store,
            url: format!("nats://127.0.0.1:{port}"),
            ca_file: cert_file.to_string_lossy().into_owned(),
            passwords,
        };
        server.resume().await;
        server
    }

    /// Kill the server at once (SIGKILL: no clean shutdown of JetStream's store).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start the server again on the same port, store, certificate and passwords.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "nats-server is already running");
        let store = &self.store;
        let log = store.join("nats.log");
        let mut cmd = Command::new("nats-server");
        cmd.arg("-c")
            .arg(workspace_root().join("deploy/local/nats-auth.conf"))
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(store.join("jetstream"))
            .arg("-l")
            .arg(&log)
            .arg("--tls")
            .arg("--tlscert")
            .arg(store.join("server.pem"))
            .arg("--tlskey")
            .arg(store.join("server.key"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(store.join("stderr.log")).map_or(Stdio::null(), Stdio::from));
        for (service, password) in &self.passwords {
            cmd.env(format!("ORDO_NATS_PASSWORD_{}", service.to_uppercase()), password);
        }
        self.child = Some(cmd.spawn().expect("starting nats-server (installed by make test)"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start on {}: {} {}",
                self.port,
                std::fs::read_to_string(store_log(store, "stderr.log")).unwrap_or_default(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The password of service `service`'s user (`ordo_<service>`).
    pub fn password(&self, service: &str) -> String {
        self.passwords[service].clone()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// A PostgreSQL cluster of the caller's own (initdb in a temporary folder, its own port on
/// 127.0.0.1, trust authentication, superuser `postgres`), so it can be stopped and started
/// again without touching the machine's. Run as `postgres` when the caller is root (initdb
/// refuses root). Removed on drop.
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:{port}/postgres`
    pub admin_url: String,
}

/// The newest PostgreSQL server programs installed (`/usr/lib/postgresql/<version>/bin`).
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .map(|(_, b)| b)
        .expect("PostgreSQL's server programs (/usr/lib/postgresql/<version>/bin/initdb)")
}

fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

/// PostgreSQL's program `exe`, run as `postgres` when the caller is root.
fn as_postgres(exe: &std::path::Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(exe);
        c
    } else {
        Command::new(exe)
    }
}

impl PgCluster {
    /// initdb and start; `settings` are added to postgresql.conf (`name = value` lines).
    pub fn start(settings: &[&str]) -> PgCluster {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("ordo-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("the cluster's folder");
        let cluster = PgCluster {
            bin: postgres_bin(),
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            dir,
        };
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&cluster.dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of {} to postgres failed", cluster.dir.display());
        }
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        let mut conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n",
            cluster.dir.display()
        );
        for s in settings {
            conf.push_str(s);
            conf.push('\n');
        }
        let path = data.join("postgresql.conf");
        let mut all = std::fs::read_to_string(&path).expect("postgresql.conf");
        all.push_str(&conf);
        std::fs::write(&path, all).expect("writing postgresql.conf");
        cluster.resume();
        cluster
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = as_postgres(&self.bin.join(program))
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let log = self.dir.join("postgres.log").to_string_lossy().into_owned();
        let mut all = vec!["-D", data.as_str(), "-l", log.as_str(), "-w", "-t", "60"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    /// Fast shutdown: open transactions are rolled back, connections closed.
    pub fn stop_fast(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    /// Start (again), waiting until it accepts connections.
    pub fn resume(&self) {
        self.pg_ctl(&["start"]);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args(["-D", data.as_str(), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
