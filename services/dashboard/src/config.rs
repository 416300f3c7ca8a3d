//! The dashboard's configuration: where the services are, how operators sign in, how sessions
//! are kept. Loaded like every service's (defaults, `ORDO_CONFIG` file, `ORDO_<SECTION>__<KEY>`);
//! other services' sections in a shared file (`deploy/local/dev.toml`) are ignored.

use ordo_config::{AuthConfig, HttpConfig, Secret, ServiceConfig, TelemetryConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DashboardConfig {
    pub service: String,
    pub http: HttpConfig,
    pub telemetry: TelemetryConfig,
    /// The services' token settings: only the development sign-in reads it (its HS256 secret,
    /// issuer and audience), to mint the demo operator's token.
    pub auth: AuthConfig,
    pub dashboard: DashboardSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSection {
    /// Where browsers reach the dashboard (the OIDC redirect URI is `<public_url>/auth/callback`).
    pub public_url: String,
    pub order_url: String,
    pub payment_url: String,
    pub delivery_url: String,
    pub notification_url: String,
    pub oidc: OidcConfig,
    /// HMAC key of the session cookies, at least 32 bytes. Empty: a random key per process
    /// (sessions end when it restarts; replicas must share a configured key).
    pub session_key: Secret<String>,
    /// A session lasts at most this long, and never past the ID token's expiry.
    pub session_ttl_secs: u64,
    /// `Secure` on the cookies (browsers send them over HTTPS and to `localhost` only).
    pub cookie_secure: bool,
    /// Offer "Sign in as the demo operator" (admin of the demo tenant, a token minted with
    /// `auth.hs_secret`). Only `make run` turns it on, with the development configuration.
    pub dev_sign_in: bool,
    /// Each call to a service gives up after this long.
    pub request_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer the services trust for operators, e.g. `https://login.example.com/realms/shop`.
    /// Empty: no OpenID Connect sign-in.
    pub issuer: String,
    pub client_id: String,
    /// Sent to the token endpoint when set (confidential clients); PKCE is always used.
    pub client_secret: Secret<String>,
    pub scopes: String,
    /// Claim names in the ID token (as the services read them).
    pub tenant_claim: String,
    pub role_claim: String,
    pub email_claim: String,
}

pub const SERVICE: &str = "dashboard";
pub const DEFAULT_PORT: u16 = 8090;

impl DashboardConfig {
    pub fn defaults() -> DashboardConfig {
        let base = ServiceConfig::defaults(SERVICE, DEFAULT_PORT);
        DashboardConfig {
            service: SERVICE.into(),
            http: HttpConfig {
                body_limit_bytes: 64 * 1024,
                ..base.http
            },
            telemetry: base.telemetry,
            auth: base.auth,
            dashboard: DashboardSection {
                public_url: format!("http://127.0.0.1:{DEFAULT_PORT}"),
                order_url: "http://127.0.0.1:8080".into(),
                payment_url: "http://127.0.0.1:8081".into(),
                delivery_url: "http://127.0.0.1:8082".into(),
                notification_url: "http://127.0.0.1:8083".into(),
                oidc: OidcConfig {
                    issuer: String::new(),
                    client_id: "ordo-dashboard".into(),
                    client_secret: Secret::new(String::new()),
                    scopes: "openid email profile".into(),
                    tenant_claim: "tenant_id".into(),
                    role_claim: "role".into(),
                    email_claim: "email".into(),
                },
                session_key: Secret::new(String::new()),
                session_ttl_secs: 8 * 3600,
                cookie_secure: true,
                dev_sign_in: false,
                request_timeout_ms: 10_000,
            },
        }
    }

    /// Defaults, then `ORDO_CONFIG`, then the environment.
    pub fn load() -> anyhow::Result<DashboardConfig> {
        Ok(ordo_config::load(DashboardConfig::defaults())?)
    }
}
