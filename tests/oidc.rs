//! A real OpenID Connect provider for tests: oidc-provider-mock (PyPI, installed with the other
//! test tools) on a port of its own, with predefined users whose claims say tenant and role, and
//! a sign-in through its authorization-code flow with PKCE, as a browser and the dashboard would.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The provider, killed on drop.
pub struct OidcProvider {
    child: Child,
    /// Its issuer (`http://127.0.0.1:<port>`), as its tokens say.
    pub issuer: String,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a sign-in returns.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// A JWT (RS256, signed with the provider's JWKS key) with the user's claims.
    pub id_token: String,
    /// Opaque.
    pub access_token: String,
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    ordo_http::form_urlencoded(pairs)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl OidcProvider {
    /// Start with these users (each a JSON object with `sub` and its claims).
    pub async fn start(users: &[serde_json::Value]) -> OidcProvider {
        ordo_auth::install_crypto_provider();
        let tool = ordo_testkit::peers::test_tool("oidc-provider-mock");
        let port = ordo_testkit::peers::free_port();
        let mut cmd = Command::new(tool);
        cmd.args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for u in users {
            cmd.args(["--user-claims", &u.to_string()]);
        }
        let provider = OidcProvider {
            child: cmd.spawn().expect("starting oidc-provider-mock"),
            issuer: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/.well-known/openid-configuration", provider.issuer);
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return provider;
            }
            assert!(Instant::now() < deadline, "oidc-provider-mock did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Give user `sub` these claims (the provider's `PUT /users/{sub}`); they appear in the ID
    /// tokens of later sign-ins.
    pub async fn set_user(&self, sub: &str, claims: serde_json::Value) {
        let res = reqwest::Client::new()
            .put(format!("{}/users/{sub}", self.issuer))
            .json(&claims)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "PUT /users/{sub}: {}", res.status());
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// Sign `sub` in for client `client_id`: the authorization request with a PKCE challenge (the
    /// provider's sign-in form posted as the user would), then the code exchanged with the
    /// verifier.
    pub async fn sign_in(&self, client_id: &str, redirect_uri: &str, sub: &str) -> Tokens {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let verifier = b64(&raw);
        let challenge = b64(&Sha256::digest(verifier.as_bytes()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let query = form(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid email"),
            ("state", "state-1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let res = http
            .post(format!("{}/oauth2/authorize?{query}", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("sub", sub)]))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status().as_u16(),
            302,
            "sign-in refused: {}",
            res.text().await.unwrap_or_default()
        );
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let url = reqwest::Url::parse(&location).unwrap();
        let code = url
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("a code in the redirect");
        let tokens: serde_json::Value = http
            .post(format!("{}/oauth2/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("client_id", client_id),
                ("client_secret", "unused"),
                ("code_verifier", &verifier),
            ]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Tokens {
            id_token: tokens["id_token"].as_str().expect("an id_token").to_owned(),
            access_token: tokens["access_token"].as_str().unwrap_or_default().to_owned(),
        }
    }
}
