//! A real browser for tests: Debian's headless Chromium driven through chromedriver's W3C
//! WebDriver protocol (plain JSON over HTTP, spoken here with reqwest — no browser-automation
//! crate). Each browser has its own chromedriver, port and profile, so tests run in parallel;
//! both are killed on drop. Screenshots go to `target/screenshots/`.

use base64::Engine as _;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`
    session: String,
    driver: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where the screenshots of a test run are kept.
pub fn screenshot_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&root).unwrap();
    root
}

impl Browser {
    /// A fresh headless Chromium, 1280×1000.
    pub async fn start() -> Browser {
        Self::start_sized(1280, 1000).await
    }

    pub async fn start_sized(width: u32, height: u32) -> Browser {
        // Installs chromium and chromium-driver when missing (with the other test peers).
        ordo_testkit::peers::ensure_test_tools();
        let port = ordo_testkit::peers::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver (apt install chromium-driver)");
        let profile = std::env::temp_dir().join(format!("ordo-chromium-{}", uuid::Uuid::now_v7()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-extensions".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let downloads = profile.join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let mut chrome = json!({"binary": "/usr/bin/chromium", "args": args, "prefs": {
            "download.default_directory": downloads.to_string_lossy(),
            "download.prompt_for_download": false,
            "safebrowsing.enabled": false,
        }});
        // Windows narrower than Chromium's smallest are a phone's screen, emulated.
        if width < 500 {
            chrome["mobileEmulation"] = json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": chrome,
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {res}"))
            .to_owned();
        Browser {
            http,
            session: format!("{base}/session/{id}"),
            driver,
            profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res: Value = req.send().await.unwrap().json().await.unwrap();
        res["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) {
        let v = self.post("/url", json!({"url": url})).await;
        assert!(v.is_null(), "navigating to {url}: {v}");
    }

    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn back(&self) {
        self.post("/back", json!({})).await;
    }

    /// The element matching `css` now, if any.
    pub async fn try_find(&self, css: &str) -> Option<String> {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT].as_str().map(str::to_owned)
    }

    /// The element matching `css`, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            if Instant::now() > deadline {
                panic!("no element {css} on {}:\n{}", self.url().await, self.text("body").await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        let v = self.post(&format!("/element/{e}/click"), json!({})).await;
        assert!(v.is_null(), "clicking {css}: {v}");
    }

    /// Replace the value of the field matching `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{e}/clear"), json!({})).await;
        let v = self.post(&format!("/element/{e}/value"), json!({"text": text})).await;
        assert!(v.is_null(), "typing into {css}: {v}");
    }

    /// Choose the option with `value` in the select matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]")).await;
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let Some(e) = self.try_find(css).await else {
            return String::new();
        };
        self.get(&format!("/element/{e}/text"))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Wait until the body's text contains `needle`.
    pub async fn wait_text(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let body = self.text("body").await;
            if body.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} never appeared on {}:\n{body}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Wait until the address satisfies `pred`; the address.
    pub async fn wait_url(&self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = self.url().await;
            if pred(&url) {
                return url;
            }
            assert!(Instant::now() < deadline, "the address stayed {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The folder files the browser downloads land in.
    pub fn downloads(&self) -> PathBuf {
        self.profile.join("downloads")
    }

    /// Wait for a finished download; its path.
    pub async fn wait_download(&self) -> PathBuf {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let done: Vec<PathBuf> = std::fs::read_dir(self.downloads())
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    !name.starts_with('.') && !name.ends_with(".crdownload") && !name.ends_with(".tmp")
                })
                .collect();
            if let Some(p) = done.into_iter().next() {
                return p;
            }
            assert!(Instant::now() < deadline, "nothing downloaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every address the current page loaded (itself, scripts, styles, images, fetches) that is
    /// not on 127.0.0.1.
    pub async fn requests_outside_loopback(&self) -> Vec<String> {
        let all = self
            .execute(
                "return [location.href].concat(performance.getEntriesByType('resource').map(function (e) { return e.name; }))",
                json!([]),
            )
            .await;
        all.as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u.as_str())
            .filter(|u| !u.starts_with("http://127.0.0.1:") && !u.starts_with("data:"))
            .map(str::to_owned)
            .collect()
    }

    /// Focus the element matching `css` and press `key` on it, as a keyboard user does (Enter on a
    /// link or button, Space on a radio or checkbox).
    pub async fn key_on(&self, css: &str, key: &str) {
        self.find(css).await;
        self.execute("document.querySelector(arguments[0]).focus()", json!([css]))
            .await;
        self.press(key).await;
    }

    /// Type `text` into the focused element.
    pub async fn type_text(&self, text: &str) {
        let mut actions = Vec::new();
        for c in text.chars() {
            let k = c.to_string();
            actions.push(json!({"type": "keyDown", "value": k}));
            actions.push(json!({"type": "keyUp", "value": k}));
        }
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
    }

    /// Whether the page is wider than the window (a horizontal scroll bar).
    pub async fn overflows(&self) -> bool {
        self.execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1",
            json!([]),
        )
        .await
            == json!(true)
    }

    /// Press a key in the focused element (`\u{E007}` Enter, `\u{E004}` Tab).
    pub async fn press(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]});
        self.post("/actions", actions).await;
    }

    /// Run `script` in the page (`return …` gives a value).
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// The browser's cookies (name, value, httpOnly, secure, sameSite…).
    pub async fn cookies(&self) -> Vec<Value> {
        self.get("/cookie").await.as_array().cloned().unwrap_or_default()
    }

    pub async fn delete_cookies(&self) {
        self.call(reqwest::Method::DELETE, "/cookie", None).await;
    }

    /// A PNG of the viewport, kept as `target/screenshots/<name>.png`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Make the window tall enough for the whole page, so a screenshot shows all of it.
    pub async fn fit_page(&self, width: u32) {
        let h = self
            .execute("return document.documentElement.scrollHeight", json!([]))
            .await
            .as_u64()
            .unwrap_or(1000)
            .clamp(600, 6000);
        self.post("/window/rect", json!({"width": width, "height": h + 120}))
            .await;
    }
}
