//! The dashboard's signed cookies (see `ordo_web::cookies`): the signed-in operator (their ID
//! token, tenant, CSRF secret, expiry) and the sign-in in progress (state, nonce, PKCE verifier;
//! ten minutes). No session store: any replica serves any request.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use ordo_web::cookies::{Expiring, Signer, cookie, now, random_token, same};

pub const SESSION_COOKIE: &str = "ordo_session";
pub const LOGIN_COOKIE: &str = "ordo_sign_in";
pub const FLASH_COOKIE: &str = "ordo_flash";

/// A signed-in operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub subject: String,
    pub email: String,
    pub tenant_id: Uuid,
    /// The bearer token the services accept (the ID token, or the development token).
    pub token: String,
    /// Every form carries it; a post without it is refused.
    pub csrf: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A sign-in between the redirect to the provider and its callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// A path of the dashboard to return to.
    pub return_to: String,
    pub expires_at: i64,
}

impl Expiring for Session {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

impl Expiring for PendingSignIn {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// The signer of the dashboard's cookies, from its configuration.
pub fn signer(cfg: &crate::config::DashboardSection) -> anyhow::Result<Signer> {
    Ok(Signer::new(
        cfg.session_key.expose(),
        cfg.cookie_secure,
        "dashboard.session_key",
    )?)
}
