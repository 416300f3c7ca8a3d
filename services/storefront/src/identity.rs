//! Guests: who a browser is to the services, without an account.
//!
//! A browser gets a guest cookie (`ordo_guest`, signed, HttpOnly, SameSite=Lax, 30 days sliding)
//! holding a random subject (`guest_<uuid>`), its open cart and a CSRF secret. For each call to
//! the order service the storefront signs a short-lived customer token for that subject (its
//! own key; `iss` = the storefront's public URL, `aud` = `ordo-storefront`, `role` = customer,
//! the shop's tenant) — the token never reaches the browser. The services trust these tokens
//! through the JWKS served at `/.well-known/jwks.json` (a `trusted_issuers` entry), so
//! row-level security gives a guest their own carts and orders only.

use crate::config::StorefrontSection;
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use ordo_web::cookies::{Expiring, Signer, now, random_token, same};

pub const GUEST_COOKIE: &str = "ordo_guest";

/// One browser's customer identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Guest {
    /// `guest_<uuid>`, or the customer an order link signed in.
    pub subject: String,
    /// The open cart, when there is one.
    pub cart: Option<Uuid>,
    /// Every form carries it.
    pub csrf: String,
    pub expires_at: i64,
}

impl Expiring for Guest {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

impl Guest {
    pub fn new(days: u64) -> Guest {
        Guest {
            subject: format!("guest_{}", Uuid::new_v4().simple()),
            cart: None,
            csrf: random_token(),
            expires_at: now() + (days * 86_400) as i64,
        }
    }
}

/// Signs the customer tokens and publishes their key.
pub struct Minter {
    key: EncodingKey,
    algorithm: Algorithm,
    kid: String,
    jwks: JwkSet,
    issuer: String,
    audience: String,
    tenant: Uuid,
    ttl_secs: u64,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// PKCS#8 DER of an Ed25519 private key: this fixed header, then the 32-byte seed.
const ED25519_PKCS8_HEADER: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl Minter {
    pub fn from_config(cfg: &StorefrontSection) -> anyhow::Result<Minter> {
        let pem = cfg.signing_key_pem.expose();
        let (key, algorithm) = if pem.trim().is_empty() {
            tracing::warn!("no storefront.signing_key_pem: a new key for this process (one replica only)");
            let mut der = ED25519_PKCS8_HEADER.to_vec();
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
            der.extend_from_slice(&seed);
            (EncodingKey::from_ed_der(&der), Algorithm::EdDSA)
        } else if let Ok(k) = EncodingKey::from_ed_pem(pem.as_bytes()) {
            (k, Algorithm::EdDSA)
        } else {
            let k = EncodingKey::from_ec_pem(pem.as_bytes())
                .map_err(|e| anyhow::anyhow!("storefront.signing_key_pem is neither Ed25519 nor P-256: {e}"))?;
            (k, Algorithm::ES256)
        };
        let mut jwk = Jwk::from_encoding_key(&key, algorithm)?;
        let public = serde_json::to_vec(&jwk.algorithm)?;
        let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&public))[..16].to_owned();
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Minter {
            key,
            algorithm,
            kid,
            jwks: JwkSet { keys: vec![jwk] },
            issuer: cfg.public_url.trim_end_matches('/').to_owned(),
            audience: cfg.token_audience.clone(),
            tenant: cfg.tenant_id,
            ttl_secs: cfg.token_ttl_secs,
        })
    }

    /// A customer token for `subject`.
    pub fn token(&self, subject: &str) -> String {
        let now = now();
        let claims = serde_json::json!({
            "iss": self.issuer, "aud": self.audience, "sub": subject,
            "tenant_id": self.tenant, "role": "customer",
            "iat": now, "exp": now + self.ttl_secs as i64,
        });
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap_or_else(|e| {
            // Only a broken key fails here, and the key was used once at start-up already.
            tracing::error!(error = %e, "customer token not signed");
            String::new()
        })
    }

    /// The public key as a JWKS document.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn section() -> StorefrontSection {
        let mut s = crate::config::StorefrontConfig::defaults().storefront;
        s.tenant_id = Uuid::now_v7();
        s.public_url = "https://shop.test/".into();
        s
    }

    async fn verify(minter: &Minter, alg: &str, token: &str) -> ordo_auth::Principal {
        let jwks = serde_json::to_value(minter.jwks()).unwrap();
        let x = jwks["keys"][0].clone();
        assert_eq!(x["kid"].as_str(), Some(minter.kid.as_str()));
        // The services' own check, with the key from the JWKS document.
        let mut auth = ordo_config::ServiceConfig::defaults("order", 0).auth;
        auth.issuer = "https://shop.test".into();
        auth.audience = "ordo-storefront".into();
        auth.algorithms = vec![alg.into()];
        let server = tiny_jwks_server(jwks.to_string()).await;
        auth.jwks_url = Some(server);
        ordo_auth::Authenticator::from_config(&auth)
            .unwrap()
            .verify(token)
            .await
            .unwrap()
    }

    async fn tiny_jwks_server(body: String) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let res = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(res.as_bytes()).await;
            }
        });
        format!("http://127.0.0.1:{port}/jwks")
    }

    #[tokio::test]
    async fn a_generated_ed25519_key_signs_tokens_the_services_accept() {
        ordo_auth::install_crypto_provider();
        let s = section();
        let minter = Minter::from_config(&s).unwrap();
        let who = verify(&minter, "EdDSA", &minter.token("guest_1")).await;
        assert_eq!(
            (who.subject.as_str(), who.tenant_id, who.role),
            ("guest_1", s.tenant_id, ordo_auth::Role::Customer)
        );
    }

    #[tokio::test]
    async fn a_configured_p256_key_signs_es256_tokens() {
        ordo_auth::install_crypto_provider();
        let mut s = section();
        s.signing_key_pem = ordo_config::Secret::new(P256_TEST_KEY.into());
        let minter = Minter::from_config(&s).unwrap();
        assert_eq!(minter.algorithm, Algorithm::ES256);
        let who = verify(&minter, "ES256", &minter.token("guest_2")).await;
        assert_eq!(who.subject, "guest_2");
    }

    /// A P-256 key for this test only.
    const P256_TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgU2Ro1XfsyrSVWiHx
yUVRarZyv5Shjh3GBNd/OLG4CkOhRANCAARgYdu1TirgLcK/LLB5MneIO5ijXxZN
/EEoaIBAP1vATuvgXRUABVswm+Wc52uIPIo3PpN1Vbb6f1BB3kuYGuSw
-----END PRIVATE KEY-----
";
}
