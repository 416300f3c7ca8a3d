//! Operators sign in with OpenID Connect, authorization code flow with PKCE (S256), at the
//! issuer the services trust. The ID token is verified with the issuer's JWKS through
//! `ordo-auth` (the same rules the services apply: algorithm allow-list, `iss`, `aud` = our
//! client id, `exp`, tenant and role claims), its `nonce` must be the one we sent, and its role
//! must be `admin`: a customer cannot sign in here.

use crate::config::{DashboardSection, OidcConfig};
use crate::session::{PendingSignIn, Session, now, random_token};
use base64::Engine as _;
use ordo_auth::{Authenticator, Role};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// Why a sign-in did not complete (shown to the person, in words).
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the sign-in provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the sign-in provider refused: {0}")]
    Refused(String),
    #[error("this sign-in expired or was started elsewhere; please sign in again")]
    StateMismatch,
    #[error("the sign-in provider's token is not valid for the dashboard ({0})")]
    InvalidToken(String),
    #[error("this account is not an operator of a shop: only operators (role admin) can sign in here")]
    NotOperator,
}

/// The provider's endpoints, read from its discovery document.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), when the provider offers it.
    end_session_endpoint: Option<String>,
}

/// The configured provider: discovery on first use, then its verifier.
#[derive(Debug)]
pub struct Oidc {
    cfg: OidcConfig,
    redirect_uri: String,
    signed_out_uri: String,
    http: reqwest::Client,
    provider: OnceCell<(Discovery, Authenticator)>,
}

/// `url` with `query` appended (after `?`, or `&` when it has a query already).
fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn form(pairs: &[(&str, &str)]) -> String {
    ordo_http::form_urlencoded(pairs)
}

impl Oidc {
    /// `None` when no issuer is configured.
    pub fn from_config(cfg: &DashboardSection, http: reqwest::Client) -> Option<Oidc> {
        (!cfg.oidc.issuer.is_empty()).then(|| Oidc {
            cfg: cfg.oidc.clone(),
            redirect_uri: format!("{}/auth/callback", cfg.public_url.trim_end_matches('/')),
            signed_out_uri: format!("{}/sign-in", cfg.public_url.trim_end_matches('/')),
            http,
            provider: OnceCell::new(),
        })
    }

    async fn provider(&self) -> Result<&(Discovery, Authenticator), SignInError> {
        self.provider
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.cfg.issuer.trim_end_matches('/')
                );
                let d: Discovery = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| SignInError::Unreachable(e.to_string()))?
                    .json()
                    .await
                    .map_err(|e| SignInError::Unreachable(format!("discovery document: {e}")))?;
                if d.issuer.trim_end_matches('/') != self.cfg.issuer.trim_end_matches('/') {
                    return Err(SignInError::Unreachable(format!(
                        "the discovery document names issuer {}, not {}",
                        d.issuer, self.cfg.issuer
                    )));
                }
                let mut auth = ordo_config::ServiceConfig::defaults("dashboard", 0).auth;
                auth.issuer = d.issuer.clone();
                auth.audience = self.cfg.client_id.clone();
                auth.algorithms = ["RS256", "PS256", "ES256", "EdDSA"].map(String::from).to_vec();
                auth.jwks_url = Some(d.jwks_uri.clone());
                auth.tenant_claim = self.cfg.tenant_claim.clone();
                auth.role_claim = self.cfg.role_claim.clone();
                let verifier =
                    Authenticator::from_config(&auth).map_err(|e| SignInError::Unreachable(e.to_string()))?;
                Ok((d, verifier))
            })
            .await
    }

    /// Where to send the browser, and what to remember until it comes back.
    pub async fn start(&self, return_to: &str) -> Result<(String, PendingSignIn), SignInError> {
        let (d, _) = self.provider().await?;
        let pending = PendingSignIn {
            state: random_token(),
            nonce: random_token(),
            verifier: random_token(),
            return_to: return_to.to_owned(),
            expires_at: now() + 600,
        };
        let challenge = b64(&Sha256::digest(pending.verifier.as_bytes()));
        let query = form(&[
            ("response_type", "code"),
            ("client_id", &self.cfg.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.cfg.scopes),
            ("state", &pending.state),
            ("nonce", &pending.nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        Ok((with_query(&d.authorization_endpoint, &query), pending))
    }

    /// Where to send the browser after our session cookie is cleared, so that the provider's
    /// session ends too (else "sign in" would sign the next person at this computer straight back
    /// in): its `end_session_endpoint` with our `client_id` and the sign-in page as
    /// `post_logout_redirect_uri`. `None` when the provider offers no such endpoint (or one on
    /// another origin than its issuer) or cannot be reached. The ID token is not sent as
    /// `id_token_hint`: it is also the session's bearer token for the API until it expires, and
    /// URLs end up in histories and logs.
    pub async fn end_session_url(&self) -> Option<String> {
        let (d, _) = self.provider().await.ok()?;
        let end = d.end_session_endpoint.as_deref()?;
        // The page's `form-action` allows the issuer's origin only (see `content_security_policy`).
        if ordo_web::page::origin(end) != ordo_web::page::origin(&self.cfg.issuer) {
            tracing::warn!(
                end_session_endpoint = end,
                "the provider's end-session endpoint is on another origin than its issuer; signing out of the dashboard only"
            );
            return None;
        }
        let query = form(&[
            ("client_id", &self.cfg.client_id),
            ("post_logout_redirect_uri", &self.signed_out_uri),
        ]);
        Some(with_query(end, &query))
    }

    /// The provider sent the browser back with `code` and `state`: exchange, verify, decide.
    pub async fn finish(
        &self,
        pending: &PendingSignIn,
        code: &str,
        state: &str,
        ttl_secs: u64,
    ) -> Result<Session, SignInError> {
        if !crate::session::same(state, &pending.state) {
            return Err(SignInError::StateMismatch);
        }
        let (d, verifier) = self.provider().await?;
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("client_id", self.cfg.client_id.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        if !self.cfg.client_secret.expose().is_empty() {
            pairs.push(("client_secret", self.cfg.client_secret.expose().as_str()));
        }
        let res = self
            .http
            .post(&d.token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&pairs))
            .send()
            .await
            .map_err(|e| SignInError::Unreachable(e.to_string()))?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        if !status.is_success() {
            let why = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given");
            return Err(SignInError::Refused(why.to_owned()));
        }
        let id_token = body["id_token"]
            .as_str()
            .ok_or_else(|| SignInError::Refused("no ID token in the answer".into()))?;
        let who = verifier
            .verify(id_token)
            .await
            .map_err(|e| SignInError::InvalidToken(e.to_string()))?;
        let claims = verified_claims(id_token);
        if claims["nonce"]
            .as_str()
            .is_none_or(|n| !crate::session::same(n, &pending.nonce))
        {
            return Err(SignInError::InvalidToken("the nonce is not ours".into()));
        }
        if who.role != Role::Admin {
            return Err(SignInError::NotOperator);
        }
        let exp = claims["exp"].as_i64().unwrap_or(0);
        Ok(Session {
            email: claims[&self.cfg.email_claim]
                .as_str()
                .unwrap_or(&who.subject)
                .to_owned(),
            subject: who.subject,
            tenant_id: who.tenant_id,
            token: id_token.to_owned(),
            csrf: random_token(),
            expires_at: exp.min(now() + ttl_secs as i64),
        })
    }
}

/// The claims of a token whose signature was verified already.
fn verified_claims(token: &str) -> serde_json::Value {
    token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .unwrap_or_default()
}
