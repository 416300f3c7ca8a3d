//! Typed configuration for ordo services: defaults, then an optional TOML file (`ORDO_CONFIG`),
//! then environment variables `ORDO_<SECTION>__<KEY>` (e.g. `ORDO_DATABASE__URL`,
//! `ORDO_HTTP__PORT`). Secrets are wrapped in [`Secret`], which never prints its value.
//!
//! ```
//! use ordo_config::{Secret, ServiceConfig};
//! let cfg = ServiceConfig::defaults("order", 8080);
//! assert_eq!(cfg.http.port, 8080);
//! let s = Secret::new("hunter2".to_string());
//! assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
//! ```

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};
use std::fmt;

/// A value that must not appear in logs: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }
    /// The only way to read the value; grep for it in reviews.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Secret)
    }
}

/// A secret string. The environment layer reads `ORDO_NATS__PASSWORD=0012345` as the number
/// 12345 (leading zeros gone) and `1e5` as 100000: rather than pass on a password that is not the
/// one written, such a value is refused with how to write it (in double quotes).
fn strict_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret<String>, D::Error> {
    struct Strict;
    impl serde::de::Visitor<'_> for Strict {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string; a secret that looks like a number or a boolean must be written in double quotes (ORDO_X__Y='\"0123\"')")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }
    d.deserialize_any(Strict).map(Secret)
}

/// Serialises as the real value so that defaults can pass through figment; never log a
/// serialised config.
impl<T: Serialize> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub host: String,
    pub port: u16,
    /// Largest accepted request body; larger ones get 413.
    pub body_limit_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Connection URL of the service's own role (never the owner or a superuser).
    pub url: Secret<String>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    pub url: String,
    /// Prefix for stream names and subjects; empty in production, unique per test.
    pub namespace: String,
    /// Replicas of each stream: 1 on one server, 3 on a three-node JetStream cluster.
    pub stream_replicas: usize,
    /// The service's own NATS user (empty: `ordo_<service>`); used when a password is set.
    pub user: String,
    /// The user's password (from a secret; empty: connect without credentials, for a
    /// development server without authorization).
    #[serde(deserialize_with = "strict_secret")]
    pub password: Secret<String>,
    /// A PEM file of the CA that signed the server's certificate: connect with TLS only.
    pub ca_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyConfig {
    /// `kid` the key answers to; a token without `kid` may use a key without one.
    pub kid: Option<String>,
    /// Algorithm, e.g. `RS256`, `ES256`, `EdDSA`.
    pub algorithm: String,
    pub pem: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    /// Allow-list of JWT algorithms; anything else is refused before verification.
    pub algorithms: Vec<String>,
    /// Shared secret for HS256/384/512 (only if such an algorithm is allowed).
    pub hs_secret: Option<Secret<String>>,
    pub public_keys: Vec<PublicKeyConfig>,
    pub jwks_url: Option<String>,
    pub jwks_refresh_secs: u64,
    /// Name of the claim that holds the tenant id (a UUID).
    pub tenant_claim: String,
    /// Name of the claim that holds the role (`customer` or `admin`).
    pub role_claim: String,
    pub leeway_secs: u64,
    /// More issuers whose tokens are accepted, each with its own audience and keys (e.g. the
    /// operators' OpenID Connect provider beside the storefront's customer tokens). A token is
    /// checked against the issuer its `iss` names; claim names, leeway and JWKS refresh are shared.
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuerConfig>,
}

/// One more issuer a service trusts (see [`AuthConfig::trusted_issuers`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    pub issuer: String,
    pub audience: String,
    /// Allow-list of public-key algorithms for this issuer (HMAC is only for the primary one).
    pub algorithms: Vec<String>,
    #[serde(default)]
    pub public_keys: Vec<PublicKeyConfig>,
    pub jwks_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `json` (default) or `pretty` for people reading a terminal.
    pub log_format: String,
    /// `tracing` filter, e.g. `info,sqlx=warn`; `RUST_LOG` wins when set.
    pub filter: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    pub batch_size: u32,
    /// Fallback poll when no NOTIFY arrives.
    pub poll_interval_ms: u64,
    /// The least time from one relay cycle to the next: events committed meanwhile go out in
    /// one cycle (one transaction) instead of one each. Adds at most this much latency, only
    /// when events follow each other this closely.
    pub linger_ms: u64,
    /// Published rows are kept this long, so an event the broker lost can still be found and
    /// published again (see `consumer.lost_check_*`).
    pub retention_hours: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Attempts before an event is dead-lettered.
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    pub batch_size: u32,
    /// Messages handled concurrently per consumer.
    pub concurrency: u32,
    /// Up to this many messages already waiting are applied in one transaction (one commit);
    /// 1 applies each in its own.
    pub transaction_batch: u32,
    /// How long JetStream waits for an ack before delivering a message again: above the
    /// slowest handler (a Stripe call: `stripe.timeout_ms` × `stripe.attempts`).
    pub ack_wait_secs: u64,
    /// How often each consumer checks that every event its producer published reached it (its
    /// inbox or dead letters), and has the missing ones — lost by the broker — published again.
    /// 0 turns the check off.
    pub lost_check_interval_secs: u64,
    /// Only events published at least this long ago are checked (the rest may be in flight).
    pub lost_check_grace_secs: u64,
    /// At start-up the check looks this far back (at most the producer's `outbox.retention_hours`).
    pub lost_check_lookback_secs: u64,
}

/// Checkout rules (used by the order service).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutConfig {
    /// An open cart untouched this long expires.
    pub cart_idle_secs: u64,
    /// An unpaid order (pending/processing) this old is canceled and its stock released.
    pub unpaid_order_ttl_secs: u64,
    /// How often the expiry sweep runs.
    pub sweep_interval_secs: u64,
    /// Checkout requests per second per caller (token bucket refill) ...
    pub rate_per_sec: u32,
    /// ... and the bucket size (burst).
    pub rate_burst: u32,
    /// How long the order service waits for the payment service's answer to a payment session.
    pub payment_timeout_ms: u64,
    /// How long the order service waits for the delivery service's answer (download links,
    /// shipments).
    pub delivery_timeout_ms: u64,
}

/// Stripe (used by the payment service).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// `https://api.stripe.com/` in production; the emulator's URL locally and in tests.
    pub api_base: String,
    #[serde(deserialize_with = "strict_secret")]
    pub api_key: Secret<String>,
    /// Webhook signing secrets (`whsec_…`); a webhook is accepted when any `v1` signature matches
    /// any of them (two during a rotation). Empty: every webhook is refused.
    pub webhook_secrets: Vec<Secret<String>>,
    /// Largest accepted distance between the signature's timestamp and now, either way.
    pub webhook_tolerance_secs: u64,
    /// Per-attempt timeout of a Stripe call, and the attempts for a call whose connection failed.
    pub timeout_ms: u64,
    pub attempts: u32,
    /// A payment still `processing` (or an event still unprocessed) after this long is re-read
    /// from Stripe by the reconciliation sweep, which runs every `reconcile_interval_secs`.
    pub reconcile_after_secs: u64,
    pub reconcile_interval_secs: u64,
}

/// Where digital assets live (used by the delivery service).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `local` (a folder) or `s3` (any S3-compatible store).
    pub kind: String,
    /// `local`: the folder (created if missing).
    pub root: String,
    /// `s3`: bucket, region, endpoint (empty: AWS), credentials; `allow_http` for a local store.
    pub bucket: String,
    pub region: String,
    pub endpoint: String,
    #[serde(deserialize_with = "strict_secret")]
    pub access_key_id: Secret<String>,
    #[serde(deserialize_with = "strict_secret")]
    pub secret_access_key: Secret<String>,
    pub allow_http: bool,
}

/// Download links and assets (used by the delivery service).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    pub storage: StorageConfig,
    /// Links are `{public_base_url}/downloads/{token}`.
    pub public_base_url: String,
    /// A link expires this long after it was issued (by the database clock).
    pub link_ttl_secs: u64,
    /// Downloads a grant allows (a resumed download counts once).
    pub max_downloads: u32,
    /// A download run with no request for this long is over; the next request starts a new one.
    pub resume_window_secs: u64,
    /// Most byte ranges one request may ask for (more → 416).
    pub max_ranges: u32,
    /// Largest asset an operator may upload.
    pub max_asset_bytes: u64,
    /// Expired links are kept this long (answering `token_expired`), then deleted (afterwards
    /// `token_unknown`).
    pub purge_expired_after_secs: u64,
    /// How often the purge of expired links runs.
    pub purge_interval_secs: u64,
}

/// How mail leaves (used by the notification service).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// `starttls` (upgrade required), `tls` (implicit TLS, e.g. port 465) or `none` (local
    /// relays and tests only).
    pub security: String,
    /// Empty: no authentication.
    pub username: String,
    #[serde(deserialize_with = "strict_secret")]
    pub password: Secret<String>,
    /// A PEM file of certificate authorities to trust for the server's certificate (a private
    /// CA) besides the public ones; empty: the public ones only.
    pub ca_file: String,
    pub timeout_secs: u64,
}

/// Customer e-mails (used by the notification service).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// `file` (one `.eml` per message in `file_dir`) or `smtp`.
    pub transport: String,
    pub file_dir: String,
    pub smtp: SmtpConfig,
    /// For tenants without their own settings.
    pub default_store_name: String,
    pub default_sender: String,
    /// The storefront's order page; `{order_id}` and `{order_number}` are replaced.
    pub order_page_url: String,
    /// Shared with the storefront: order links in e-mails carry a signature made with it, so a
    /// guest opens their order on another device (`ordo_auth::order_link`). Empty: unsigned links.
    #[serde(default)]
    pub order_link_secret: Secret<String>,
    /// How long a signed order link works.
    #[serde(default = "order_link_days")]
    pub order_link_days: u32,
    /// Attempts before a message is given up (`notification.failed`).
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Fallback poll of the sender when no NOTIFY arrives.
    pub poll_interval_ms: u64,
}

fn order_link_days() -> u32 {
    90
}

/// The sections every service has.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub service: String,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub nats: NatsConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub outbox: OutboxConfig,
    pub consumer: ConsumerConfig,
    pub checkout: CheckoutConfig,
    pub stripe: StripeConfig,
    pub delivery: DeliveryConfig,
    pub notification: NotificationConfig,
}

impl ServiceConfig {
    /// Local-development defaults for service `name` (role `ordo_<name>`, database `ordo`).
    pub fn defaults(name: &str, port: u16) -> ServiceConfig {
        ServiceConfig {
            service: name.to_owned(),
            http: HttpConfig {
                host: "127.0.0.1".into(),
                port,
                body_limit_bytes: 256 * 1024,
            },
            database: DatabaseConfig {
                url: Secret::new(format!("postgres://ordo_{name}@127.0.0.1:5432/ordo")),
                max_connections: 10,
                min_connections: 0,
                acquire_timeout_ms: 3_000,
            },
            nats: NatsConfig {
                url: "nats://127.0.0.1:4222".into(),
                namespace: String::new(),
                stream_replicas: 1,
                user: String::new(),
                password: Secret::new(String::new()),
                ca_file: String::new(),
            },
            auth: AuthConfig {
                issuer: "https://auth.ordo.local/".into(),
                audience: "ordo".into(),
                algorithms: vec!["RS256".into(), "ES256".into(), "EdDSA".into()],
                hs_secret: None,
                public_keys: vec![],
                jwks_url: None,
                jwks_refresh_secs: 300,
                tenant_claim: "tenant_id".into(),
                role_claim: "role".into(),
                leeway_secs: 30,
                trusted_issuers: vec![],
            },
            telemetry: TelemetryConfig {
                log_format: "json".into(),
                filter: "info".into(),
            },
            outbox: OutboxConfig {
                batch_size: 256,
                poll_interval_ms: 1_000,
                linger_ms: 5,
                retention_hours: 24,
            },
            consumer: ConsumerConfig {
                // 500 ms doubling to 60 s: 16 attempts ≈ 10 minutes of retries before an event
                // is dead-lettered (a broker, database or Stripe outage of minutes heals itself).
                max_attempts: 16,
                backoff_initial_ms: 500,
                backoff_max_ms: 60_000,
                batch_size: 64,
                concurrency: 16,
                transaction_batch: 16,
                ack_wait_secs: 90,
                lost_check_interval_secs: 60,
                lost_check_grace_secs: 120,
                lost_check_lookback_secs: 3600,
            },
            checkout: CheckoutConfig {
                cart_idle_secs: 7 * 24 * 3600,
                unpaid_order_ttl_secs: 24 * 3600,
                sweep_interval_secs: 60,
                rate_per_sec: 10,
                rate_burst: 60,
                payment_timeout_ms: 15_000,
                delivery_timeout_ms: 10_000,
            },
            stripe: StripeConfig {
                api_base: "http://127.0.0.1:12111/".into(),
                api_key: Secret::new("sk_test_ordo".into()),
                webhook_secrets: vec![],
                webhook_tolerance_secs: 300,
                timeout_ms: 10_000,
                attempts: 4,
                reconcile_after_secs: 600,
                reconcile_interval_secs: 60,
            },
            delivery: DeliveryConfig {
                storage: StorageConfig {
                    kind: "local".into(),
                    root: ".run/assets".into(),
                    bucket: String::new(),
                    region: "us-east-1".into(),
                    endpoint: String::new(),
                    access_key_id: Secret::new(String::new()),
                    secret_access_key: Secret::new(String::new()),
                    allow_http: false,
                },
                public_base_url: "http://127.0.0.1:8082".into(),
                link_ttl_secs: 24 * 3600,
                max_downloads: 5,
                resume_window_secs: 3600,
                max_ranges: 8,
                max_asset_bytes: 8 << 30,
                purge_expired_after_secs: 7 * 86_400,
                purge_interval_secs: 3600,
            },
            notification: NotificationConfig {
                transport: "file".into(),
                file_dir: ".run/mail".into(),
                smtp: SmtpConfig {
                    host: "localhost".into(),
                    port: 587,
                    security: "starttls".into(),
                    username: String::new(),
                    password: Secret::new(String::new()),
                    ca_file: String::new(),
                    timeout_secs: 30,
                },
                default_store_name: "ordo shop".into(),
                default_sender: "shop@localhost".into(),
                order_page_url: "http://localhost:3000/orders/{order_id}".into(),
                order_link_secret: Secret::new(String::new()),
                order_link_days: order_link_days(),
                max_attempts: 8,
                backoff_initial_ms: 1000,
                backoff_max_ms: 300_000,
                poll_interval_ms: 1000,
            },
        }
    }
}

/// Load `T`: `defaults`, then the TOML file named by `ORDO_CONFIG` (if set), then `ORDO_*`
/// environment variables (`__` separates sections).
pub fn load<T: Serialize + DeserializeOwned>(defaults: T) -> Result<T, ConfigError> {
    load_or_file(defaults, None)
}

/// As [`load`], reading `file` when `ORDO_CONFIG` is not set (tools that default to the
/// development configuration, such as `ordo-demo`).
pub fn load_or_file<T: Serialize + DeserializeOwned>(defaults: T, file: Option<&str>) -> Result<T, ConfigError> {
    let mut fig = Figment::from(Serialized::defaults(defaults));
    if let Some(path) = std::env::var("ORDO_CONFIG").ok().or(file.map(str::to_owned)) {
        if !std::path::Path::new(&path).exists() {
            return Err(ConfigError(format!(
                "ORDO_CONFIG points to {path}, which does not exist"
            )));
        }
        fig = fig.merge(Toml::file(path));
    }
    // Only `ORDO_<SECTION>__<KEY>` belongs to the service; other `ORDO_*` variables (the
    // migrator's, the test harness's) are not configuration of this process.
    fig.merge(Env::prefixed("ORDO_").filter(|k| k.as_str().contains("__")).split("__"))
        .extract()
        .map_err(|e| ConfigError(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_do_not_print_even_inside_structs() {
        let cfg = ServiceConfig::defaults("order", 1);
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("postgres://"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn trusted_issuers_can_be_given_in_one_environment_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "ORDO_AUTH__TRUSTED_ISSUERS",
                r#"[{issuer="https://login.shop.test/", audience="ordo-dashboard", algorithms=["RS256"], jwks_url="https://login.shop.test/jwks"}]"#,
            );
            let cfg = load(ServiceConfig::defaults("order", 1)).unwrap();
            let t = &cfg.auth.trusted_issuers;
            assert_eq!(t.len(), 1);
            assert_eq!(
                (t[0].issuer.as_str(), t[0].audience.as_str()),
                ("https://login.shop.test/", "ordo-dashboard")
            );
            assert_eq!(t[0].jwks_url.as_deref(), Some("https://login.shop.test/jwks"));
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn a_secret_from_the_environment_is_taken_as_written_or_refused() {
        figment::Jail::expect_with(|jail| {
            for pw in ["pw12e45abc", "local-dev-order"] {
                jail.set_env("ORDO_NATS__PASSWORD", pw);
                let cfg = load(ServiceConfig::defaults("order", 1)).unwrap();
                assert_eq!(cfg.nats.password.expose(), pw);
            }
            // Read as a number it would lose its leading zeros: refused, saying how to write it.
            jail.set_env("ORDO_NATS__PASSWORD", "0012345");
            let e = load(ServiceConfig::defaults("order", 1)).unwrap_err().to_string();
            assert!(e.contains("double quotes"), "{e}");
            jail.set_env("ORDO_NATS__PASSWORD", "\"0012345\"");
            let cfg = load(ServiceConfig::defaults("order", 1)).unwrap();
            assert_eq!(cfg.nats.password.expose(), "0012345");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn env_and_file_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("ordo.toml", "[http]\nport = 9999\n[consumer]\nmax_attempts = 7\n")?;
            jail.set_env("ORDO_CONFIG", "ordo.toml");
            jail.set_env("ORDO_HTTP__PORT", "7000");
            jail.set_env("ORDO_DATABASE__URL", "postgres://x@y/z");
            jail.set_env("ORDO_ADMIN_DATABASE_URL", "postgres://someone-else@y/z"); // not ours
            jail.set_env("ORDO_STRIPE__WEBHOOK_SECRETS", "[whsec_a,whsec_b]");
            let cfg = load(ServiceConfig::defaults("order", 1)).unwrap();
            let secrets: Vec<&str> = cfg.stripe.webhook_secrets.iter().map(|s| s.expose().as_str()).collect();
            assert_eq!(
                secrets,
                ["whsec_a", "whsec_b"],
                "a list from one variable (make run's form)"
            );
            assert_eq!(cfg.http.port, 7000);
            assert_eq!(cfg.consumer.max_attempts, 7);
            assert_eq!(cfg.database.url.expose(), "postgres://x@y/z");
            jail.set_env("ORDO_HTTP__PORTT", "1");
            assert!(
                load(ServiceConfig::defaults("order", 1)).is_err(),
                "unknown keys are refused"
            );
            Ok(())
        });
    }
}
