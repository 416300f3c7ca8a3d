//! Signed cookies: a value is `base64url(json).base64url(hmac_sha256(key, name \0 json))`, so
//! state can live in the browser (a session, a guest's identity, a one-time notice) and any
//! replica can read it; a cookie that does not verify, was signed for another name, or has
//! expired reads as absent. Cookies are HttpOnly and SameSite=Lax, and Secure unless configured
//! off (plain-HTTP local development).

use actix_web::HttpRequest;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

/// The configured key is shorter than 32 bytes.
#[derive(Debug, thiserror::Error)]
#[error("{0} must be at least 32 bytes")]
pub struct KeyTooShort(pub String);

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    b64().encode(raw)
}

/// Unix seconds now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Equal without an early exit (CSRF tokens, signatures).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Signs and checks cookie values.
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

impl Signer {
    /// A signer with `key` (at least 32 bytes; empty: a random key for this process, so cookies
    /// end when it restarts and replicas cannot read each other's). `secure`: mark cookies
    /// `Secure` (sent over HTTPS and to loopback only). `setting` names the key in errors.
    pub fn new(key: &str, secure: bool, setting: &str) -> Result<Signer, KeyTooShort> {
        let key = if key.is_empty() {
            tracing::warn!("no {setting}: signed cookies end when this process restarts");
            let mut raw = vec![0u8; 32];
            rand::rng().fill_bytes(&mut raw);
            raw
        } else if key.len() < 32 {
            return Err(KeyTooShort(setting.to_owned()));
        } else {
            key.as_bytes().to_vec()
        };
        Ok(Signer { key, secure })
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

/// Values that carry their own expiry (unix seconds).
pub trait Expiring {
    fn expires_at(&self) -> i64;
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
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize)]
    struct Session {
        tenant_id: String,
        email: String,
        expires_at: i64,
    }

    impl Expiring for Session {
        fn expires_at(&self) -> i64 {
            self.expires_at
        }
    }

    const NAME: &str = "s";

    fn signer() -> Signer {
        Signer::new(&"k".repeat(32), true, "key").unwrap()
    }

    fn session(expires_at: i64) -> Session {
        Session {
            tenant_id: "t1".into(),
            email: "op@shop.test".into(),
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
    fn a_signed_value_reads_back_and_says_how_it_is_kept() {
        let s = signer();
        let line = s.set_cookie(NAME, &session(now() + 60), now() + 60);
        assert!(line.contains("HttpOnly") && line.contains("SameSite=Lax") && line.contains("Secure"));
        let back: Session = s.read(&with_cookie(&line), NAME).unwrap();
        assert_eq!(back.email, "op@shop.test");
        assert!(Signer::new("short", true, "k").is_err());
    }

    #[test]
    fn tampered_expired_foreign_or_renamed_cookies_read_as_absent() {
        let s = signer();
        let line = s.set_cookie(NAME, &session(now() + 60), now() + 60);
        let value = line.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
        let (payload, mac) = value.split_once('.').unwrap();
        let mut forged: serde_json::Value = serde_json::from_slice(&b64().decode(payload).unwrap()).unwrap();
        forged["tenant_id"] = serde_json::json!("t2");
        let forged = format!("{}.{mac}", b64().encode(forged.to_string()));
        let read =
            |v: &str, name: &str| -> Option<Session> { signer().read(&with_cookie(&format!("{name}={v}")), name) };
        assert!(read(&value, NAME).is_some());
        assert!(read(&forged, NAME).is_none(), "another tenant written in");
        assert!(read(&value, "other_name").is_none(), "signed for another cookie name");
        let other = Signer::new(&"x".repeat(32), true, "key").unwrap();
        assert!(
            other.read::<Session>(&with_cookie(&line), NAME).is_none(),
            "another key"
        );
        let old = s.set_cookie(NAME, &session(now() - 1), now() + 60);
        assert!(s.read::<Session>(&with_cookie(&old), NAME).is_none(), "expired");
    }

    #[test]
    fn tokens_compare_exactly() {
        let t = random_token();
        assert!(same(&t, &t.clone()));
        assert!(!same(&t, &random_token()));
        assert!(!same(&t, ""));
    }
}
