//! A shop whose notification service sends to a test SMTP server, and reading what arrived.

use ordo_testkit::peers::SmtpServer;
use ordo_testkit::service_config;
use ordo_tests::delivery_stack::DeliveryStack;
use std::time::{Duration, Instant};

pub struct Mailed {
    pub shop: DeliveryStack,
    pub smtp: SmtpServer,
    pub notification_base: String,
}

impl Mailed {
    pub async fn start() -> Mailed {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ordo_config::NotificationConfig)) -> Mailed {
        Self::start_on(SmtpServer::start().await, tweak).await
    }

    /// Sending to `smtp` (plain, unless `tweak` says otherwise).
    pub async fn start_on(smtp: SmtpServer, tweak: impl FnOnce(&mut ordo_config::NotificationConfig)) -> Mailed {
        Self::start_stack(DeliveryStack::start().await, smtp, tweak).await
    }

    /// Every service on a NATS server of the test's own with ordo's authorization.
    pub async fn start_authorized() -> Mailed {
        Self::start_stack(
            DeliveryStack::start_authorized().await,
            SmtpServer::start().await,
            |_| {},
        )
        .await
    }

    async fn start_stack(
        shop: DeliveryStack,
        smtp: SmtpServer,
        tweak: impl FnOnce(&mut ordo_config::NotificationConfig),
    ) -> Mailed {
        let mut cfg = service_config("notification", &shop.s.shop.db, &shop.s.shop.bus);
        let n = &mut cfg.notification;
        n.transport = "smtp".into();
        n.smtp.host = "127.0.0.1".into();
        n.smtp.port = smtp.port;
        n.smtp.security = "none".into();
        n.smtp.timeout_secs = 2;
        n.order_page_url = "https://shop.test/orders/{order_id}".into();
        n.backoff_initial_ms = 100;
        n.backoff_max_ms = 1000;
        n.poll_interval_ms = 100;
        tweak(n);
        let running = ordo_notification::build(cfg).await.unwrap();
        let notification_base = format!("http://127.0.0.1:{}", running.port());
        tokio::spawn(running.run_until_stopped());
        Mailed {
            shop,
            smtp,
            notification_base,
        }
    }

    /// Wait until at least `n` messages arrived; all that arrived, in order.
    pub async fn wait_mail(&self, n: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.smtp.messages();
            if got.len() >= n {
                return got.iter().map(|m| Mail::parse(m)).collect();
            }
            assert!(Instant::now() < deadline, "{} of {n} messages arrived", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One received message: headers and the decoded text and HTML parts.
#[derive(Debug, Clone)]
pub struct Mail {
    #[allow(dead_code)] // for debugging a failed assertion
    pub raw: String,
    pub subject: String,
    pub from: String,
    pub to: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
}

fn header(raw: &str, name: &str) -> String {
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    let mut value = None::<String>;
    for line in head.split("\r\n") {
        if let Some(v) = value.as_mut() {
            if line.starts_with(' ') || line.starts_with('\t') {
                v.push_str(line); // unfolding removes the line break only
                continue;
            }
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_owned());
        }
    }
    value.unwrap_or_default()
}

/// Undo quoted-printable (`=XX`, soft line breaks).
fn unquote(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The body of the part whose Content-Type starts with `ctype`, decoded.
fn part(raw: &str, ctype: &str) -> String {
    for p in raw.split("\r\n--") {
        let (head, body) = p.split_once("\r\n\r\n").unwrap_or(("", ""));
        let lower = head.to_ascii_lowercase();
        if lower.contains(&format!("content-type: {ctype}")) {
            let body = body.split("\r\n--").next().unwrap_or(body);
            if lower.contains("content-transfer-encoding: base64") {
                use base64::Engine as _;
                let joined: String = body.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .unwrap_or_default();
                return String::from_utf8_lossy(&bytes).into_owned();
            }
            if lower.contains("quoted-printable") {
                return unquote(body);
            }
            return body.to_owned();
        }
    }
    String::new()
}

/// Decode an RFC 2047 header (`=?utf-8?b?...?=` / `=?utf-8?q?...?=`), as lettre writes them:
/// the space between two encoded words is not part of the text.
fn decode_header(v: &str) -> String {
    let mut out = String::new();
    let mut prev_encoded = false;
    for word in v.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        let decoded = if lower.starts_with("=?utf-8?b?") && word.ends_with("?=") {
            use base64::Engine as _;
            let b = base64::engine::general_purpose::STANDARD
                .decode(&word[10..word.len() - 2])
                .unwrap_or_default();
            Some(String::from_utf8_lossy(&b).into_owned())
        } else if lower.starts_with("=?utf-8?q?") && word.ends_with("?=") {
            Some(unquote(&word[10..word.len() - 2].replace('_', " ")))
        } else {
            None
        };
        let joined = prev_encoded && decoded.is_some();
        if !out.is_empty() && !joined {
            out.push(' ');
        }
        prev_encoded = decoded.is_some();
        out.push_str(&decoded.unwrap_or_else(|| word.to_owned()));
    }
    out
}

impl Mail {
    pub fn parse(raw: &str) -> Mail {
        Mail {
            raw: raw.to_owned(),
            subject: decode_header(&header(raw, "Subject")),
            from: decode_header(&header(raw, "From")),
            to: header(raw, "To"),
            message_id: header(raw, "Message-ID"),
            text: part(raw, "text/plain"),
            html: part(raw, "text/html"),
        }
    }
}
