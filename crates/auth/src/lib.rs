//! JWT bearer-token validation for ordo.
//!
//! A token is accepted only if: its header parses and names an algorithm on the configured
//! allow-list (so `alg: none` and algorithm-confusion tokens fail before any key is touched);
//! a key matching its `kid` (from config, or from the JWKS URL, refreshed on an unknown `kid`)
//! verifies the signature; `exp`, `iss`, `aud` and `sub` are present and valid; the tenant claim
//! is a UUID and the role claim is `customer` or `admin`.
//!
//! ```no_run
//! # async fn f(token: &str) -> Result<(), ordo_auth::AuthError> {
//! let cfg = ordo_config::ServiceConfig::defaults("order", 8080).auth;
//! let auth = ordo_auth::Authenticator::from_config(&cfg)?;
//! let who = auth.verify(token).await?;
//! println!("{} acts as {:?} in tenant {}", who.subject, who.role, who.tenant_id);
//! # Ok(()) }
//! ```

pub mod order_link;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use ordo_config::AuthConfig;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;
use uuid::Uuid;

/// Install ring as the process-wide rustls provider. Call first thing in every `main` and test
/// helper: with two providers compiled in, rustls would otherwise panic on first use.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }
}

/// Who is calling, after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub tenant_id: Uuid,
    pub role: Role,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token")]
    MissingToken,
    #[error("the token is malformed")]
    Malformed,
    #[error("algorithm {0} is not allowed")]
    AlgorithmNotAllowed(String),
    #[error("no key for this token")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the {0} claim is invalid")]
    BadClaim(String),
    #[error("auth configuration: {0}")]
    Config(String),
}

impl AuthError {
    /// Stable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::Expired => "token_expired",
            AuthError::Config(_) => "auth_unavailable",
            _ => "invalid_token",
        }
    }
}

#[derive(Clone)]
struct KeyEntry {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key: DecodingKey,
}

struct JwksState {
    keys: Vec<KeyEntry>,
    fetched: Option<Instant>,
}

/// Validates tokens: the configured issuer's and those of `trusted_issuers`. Cheap to clone.
///
/// A token that verified is remembered (by its exact text) until it expires, for at most
/// [`REMEMBER_SECS`]: a customer's checkout sends one token with each of its requests, and a
/// signature check (ES256: ~0.3 ms) is the largest CPU cost of a small request. A key withdrawn
/// from a JWKS therefore stops tokens already seen within that time, not at once.
#[derive(Clone, Debug)]
pub struct Authenticator {
    /// The primary issuer first.
    issuers: Arc<Vec<IssuerKeys>>,
    verified: Arc<std::sync::Mutex<HashMap<String, (Principal, i64)>>>,
}

/// The longest a verified token is remembered.
pub const REMEMBER_SECS: i64 = 60;
/// The most tokens remembered; when full, the memory starts over.
const REMEMBER_MAX: usize = 10_000;

/// Until when (unix seconds) a token verified at `now` that expires at `exp` may be remembered.
fn remember_until(exp: Option<i64>, now: i64) -> i64 {
    exp.unwrap_or(now).min(now + REMEMBER_SECS)
}

/// One issuer: its audience, algorithms and keys.
#[derive(Clone)]
struct IssuerKeys {
    cfg: Arc<AuthConfig>,
    allowed: Arc<Vec<Algorithm>>,
    static_keys: Arc<Vec<KeyEntry>>,
    jwks: Arc<RwLock<JwksState>>,
    http: Option<reqwest::Client>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.cfg.issuer)
            .field("audience", &self.cfg.audience)
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

fn is_hmac(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

impl Authenticator {
    pub fn from_config(cfg: &AuthConfig) -> Result<Authenticator, AuthError> {
        let mut issuers = vec![IssuerKeys::from_config(cfg)?];
        for t in &cfg.trusted_issuers {
            if t.algorithms.iter().any(|a| a.starts_with("HS")) {
                return Err(AuthError::Config(format!(
                    "trusted issuer {}: only public-key algorithms (a shared secret is for the primary issuer)",
                    t.issuer
                )));
            }
            if issuers.iter().any(|i| i.cfg.issuer == t.issuer) {
                return Err(AuthError::Config(format!("issuer {} is configured twice", t.issuer)));
            }
            let one = AuthConfig {
                issuer: t.issuer.clone(),
                audience: t.audience.clone(),
                algorithms: t.algorithms.clone(),
                hs_secret: None,
                public_keys: t.public_keys.clone(),
                jwks_url: t.jwks_url.clone(),
                trusted_issuers: vec![],
                ..cfg.clone()
            };
            issuers.push(IssuerKeys::from_config(&one)?);
        }
        Ok(Authenticator {
            issuers: Arc::new(issuers),
            verified: Arc::default(),
        })
    }

    /// Validate a bearer token (without the `Bearer ` prefix) with the keys of the issuer its
    /// `iss` names (the primary issuer's when it names none we trust, which then refuses it).
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        if let Some((p, until)) = self.verified.lock().ok().and_then(|m| m.get(token).cloned())
            && now < until
        {
            return Ok(p);
        }
        // Read before any verification only to pick whose keys check the token.
        let claimed = unverified_claims(token);
        let issuer = self
            .issuers
            .iter()
            .find(|i| claimed.as_ref().and_then(|c| c.iss.as_deref()) == Some(i.cfg.issuer.as_str()))
            .unwrap_or(&self.issuers[0]);
        let principal = issuer.verify(token).await?;
        // The signature is good, so the payload's `exp` can be taken as it stands.
        let until = remember_until(claimed.and_then(|c| c.exp), now);
        if until > now
            && let Ok(mut m) = self.verified.lock()
        {
            if m.len() >= REMEMBER_MAX {
                m.clear();
            }
            m.insert(token.to_owned(), (principal.clone(), until));
        }
        Ok(principal)
    }
}

#[derive(serde::Deserialize)]
struct UnverifiedClaims {
    iss: Option<String>,
    exp: Option<i64>,
}

fn unverified_claims(token: &str) -> Option<UnverifiedClaims> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&raw).ok()
}

impl IssuerKeys {
    fn from_config(cfg: &AuthConfig) -> Result<IssuerKeys, AuthError> {
        let allowed = cfg
            .algorithms
            .iter()
            .map(|a| Algorithm::from_str(a).map_err(|_| AuthError::Config(format!("unknown algorithm {a}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if allowed.is_empty() {
            return Err(AuthError::Config("no algorithm allowed".into()));
        }
        let mut keys = Vec::new();
        if let Some(secret) = &cfg.hs_secret {
            if secret.expose().len() < 32 {
                return Err(AuthError::Config("hs_secret must be at least 32 bytes".into()));
            }
            keys.push(KeyEntry {
                kid: None,
                alg: None,
                key: DecodingKey::from_secret(secret.expose().as_bytes()),
            });
        }
        for k in &cfg.public_keys {
            let alg = Algorithm::from_str(&k.algorithm)
                .map_err(|_| AuthError::Config(format!("unknown algorithm {}", k.algorithm)))?;
            let pem = k.pem.as_bytes();
            let key = match alg {
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem),
                Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
                Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
                _ => {
                    return Err(AuthError::Config(format!(
                        "{} is not a public-key algorithm",
                        k.algorithm
                    )));
                }
            }
            .map_err(|e| AuthError::Config(format!("public key {:?}: {e}", k.kid)))?;
            keys.push(KeyEntry {
                kid: k.kid.clone(),
                alg: Some(alg),
                key,
            });
        }
        let http = match &cfg.jwks_url {
            Some(_) => Some(
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .map_err(|e| AuthError::Config(format!("http client: {e}")))?,
            ),
            None => None,
        };
        if keys.is_empty() && http.is_none() {
            tracing::warn!("no JWT keys configured: every token will be refused");
        }
        Ok(IssuerKeys {
            cfg: Arc::new(cfg.clone()),
            allowed: Arc::new(allowed),
            static_keys: Arc::new(keys),
            jwks: Arc::new(RwLock::new(JwksState {
                keys: Vec::new(),
                fetched: None,
            })),
            http,
        })
    }

    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !self.allowed.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAllowed(format!("{:?}", header.alg)));
        }
        let kid = header.kid.as_deref();
        let mut candidates = self.candidates(kid, header.alg, &self.static_keys);
        if candidates.is_empty() && !is_hmac(header.alg) {
            candidates = self.jwks_candidates(kid, header.alg).await?;
        }
        if candidates.is_empty() {
            return Err(AuthError::UnknownKey);
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[self.cfg.issuer.as_str()]);
        validation.set_audience(&[self.cfg.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.cfg.leeway_secs;
        validation.validate_nbf = true;
        let mut last = AuthError::UnknownKey;
        for key in candidates {
            match decode::<serde_json::Map<String, serde_json::Value>>(token, &key.key, &validation) {
                Ok(data) => return self.principal(&data.claims),
                Err(e) => last = map_jwt_error(&e),
            }
        }
        Err(last)
    }

    fn candidates(&self, kid: Option<&str>, alg: Algorithm, keys: &[KeyEntry]) -> Vec<KeyEntry> {
        keys.iter()
            .filter(|k| k.alg.is_none_or(|a| a == alg))
            .filter(|k| {
                if is_hmac(alg) {
                    k.alg.is_none() && self.cfg.hs_secret.is_some()
                } else {
                    k.alg.is_some()
                }
            })
            .filter(|k| match (kid, &k.kid) {
                (Some(want), Some(have)) => want == have,
                (Some(_), None) => false,
                (None, _) => true,
            })
            .cloned()
            .collect()
    }

    async fn jwks_candidates(&self, kid: Option<&str>, alg: Algorithm) -> Result<Vec<KeyEntry>, AuthError> {
        let (Some(url), Some(http)) = (&self.cfg.jwks_url, &self.http) else {
            return Ok(vec![]);
        };
        {
            let state = self.jwks.read().await;
            let fresh = state
                .fetched
                .is_some_and(|t| t.elapsed() < Duration::from_secs(self.cfg.jwks_refresh_secs));
            let found = self.candidates(kid, alg, &state.keys);
            // Refetch on an unknown kid, but at most every 10 s (no amplification by bad tokens).
            let recently = state.fetched.is_some_and(|t| t.elapsed() < Duration::from_secs(10));
            if !found.is_empty() && fresh || found.is_empty() && recently {
                return Ok(found);
            }
        }
        let mut state = self.jwks.write().await;
        let fetched = async {
            let body = http.get(url).send().await?.error_for_status()?.text().await?;
            Ok::<_, reqwest::Error>(body)
        }
        .await;
        state.fetched = Some(Instant::now());
        match fetched.map(|b| serde_json::from_str::<JwkSet>(&b)) {
            Ok(Ok(set)) => {
                state.keys = set
                    .keys
                    .iter()
                    .filter_map(|jwk| {
                        let key = DecodingKey::from_jwk(jwk).ok()?;
                        let alg = jwk
                            .common
                            .key_algorithm
                            .and_then(|a| Algorithm::from_str(&a.to_string()).ok());
                        Some(KeyEntry {
                            kid: jwk.common.key_id.clone(),
                            alg: alg.or(Some(alg_family_default(jwk))),
                            key,
                        })
                    })
                    .collect();
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "JWKS document does not parse"),
            Err(e) => tracing::warn!(error = %e, "JWKS fetch failed"),
        }
        Ok(self.candidates(kid, alg, &state.keys))
    }

    fn principal(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Result<Principal, AuthError> {
        let get = |name: &str| -> Result<&str, AuthError> {
            match claims.get(name) {
                None | Some(serde_json::Value::Null) => Err(AuthError::MissingClaim(name.to_owned())),
                Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
                Some(_) => Err(AuthError::BadClaim(name.to_owned())),
            }
        };
        let subject = get("sub")?.to_owned();
        let tenant = get(&self.cfg.tenant_claim)?;
        let tenant_id = Uuid::parse_str(tenant).map_err(|_| AuthError::BadClaim(self.cfg.tenant_claim.clone()))?;
        let role = match get(&self.cfg.role_claim)? {
            "customer" => Role::Customer,
            "admin" => Role::Admin,
            _ => return Err(AuthError::BadClaim(self.cfg.role_claim.clone())),
        };
        Ok(Principal {
            subject,
            tenant_id,
            role,
        })
    }
}

/// A JWK without `alg`: assume the usual algorithm of its key type.
fn alg_family_default(jwk: &jsonwebtoken::jwk::Jwk) -> Algorithm {
    use jsonwebtoken::jwk::AlgorithmParameters as P;
    match &jwk.algorithm {
        P::EllipticCurve(_) => Algorithm::ES256,
        P::OctetKeyPair(_) => Algorithm::EdDSA,
        _ => Algorithm::RS256,
    }
}

fn map_jwt_error(e: &jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => AuthError::Expired,
        K::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
        K::InvalidIssuer => AuthError::BadClaim("iss".into()),
        K::InvalidAudience => AuthError::BadClaim("aud".into()),
        K::InvalidSignature => AuthError::Invalid("signature".into()),
        K::ImmatureSignature => AuthError::Invalid("not yet valid".into()),
        K::InvalidAlgorithm => AuthError::Invalid("algorithm does not match the key".into()),
        _ => AuthError::Invalid("unreadable".into()),
    }
}
