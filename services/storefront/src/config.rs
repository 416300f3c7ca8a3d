//! The storefront's configuration: which shop (tenant) it sells for, where the order service is,
//! Stripe's publishable key and Stripe.js, the key it signs its customers' tokens with, and its
//! cookies. Loaded like every service's (defaults, `ORDO_CONFIG` file, `ORDO_<SECTION>__<KEY>`);
//! other sections of a shared file are ignored.

use ordo_config::{HttpConfig, Secret, ServiceConfig, TelemetryConfig};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorefrontConfig {
    pub service: String,
    pub http: HttpConfig,
    pub telemetry: TelemetryConfig,
    pub storefront: StorefrontSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorefrontSection {
    /// Where customers reach the shop; also the issuer of its customer tokens (the services trust
    /// `<public_url>/.well-known/jwks.json`) and the base of Stripe's return URL.
    pub public_url: String,
    /// The shop: the tenant whose catalog this storefront sells.
    pub tenant_id: Uuid,
    /// The region carts are created in; nil: the first region the shop lists.
    pub region_id: Uuid,
    pub shop_name: String,
    pub order_url: String,
    /// The `aud` of the customer tokens (the services' trusted issuer entry names it).
    pub token_audience: String,
    /// A customer token lives this long (one is made per call; it never reaches the browser).
    pub token_ttl_secs: u64,
    /// PEM private key (Ed25519 or P-256) the customer tokens are signed with. Empty: a new
    /// Ed25519 key per process (a single replica; the services fetch the JWKS again for an
    /// unknown key id, at most every 10 s).
    pub signing_key_pem: Secret<String>,
    /// HMAC key of the cookies (at least 32 bytes); empty: random per process.
    pub cookie_key: Secret<String>,
    pub cookie_secure: bool,
    /// A guest stays the same customer this long on one browser.
    pub guest_days: u64,
    /// Stripe's publishable key (`pk_live_…`/`pk_test_…`; the emulator's is `pk_test_ordo`).
    pub stripe_publishable_key: String,
    /// Where Stripe.js comes from: `https://js.stripe.com/v3/` in production, the emulator's
    /// `/v3/` locally and in tests.
    pub stripe_js_url: String,
    /// Where Stripe.js sends its requests (for the Content-Security-Policy):
    /// `https://api.stripe.com` in production, the emulator's origin locally.
    pub stripe_api_origin: String,
    /// Secret shared with the notification service: the order links in e-mails carry a signature
    /// made with it, so a guest opens their order on another device. Empty: such links are refused.
    pub order_link_secret: Secret<String>,
    pub request_timeout_ms: u64,
}

pub const SERVICE: &str = "storefront";
pub const DEFAULT_PORT: u16 = 3000;

impl StorefrontConfig {
    pub fn defaults() -> StorefrontConfig {
        let base = ServiceConfig::defaults(SERVICE, DEFAULT_PORT);
        StorefrontConfig {
            service: SERVICE.into(),
            http: HttpConfig {
                body_limit_bytes: 64 * 1024,
                ..base.http
            },
            telemetry: base.telemetry,
            storefront: StorefrontSection {
                public_url: format!("http://127.0.0.1:{DEFAULT_PORT}"),
                tenant_id: Uuid::nil(),
                region_id: Uuid::nil(),
                shop_name: "ordo shop".into(),
                order_url: "http://127.0.0.1:8080".into(),
                token_audience: "ordo-storefront".into(),
                token_ttl_secs: 300,
                signing_key_pem: Secret::new(String::new()),
                cookie_key: Secret::new(String::new()),
                cookie_secure: true,
                guest_days: 30,
                stripe_publishable_key: "pk_test_ordo".into(),
                stripe_js_url: "https://js.stripe.com/v3/".into(),
                stripe_api_origin: "https://api.stripe.com".into(),
                order_link_secret: Secret::new(String::new()),
                request_timeout_ms: 15_000,
            },
        }
    }

    pub fn load() -> anyhow::Result<StorefrontConfig> {
        Ok(ordo_config::load(StorefrontConfig::defaults())?)
    }
}
