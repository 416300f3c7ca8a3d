//! Sessions without a session store: the signed-in operator (their ID token, tenant, CSRF
//! secret, expiry) lives in an HMAC-signed, HttpOnly, SameSite=Lax cookie, so any replica can
//! serve any request. The sign-in in progress (state, nonce, PKCE verifier) is a second signed
//! cookie that lives ten minutes. A cookie that does not verify, or has expired, is no session.

use crate::config::DashboardSection;
use actix_web::HttpRequest;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

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

/// Signs and checks cookie values: `base64url(json).base64url(hmac_sha256(key, json))`.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
    secure: bool,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    b64().encode(raw)
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Equal without an early exit (the CSRF comparison).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Signer {
    pub fn from_config(cfg: &DashboardSection) -> anyhow::Result<Signer> {
        let configured = cfg.session_key.expose();
        let key = if configured.is_empty() {
            tracing::warn!("no dashboard.session_key: sessions end when this process restarts");
            let mut raw = vec![0u8; 32];
            rand::rng().fill_bytes(&mut raw);
            raw
        } else if configured.len() < 32 {
            anyhow::bail!("dashboard.session_key must be at least 32 bytes");
        } else {
            configured.as_bytes().to_vec()
        };
        Ok(Signer {
            key,
            secure: cfg.cookie_secure,
        })
    }

    fn mac(&self, name: &str, payload: &str) -> Vec<u8> {
        // The cookie's name is signed too: a login cookie cannot pass for a session.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return Vec::new();
        };
        mac.update(name.as_bytes());
        mac.update(b"\0");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn seal<T: Serialize>(&self, name: &str, value: &T) -> String {
        let payload = b64().encode(serde_json::to_vec(value).unwrap_or_default());
        let mac = b64().encode(self.mac(name, &payload));
        format!("{payload}.{mac}")
    }

    fn open<T: DeserializeOwned>(&self, name: &str, sealed: &str) -> Option<T> {
        let (payload, mac) = sealed.split_once('.')?;
        let mac = b64().decode(mac).ok()?;
        let Ok(mut check) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return None;
        };
        check.update(name.as_bytes());
        check.update(b"\0");
        check.update(payload.as_bytes());
        check.verify_slice(&mac).ok()?;
        serde_json::from_slice(&b64().decode(payload).ok()?).ok()
    }

    /// `Set-Cookie` for `value` under `name`, living until `expires_at` (unix seconds).
    pub fn set_cookie<T: Serialize>(&self, name: &str, value: &T, expires_at: i64) -> String {
        let max_age = (expires_at - now()).max(0);
        self.cookie_line(name, &self.seal(name, value), max_age)
    }

    /// `Set-Cookie` that removes `name`.
    pub fn clear_cookie(&self, name: &str) -> String {
        self.cookie_line(name, "", 0)
    }

    fn cookie_line(&self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
    }

    /// The verified, unexpired value of cookie `name`.
    pub fn read<T: DeserializeOwned + Expiring>(&self, req: &HttpRequest, name: &str) -> Option<T> {
        let raw = cookie(req, name)?;
        let value: T = self.open(name, raw)?;
        (value.expires_at() > now()).then_some(value)
    }
}

/// Values that carry their own expiry.
pub trait Expiring {
    fn expires_at(&self) -> i64;
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

/// The raw value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use actix_web::test::TestRequest;

    fn signer() -> Signer {
        Signer {
            key: b"k".repeat(32),
            secure: true,
        }
    }

    fn session(expires_at: i64) -> Session {
        Session {
            subject: "op".into(),
            email: "op@shop.test".into(),
            tenant_id: Uuid::now_v7(),
            token: "t".into(),
            csrf: random_token(),
            expires_at,
        }
    }

    fn with_cookie(set_cookie: &str) -> HttpRequest {
        let pair = set_cookie.split(';').next().unwrap();
        TestRequest::default()
            .insert_header(("cookie", format!("other=1; {pair}")))
            .to_http_request()
    }

    #[test]
    fn a_signed_session_reads_back_and_says_how_it_is_kept() {
        let s = signer();
        let line = s.set_cookie(SESSION_COOKIE, &session(now() + 60), now() + 60);
        assert!(line.contains("HttpOnly") && line.contains("SameSite=Lax") && line.contains("Secure"));
        let back: Session = s.read(&with_cookie(&line), SESSION_COOKIE).unwrap();
        assert_eq!(back.email, "op@shop.test");
    }

    #[test]
    fn tampered_expired_foreign_or_renamed_cookies_are_no_session() {
        let s = signer();
        let line = s.set_cookie(SESSION_COOKIE, &session(now() + 60), now() + 60);
        let value = line.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
        let (payload, mac) = value.split_once('.').unwrap();
        let mut forged: serde_json::Value = serde_json::from_slice(&b64().decode(payload).unwrap()).unwrap();
        forged["tenant_id"] = serde_json::json!(Uuid::now_v7());
        let forged = format!("{}.{mac}", b64().encode(forged.to_string()));
        let read =
            |v: &str, name: &str| -> Option<Session> { signer().read(&with_cookie(&format!("{name}={v}")), name) };
        assert!(read(&value, SESSION_COOKIE).is_some());
        assert!(read(&forged, SESSION_COOKIE).is_none(), "another tenant written in");
        assert!(read(&value, LOGIN_COOKIE).is_none(), "signed for another cookie name");
        let other = Signer {
            key: b"x".repeat(32),
            secure: true,
        };
        assert!(
            other.read::<Session>(&with_cookie(&line), SESSION_COOKIE).is_none(),
            "another key"
        );
        let old = s.set_cookie(SESSION_COOKIE, &session(now() - 1), now() + 60);
        assert!(
            s.read::<Session>(&with_cookie(&old), SESSION_COOKIE).is_none(),
            "expired"
        );
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        let t = random_token();
        assert!(same(&t, &t.clone()));
        assert!(!same(&t, &random_token()));
        assert!(!same(&t, ""));
    }
}
