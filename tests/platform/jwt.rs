//! JWT validation through HTTP: every forged, stale or incomplete token gets a JSON:API 401.

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use ordo_auth::Authenticator;
use ordo_http::{AdminOnly, Authenticated};
use ordo_testkit::{EC1_PRIVATE, RSA1_PRIVATE, RSA1_PUBLIC, RSA2_PRIVATE, claims, mint, mint_with};
use serde_json::{Value, json};
use uuid::Uuid;

async fn whoami(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({"sub": who.0.subject, "tenant": who.0.tenant_id, "role": who.0.role.as_str()}))
}

async fn admin(_who: AdminOnly) -> HttpResponse {
    HttpResponse::Ok().finish()
}

async fn jwks() -> HttpResponse {
    HttpResponse::Ok().json(ordo_testkit::jwks_document())
}

/// A JWKS server and an app using the platform's extractor; returns the app's base URL.
async fn start() -> String {
    ordo_auth::install_crypto_provider();
    let jwks_server = HttpServer::new(|| App::new().route("/.well-known/jwks.json", web::get().to(jwks)))
        .bind(("127.0.0.1", 0))
        .unwrap();
    let jwks_port = jwks_server.addrs()[0].port();
    tokio::spawn(jwks_server.run());
    let mut cfg = ordo_testkit::auth_config();
    cfg.jwks_url = Some(format!("http://127.0.0.1:{jwks_port}/.well-known/jwks.json"));
    let auth = web::Data::new(Authenticator::from_config(&cfg).unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(ordo_http::observe))
            .app_data(auth.clone())
            .route("/whoami", web::get().to(whoami))
            .route("/admin", web::get().to(admin))
    })
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    format!("http://127.0.0.1:{port}")
}

async fn call(base: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.get(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn without(c: &Value, key: &str) -> Value {
    let mut c = c.clone();
    c.as_object_mut().unwrap().remove(key);
    c
}

fn with(c: &Value, key: &str, v: Value) -> Value {
    let mut c = c.clone();
    c[key] = v;
    c
}

#[tokio::test]
async fn bad_tokens_are_refused_with_json_api_401() {
    let base = start().await;
    let tenant = Uuid::now_v7();
    let good = claims("cust-1", tenant, "customer");

    // The valid baselines work: config key (RS256, k1), config key (ES256, e1), JWKS key (k2).
    for token in [
        mint(&good),
        mint_with(&good, Algorithm::ES256, Some("e1"), EC1_PRIVATE),
        mint_with(&good, Algorithm::RS256, Some("k2"), RSA2_PRIVATE),
    ] {
        let (status, body) = call(&base, "/whoami", Some(&token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["sub"], "cust-1");
        assert_eq!(body["tenant"], tenant.to_string());
    }

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let valid = mint(&good);
    let parts: Vec<&str> = valid.split('.').collect();
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&good));
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with(&good, "role", json!("admin"))),
        parts[2]
    );
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "missing_token"),
        ("garbage", Some("not.a.jwt".into()), "invalid_token"),
        ("alg none", Some(alg_none), "invalid_token"),
        // Algorithm confusion: HS256 keyed with the RSA public key.
        (
            "HS256 with the public key",
            Some(mint_with(&good, Algorithm::HS256, Some("k1"), RSA1_PUBLIC)),
            "invalid_token",
        ),
        (
            "expired",
            Some(mint(&with(
                &with(&good, "exp", json!(now - 120)),
                "iat",
                json!(now - 3600),
            ))),
            "token_expired",
        ),
        ("missing exp", Some(mint(&without(&good, "exp"))), "invalid_token"),
        ("missing aud", Some(mint(&without(&good, "aud"))), "invalid_token"),
        ("missing iss", Some(mint(&without(&good, "iss"))), "invalid_token"),
        ("missing sub", Some(mint(&without(&good, "sub"))), "invalid_token"),
        (
            "missing tenant",
            Some(mint(&without(&good, "tenant_id"))),
            "invalid_token",
        ),
        (
            "tenant not a uuid",
            Some(mint(&with(&good, "tenant_id", json!("acme")))),
            "invalid_token",
        ),
        (
            "unknown role",
            Some(mint(&with(&good, "role", json!("root")))),
            "invalid_token",
        ),
        (
            "wrong aud",
            Some(mint(&with(&good, "aud", json!("someone-else")))),
            "invalid_token",
        ),
        (
            "wrong iss",
            Some(mint(&with(&good, "iss", json!("https://evil.example/")))),
            "invalid_token",
        ),
        ("tampered payload", Some(tampered), "invalid_token"),
        (
            "unknown kid",
            Some(mint_with(&good, Algorithm::RS256, Some("k9"), RSA1_PRIVATE)),
            "invalid_token",
        ),
        (
            "right kid, wrong key",
            Some(mint_with(&good, Algorithm::RS256, Some("k1"), RSA2_PRIVATE)),
            "invalid_token",
        ),
        (
            "algorithm not allowed",
            Some(mint_with(&good, Algorithm::RS512, Some("k1"), RSA1_PRIVATE)),
            "invalid_token",
        ),
    ];
    for (name, token, code) in cases {
        let (status, body) = call(&base, "/whoami", token.as_deref()).await;
        assert_eq!(status, 401, "{name}: {body}");
        let err = &body["errors"][0];
        assert_eq!(err["status"], "401", "{name}: {body}");
        assert_eq!(err["code"], code, "{name}: {body}");
        assert!(err["title"].is_string(), "{name}: {body}");
    }
}

#[tokio::test]
async fn admin_routes_need_the_admin_role() {
    let base = start().await;
    let tenant = Uuid::now_v7();
    let (status, body) = call(&base, "/admin", Some(&ordo_testkit::token("c", tenant, "customer"))).await;
    assert_eq!(status, 403);
    assert_eq!(body["errors"][0]["code"], "admin_only");
    let (status, _) = call(&base, "/admin", Some(&ordo_testkit::token("a", tenant, "admin"))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn shared_secret_keys_work_and_cannot_be_confused_with_public_keys() {
    let mut cfg = ordo_testkit::auth_config();
    let secret = "a-shared-secret-of-at-least-32-bytes!!";
    cfg.algorithms = vec!["HS256".into(), "RS256".into()];
    cfg.hs_secret = Some(ordo_config::Secret::new(secret.into()));
    let auth = Authenticator::from_config(&cfg).unwrap();
    let good = claims("svc", Uuid::now_v7(), "admin");
    let who = auth
        .verify(&mint_with(&good, Algorithm::HS256, None, secret))
        .await
        .unwrap();
    assert_eq!(who.role, ordo_auth::Role::Admin);
    // HS256 keyed with the RSA public key (algorithm confusion) fails even with HS256 allowed.
    let confused = mint_with(&good, Algorithm::HS256, None, RSA1_PUBLIC);
    assert!(auth.verify(&confused).await.is_err());
    let confused_kid = mint_with(&good, Algorithm::HS256, Some("k1"), RSA1_PUBLIC);
    assert!(auth.verify(&confused_kid).await.is_err());
    // A short secret is a configuration error, not a weak key.
    cfg.hs_secret = Some(ordo_config::Secret::new("short".into()));
    assert!(Authenticator::from_config(&cfg).is_err());
}

/// A verified token is remembered for its next requests; that memory never lets a token
/// through that differs from it by a byte, nor one whose time is up.
#[tokio::test]
async fn remembered_tokens_are_exact_and_expire() {
    ordo_auth::install_crypto_provider();
    let mut cfg = ordo_testkit::auth_config();
    cfg.leeway_secs = 0;
    let auth = Authenticator::from_config(&cfg).unwrap();
    let tenant = Uuid::now_v7();
    let mut c = claims("alice", tenant, "customer");
    c["exp"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() + 2);
    let good = mint_with(&c, Algorithm::ES256, Some("e1"), EC1_PRIVATE);
    assert_eq!(auth.verify(&good).await.unwrap().subject, "alice");
    assert_eq!(auth.verify(&good).await.unwrap().subject, "alice", "remembered");
    // Same header and payload, another signature: refused although the genuine one is remembered.
    let (head, sig) = good.rsplit_once('.').unwrap();
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[0] ^= 1;
    let forged = format!(
        "{head}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    assert!(auth.verify(&forged).await.is_err());
    // A payload changed to another subject, with the genuine signature: refused.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut other = c.clone();
    other["sub"] = json!("mallory");
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(other.to_string());
    assert!(auth.verify(&parts.join(".")).await.is_err());
    // Past its expiry the remembered token is checked again, and refused.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(auth.verify(&good).await.unwrap_err(), ordo_auth::AuthError::Expired);
}
