//! A payment stack plus the delivery service, its assets in a temporary folder.

use crate::shop::Caller;
use crate::stack::{Options, Stack};
use ordo_testkit::service_config;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

pub const ASSET_KEY: &str = "comics/moon-1.pdf";
/// Links name this base (configured); the tests send them to the service's real port.
pub const PUBLIC_BASE: &str = "https://downloads.shop.test";

/// A notification service and the folder it writes its e-mails to (removed on drop).
pub struct Mailbox {
    pub base: String,
    pub dir: PathBuf,
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Mailbox {
    /// The e-mails written so far, as text (quoted-printable soft line breaks and `=3D` undone).
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|m| m.replace("=\r\n", "").replace("=\n", "").replace("=3D", "="))
            .collect()
    }
}

pub struct DeliveryStack {
    pub s: Stack,
    pub delivery_base: String,
    pub assets: PathBuf,
    pub http: reqwest::Client,
    /// Set when the delivery service runs as a process of its own.
    pub process: Option<Process>,
}

/// The delivery service as a child process (`ordo-delivery-process`), its stdout and stderr in
/// one log file.
pub struct Process {
    pub child: std::process::Child,
    pub log: PathBuf,
    config: PathBuf,
}

impl Process {
    /// Everything the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Resident memory (VmRSS) of process `pid`, in bytes.
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

impl Drop for DeliveryStack {
    fn drop(&mut self) {
        // The service first, while its database and streams still exist.
        drop(self.process.take());
        let _ = std::fs::remove_dir_all(&self.assets);
    }
}

impl DeliveryStack {
    pub async fn start() -> DeliveryStack {
        Self::start_with(|_| {}).await
    }

    /// The delivery service in this process.
    pub async fn start_with(tweak: impl FnOnce(&mut ordo_config::DeliveryConfig)) -> DeliveryStack {
        Self::start_on(Options::default(), tweak).await
    }

    /// The whole stack on a NATS server of the test's own with ordo's authorization.
    #[allow(dead_code)] // used by the notification tests
    pub async fn start_authorized() -> DeliveryStack {
        let options = Options {
            authorized_nats: true,
            ..Default::default()
        };
        Self::start_on(options, |_| {}).await
    }

    /// The whole stack trusting these token issuers beside the test keys; with `reachable_links`
    /// the download links name the delivery service's real address (a browser follows them).
    pub async fn start_trusting(
        issuers: Vec<ordo_config::TrustedIssuerConfig>,
        reachable_links: bool,
    ) -> DeliveryStack {
        let options = Options {
            trusted_issuers: issuers,
            ..Default::default()
        };
        Self::start_configured(options, |c| {
            if reachable_links {
                let port = ordo_testkit::peers::free_port();
                c.http.port = port;
                c.delivery.public_base_url = format!("http://127.0.0.1:{port}");
            }
        })
        .await
    }

    async fn start_on(options: Options, tweak: impl FnOnce(&mut ordo_config::DeliveryConfig)) -> DeliveryStack {
        Self::start_configured(options, |c| tweak(&mut c.delivery)).await
    }

    async fn start_configured(options: Options, tweak: impl FnOnce(&mut ordo_config::ServiceConfig)) -> DeliveryStack {
        let (s, assets, cfg) = Self::prepare_on(options, tweak).await;
        let running = ordo_delivery::build(cfg).await.unwrap();
        let delivery_base = format!("http://127.0.0.1:{}", running.port());
        tokio::spawn(running.run_until_stopped());
        Self::finish(s, assets, delivery_base, None)
    }

    /// The delivery service as a process of its own (the rest of the stack in this one); `bin`
    /// is the `ordo-delivery-process` executable (`env!("CARGO_BIN_EXE_ordo-delivery-process")`
    /// in a test).
    pub async fn start_process(bin: &str, tweak: impl FnOnce(&mut ordo_config::ServiceConfig)) -> DeliveryStack {
        let (s, assets, mut cfg) = Self::prepare(tweak).await;
        cfg.http.port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let stem = std::env::temp_dir().join(format!("ordo-delivery-{}", uuid::Uuid::now_v7()));
        let config = stem.with_extension("toml");
        let log = stem.with_extension("log");
        std::fs::write(&config, toml::to_string(&cfg).unwrap()).unwrap();
        let out = std::fs::File::create(&log).unwrap();
        let child = std::process::Command::new(bin)
            .env("ORDO_CONFIG", &config)
            .env_remove("RUST_LOG")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let process = Process { child, log, config };
        let delivery_base = format!("http://127.0.0.1:{}", cfg.http.port);
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match http.get(format!("{delivery_base}/health/ready")).send().await {
                Ok(r) if r.status().is_success() => break,
                outcome => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "delivery process not ready: {outcome:?}\n{}",
                        process.output()
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Self::finish(s, assets, delivery_base, Some(process))
    }

    async fn prepare(
        tweak: impl FnOnce(&mut ordo_config::ServiceConfig),
    ) -> (Stack, PathBuf, ordo_config::ServiceConfig) {
        Self::prepare_on(Options::default(), tweak).await
    }

    async fn prepare_on(
        options: Options,
        tweak: impl FnOnce(&mut ordo_config::ServiceConfig),
    ) -> (Stack, PathBuf, ordo_config::ServiceConfig) {
        let trusted = options.trusted_issuers.clone();
        let s = Stack::start_with(options).await;
        let assets = std::env::temp_dir().join(format!("ordo-assets-{}", uuid::Uuid::now_v7()));
        let mut cfg = service_config("delivery", &s.shop.db, &s.shop.bus);
        cfg.delivery.storage.root = assets.to_string_lossy().into_owned();
        cfg.delivery.public_base_url = PUBLIC_BASE.into();
        cfg.auth.trusted_issuers = trusted;
        tweak(&mut cfg);
        (s, assets, cfg)
    }

    fn finish(s: Stack, assets: PathBuf, delivery_base: String, process: Option<Process>) -> DeliveryStack {
        DeliveryStack {
            s,
            delivery_base,
            assets,
            http: reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap(),
            process,
        }
    }

    /// The notification service on this stack, writing .eml files into a folder of its own (the
    /// notification tests use SMTP instead).
    pub async fn start_notification(
        &self,
        trusted: Vec<ordo_config::TrustedIssuerConfig>,
        tweak: impl FnOnce(&mut ordo_config::NotificationConfig),
    ) -> Mailbox {
        let dir = std::env::temp_dir().join(format!("ordo-mail-{}", uuid::Uuid::now_v7()));
        let mut cfg = service_config("notification", &self.s.shop.db, &self.s.shop.bus);
        cfg.auth.trusted_issuers = trusted;
        cfg.notification.transport = "file".into();
        cfg.notification.file_dir = dir.to_string_lossy().into_owned();
        cfg.notification.poll_interval_ms = 100;
        tweak(&mut cfg.notification);
        let running = ordo_notification::build(cfg).await.unwrap();
        let base = format!("http://127.0.0.1:{}", running.port());
        tokio::spawn(running.run_until_stopped());
        Mailbox { base, dir }
    }

    /// Upload `bytes` as the seeded digital variant's asset.
    pub async fn upload(&self, bytes: Vec<u8>) {
        let res = self
            .http
            .put(format!("{}/admin/assets/{ASSET_KEY}", self.delivery_base))
            .bearer_auth(&self.s.admin().token)
            .header("content-type", "application/pdf")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "upload: {}", res.status());
    }

    /// A paid order of `who` for the digital variant (and `physical` units of the physical one).
    pub async fn paid_order(&self, who: &Caller, physical: i64) -> String {
        let cat = &self.s.catalog;
        let mut items = vec![(cat.digital.as_str(), 1)];
        if physical > 0 {
            items.push((cat.physical.as_str(), physical));
        }
        let cart = self.s.shop.ready_cart(who, cat, &items).await;
        let pi = self.s.session(who, &cart).await["payment_intent_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(self.s.confirm(&pi, "pm_card_visa").await.0, 200);
        let order = self.s.complete(who, &cart).await["id"].as_str().unwrap().to_owned();
        self.s
            .wait_order(&order, |o| o["data"]["attributes"]["status"] != "pending")
            .await;
        order
    }

    pub async fn wait_status(&self, order: &str, status: &str) -> Value {
        self.s
            .wait_order(order, |o| o["data"]["attributes"]["status"] == status)
            .await
    }

    /// `GET /store/orders/{id}/download-links` as `who` → (status, body).
    pub async fn links(&self, who: &Caller, order: &str) -> (u16, Value) {
        self.s
            .shop
            .get(&format!("/store/orders/{order}/download-links"), who)
            .await
    }

    /// The first link's URL of the order, pointed at the test's delivery service; waits for the
    /// grants to exist.
    pub async fn link(&self, who: &Caller, order: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (code, body) = self.links(who, order).await;
            if code == 200 && body["data"].as_array().is_some_and(|a| !a.is_empty()) {
                let url = body["data"][0]["attributes"]["url"].as_str().unwrap();
                if url.starts_with(&format!("{}/downloads/", self.delivery_base)) {
                    return url.to_owned(); // links named with the real address
                }
                assert!(url.starts_with(&format!("{PUBLIC_BASE}/downloads/")), "{url}");
                return url.replace(PUBLIC_BASE, &self.delivery_base);
            }
            assert!(std::time::Instant::now() < deadline, "no links: {code} {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GET a download URL with an optional Range header → (status, headers, body).
    pub async fn fetch(&self, url: &str, range: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self.http.get(url);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.bytes().await.unwrap().to_vec())
    }

    pub async fn superuser(&self) -> sqlx::PgPool {
        self.s.superuser().await
    }
}

/// The JSON:API error code of a refused download.
pub fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["errors"][0]["code"].as_str().unwrap_or("").to_owned()
}

/// Deterministic test bytes.
pub fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}
