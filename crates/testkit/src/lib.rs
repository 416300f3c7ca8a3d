//! Test harness for ordo: every test gets its own PostgreSQL database (bootstrapped and migrated
//! by the same code as production, roles included) and its own NATS namespace (its own streams),
//! so tests run in parallel against the real servers and leave nothing behind.
//!
//! `ORDO_TEST_ADMIN_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and
//! `ORDO_TEST_NATS_URL` (default `nats://127.0.0.1:4222`) point at the servers.
//!
//! ```no_run
//! # async fn f() {
//! let db = ordo_testkit::TestDb::create().await;
//! let bus = ordo_testkit::TestBus::create().await;
//! let config = ordo_testkit::service_config("order", &db, &bus);
//! let pool = db.pool_for("ordo_order", 5).await;
//! # }
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test harness fails loudly

pub mod peers;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ordo_bus::Bus;
use ordo_config::{PublicKeyConfig, ServiceConfig};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

pub fn admin_url() -> String {
    std::env::var("ORDO_TEST_ADMIN_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn nats_url() -> String {
    std::env::var("ORDO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A fresh database `ordo_t_<uuid>` with all roles, schemas and migrations; dropped on drop.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    admin: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        ordo_auth::install_crypto_provider();
        let name = format!("ordo_t_{}", Uuid::new_v4().simple());
        let admin = admin_url();
        ordo_migrate::bootstrap(&admin, &name)
            .await
            .expect("bootstrap test database");
        let owner =
            ordo_migrate::replace_user(&ordo_migrate::replace_database(&admin, &name), ordo_migrate::OWNER_ROLE);
        ordo_migrate::migrate(&owner).await.expect("migrate test database");
        TestDb { name, admin }
    }

    /// Connection URL of `role` on this database.
    pub fn url_for(&self, role: &str) -> String {
        ordo_migrate::replace_user(&ordo_migrate::replace_database(&self.admin, &self.name), role)
    }

    pub async fn pool_for(&self, role: &str, max: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max)
            .connect(&self.url_for(role))
            .await
            .expect("connect")
    }

    /// A superuser pool on this database, for arranging fixtures and asserting (never for the
    /// behaviour under test).
    pub async fn superuser_pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect(&ordo_migrate::replace_database(&self.admin, &self.name))
            .await
            .expect("connect as superuser")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        cleanup(async move {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin).await.ok()?;
            let drop = format!("drop database if exists {name} with (force)");
            sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut c).await.ok()
        });
    }
}

/// Run async clean-up from `Drop` (outside any runtime): a private runtime on a plain thread.
fn cleanup<F, T>(work: F)
where
    F: std::future::Future<Output = Option<T>> + Send + 'static,
{
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(work).map(|_| ())
    })
    .join();
}

/// A NATS namespace of its own (`t<hex>`): streams `T<HEX>_ORDO_*`, subjects `t<hex>.ordo.*` —
/// or, on a test's own authorizing server ([`TestBus::authenticated`]), that server as it is
/// in production (no namespace), with each service's password.
#[derive(Debug)]
pub struct TestBus {
    pub bus: Bus,
    /// The server the services connect to.
    pub url: String,
    /// Each service's password, on an authorizing server.
    pub passwords: Option<std::collections::HashMap<String, String>>,
    /// The CA to trust, on a TLS server.
    pub ca_file: String,
}

impl TestBus {
    pub async fn create() -> TestBus {
        let namespace = format!("t{}", &Uuid::new_v4().simple().to_string()[..12]);
        let client = async_nats_connect().await;
        let bus = Bus::from_client(client, &namespace);
        bus.ensure_streams().await.expect("create test streams");
        TestBus {
            bus,
            url: nats_url(),
            passwords: None,
            ca_file: String::new(),
        }
    }

    /// The bus of `server` (ordo's authorization); the test's own client is the order
    /// service's user (it may manage streams and publish order events, nothing else).
    pub async fn authenticated(server: &peers::NatsServer) -> TestBus {
        let mut cfg = ServiceConfig::defaults("order", 0).nats;
        cfg.url = server.url.clone();
        cfg.password = ordo_config::Secret::new(server.password("order"));
        cfg.ca_file = server.ca_file.clone();
        let bus = Bus::connect(&cfg, "order").await.expect("connect as ordo_order");
        bus.ensure_streams().await.expect("create streams");
        let passwords = peers::NATS_USERS
            .iter()
            .map(|s| (s.to_string(), server.password(s)))
            .collect();
        TestBus {
            bus,
            url: server.url.clone(),
            passwords: Some(passwords),
            ca_file: server.ca_file.clone(),
        }
    }

    pub fn namespace(&self) -> &str {
        self.bus.namespace()
    }
}

async fn async_nats_connect() -> ordo_bus::NatsClient {
    ordo_bus::connect_client(&nats_url(), "test")
        .await
        .expect("connect to NATS")
}

impl Drop for TestBus {
    fn drop(&mut self) {
        if self.passwords.is_some() {
            return; // the test's own server goes away with the test
        }
        let namespace = self.bus.namespace().to_owned();
        cleanup(async move {
            let client = ordo_bus::connect_client(&nats_url(), "test-cleanup").await.ok()?;
            Bus::from_client(client, &namespace).delete_streams().await.ok()
        });
    }
}

/// A service configuration pointing at the test database, bus and keys, on port 0.
pub fn service_config(service: &str, db: &TestDb, bus: &TestBus) -> ServiceConfig {
    let mut cfg = ServiceConfig::defaults(service, 0);
    cfg.database.url = ordo_config::Secret::new(db.url_for(&format!("ordo_{service}")));
    cfg.database.max_connections = 5;
    cfg.nats.url = bus.url.clone();
    cfg.nats.namespace = bus.namespace().to_owned();
    if let Some(p) = bus.passwords.as_ref().and_then(|p| p.get(service)) {
        cfg.nats.password = ordo_config::Secret::new(p.clone());
    }
    cfg.nats.ca_file = bus.ca_file.clone();
    cfg.auth = auth_config();
    cfg.outbox.poll_interval_ms = 200;
    cfg.consumer.backoff_initial_ms = 20;
    cfg.consumer.backoff_max_ms = 200;
    cfg
}

pub const ISSUER: &str = "https://auth.test.ordo/";
pub const AUDIENCE: &str = "ordo-test";

pub const RSA1_PRIVATE: &str = include_str!("../keys/rsa1.key.pem");
pub const RSA1_PUBLIC: &str = include_str!("../keys/rsa1.pub.pem");
/// Served only through a JWKS document (kid `k2`).
pub const RSA2_PRIVATE: &str = include_str!("../keys/rsa2.key.pem");
pub const RSA2_MODULUS_HEX: &str = include_str!("../keys/rsa2.modulus.hex");
pub const EC1_PRIVATE: &str = include_str!("../keys/ec1.key.pem");
pub const EC1_PUBLIC: &str = include_str!("../keys/ec1.pub.pem");

/// Auth config: RS256 key `k1` and ES256 key `e1` from PEM; allow-list RS256 and ES256.
pub fn auth_config() -> ordo_config::AuthConfig {
    let mut a = ServiceConfig::defaults("test", 0).auth;
    a.issuer = ISSUER.into();
    a.audience = AUDIENCE.into();
    a.algorithms = vec!["RS256".into(), "ES256".into()];
    a.public_keys = vec![
        PublicKeyConfig {
            kid: Some("k1".into()),
            algorithm: "RS256".into(),
            pem: RSA1_PUBLIC.into(),
        },
        PublicKeyConfig {
            kid: Some("e1".into()),
            algorithm: "ES256".into(),
            pem: EC1_PUBLIC.into(),
        },
    ];
    a
}

/// The JWKS document holding RSA key `k2`.
pub fn jwks_document() -> serde_json::Value {
    use base64::Engine as _;
    let hex = RSA2_MODULUS_HEX.trim();
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    serde_json::json!({"keys": [{"kty": "RSA", "kid": "k2", "alg": "RS256", "use": "sig",
        "n": b64.encode(n), "e": b64.encode([1u8, 0, 1])}]})
}

/// Standard valid claims for `sub` in `tenant` with `role`, expiring in an hour.
pub fn claims(sub: &str, tenant: Uuid, role: &str) -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    serde_json::json!({"sub": sub, "tenant_id": tenant.to_string(), "role": role,
        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600})
}

/// Sign `claims` with RS256 key `k1` (or another kid/key).
pub fn mint(claims: &serde_json::Value) -> String {
    mint_with(claims, Algorithm::RS256, Some("k1"), RSA1_PRIVATE)
}

pub fn mint_with(claims: &serde_json::Value, alg: Algorithm, kid: Option<&str>, private_pem: &str) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let key = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(),
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => EncodingKey::from_secret(private_pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
    };
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// A bearer token for a customer or admin of `tenant`.
pub fn token(sub: &str, tenant: Uuid, role: &str) -> String {
    mint(&claims(sub, tenant, role))
}
