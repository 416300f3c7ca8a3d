//! Every service serves /health/live, /health/ready (database and NATS) and /metrics, and
//! answers unknown routes with a JSON:API 404.

use ordo_runtime::Running;
use ordo_testkit::{TestBus, TestDb, service_config};
use serde_json::Value;

async fn get(port: u16, path: &str) -> (u16, String) {
    let res = reqwest::get(format!("http://127.0.0.1:{port}{path}")).await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_four_services_serve_health_and_metrics() {
    let db = TestDb::create().await;
    let bus = TestBus::create().await;
    let mut running: Vec<(&str, Running)> = Vec::new();
    running.push((
        "order",
        ordo_order::build(service_config("order", &db, &bus)).await.unwrap(),
    ));
    running.push((
        "payment",
        ordo_payment::build(service_config("payment", &db, &bus)).await.unwrap(),
    ));
    running.push((
        "delivery",
        ordo_delivery::build(service_config("delivery", &db, &bus))
            .await
            .unwrap(),
    ));
    running.push((
        "notification",
        ordo_notification::build(service_config("notification", &db, &bus))
            .await
            .unwrap(),
    ));
    let ports: Vec<(&str, u16)> = running.iter().map(|(n, r)| (*n, r.port())).collect();
    for (name, r) in running {
        tokio::spawn(r.run_until_stopped());
        let _ = name;
    }
    for (name, port) in ports {
        let (status, body) = get(port, "/health/live").await;
        assert_eq!(status, 200, "{name} live: {body}");
        let (status, body) = get(port, "/health/ready").await;
        assert_eq!(status, 200, "{name} ready: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (v["checks"]["database"].as_str(), v["checks"]["nats"].as_str()),
            (Some("ok"), Some("ok")),
            "{name}"
        );
        let res = reqwest::get(format!("http://127.0.0.1:{port}/nope")).await.unwrap();
        assert_eq!(res.status().as_u16(), 404);
        assert_eq!(res.headers()["content-type"], "application/vnd.api+json");
        assert!(res.headers().contains_key("x-request-id"));
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["errors"][0]["code"], "not_found", "{name}");
        let (status, body) = get(port, "/metrics").await;
        assert_eq!(status, 200, "{name} metrics");
        assert!(body.contains("ordo_http_requests_total"), "{name} metrics: {body}");
    }
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_unreachable() {
    let db = TestDb::create().await;
    let bus = TestBus::create().await;
    let mut cfg = service_config("payment", &db, &bus);
    cfg.database.url = ordo_config::Secret::new("postgres://ordo_payment@127.0.0.1:1/ordo".into());
    cfg.database.acquire_timeout_ms = 300;
    let running = ordo_payment::build(cfg).await.unwrap();
    let port = running.port();
    tokio::spawn(running.run_until_stopped());
    let (status, body) = get(port, "/health/ready").await;
    assert_eq!(status, 503, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["checks"]["database"], "unavailable");
    assert_eq!(v["checks"]["nats"], "ok");
    let (status, _) = get(port, "/health/live").await;
    assert_eq!(status, 200, "liveness does not depend on the database");
}

#[tokio::test]
async fn server_errors_are_opaque_and_request_ids_echo() {
    use actix_web::{App, HttpServer, web};
    async fn boom() -> Result<String, ordo_http::ApiError> {
        Err(ordo_http::ApiError::internal(
            "secret connection string postgres://u:pw@db",
        ))
    }
    ordo_auth::install_crypto_provider();
    let server = HttpServer::new(|| {
        App::new()
            .wrap(actix_web::middleware::from_fn(ordo_http::observe))
            .route("/boom", web::get().to(boom))
    })
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    let res = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/boom"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 500);
    assert_eq!(res.headers()["x-request-id"], "req-123");
    let body = res.text().await.unwrap();
    assert!(!body.contains("postgres") && !body.contains("secret"), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errors"][0]["code"], "internal_error");
    assert!(v["errors"][0].get("detail").is_none());
}

#[tokio::test]
async fn oversized_and_malformed_bodies_get_json_api_errors() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
    }
    async fn echo(_b: web::Json<Body>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }
    ordo_auth::install_crypto_provider();
    let server = HttpServer::new(|| {
        App::new()
            .wrap(actix_web::middleware::from_fn(ordo_http::observe))
            .app_data(ordo_http::json_config(1024))
            .route("/echo", web::post().to(echo))
    })
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(format!("http://127.0.0.1:{port}/echo"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases = [
        (
            format!("{{\"email\":\"{}\"}}", "x".repeat(4096)),
            413,
            "payload_too_large",
        ),
        ("{\"email\": ".to_owned(), 400, "malformed_json"),
        ("{\"email\": 5}".to_owned(), 422, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let res = post(body).await.unwrap();
        assert_eq!(res.status().as_u16(), status);
        assert_eq!(res.headers()["content-type"], "application/vnd.api+json");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["errors"][0]["code"], code);
        assert_eq!(v["errors"][0]["status"], status.to_string());
    }
    assert_eq!(
        post("{\"email\":\"a@b.c\"}".into()).await.unwrap().status().as_u16(),
        200
    );
}

/// A transaction that loses a deadlock has been rolled back: the client is told to retry
/// (503 `database_conflict`, `Retry-After: 1`), not that the server failed.
#[tokio::test]
async fn a_lost_deadlock_is_a_503_to_retry() {
    let db = ordo_testkit::TestDb::create().await;
    let su = db.superuser_pool().await;
    sqlx::raw_sql("create table public.dl (id int primary key); insert into public.dl values (1), (2);")
        .execute(&su)
        .await
        .unwrap();
    let (mut a, mut b) = (su.begin().await.unwrap(), su.begin().await.unwrap());
    sqlx::query("update public.dl set id = id where id = 1")
        .execute(&mut *a)
        .await
        .unwrap();
    sqlx::query("update public.dl set id = id where id = 2")
        .execute(&mut *b)
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(
        sqlx::query("update public.dl set id = id where id = 2").execute(&mut *a),
        sqlx::query("update public.dl set id = id where id = 1").execute(&mut *b),
    );
    let lost = match (ra, rb) {
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => e,
        other => panic!("expected one deadlock victim: {other:?}"),
    };
    let res = actix_web::ResponseError::error_response(&ordo_http::ApiError::from(lost));
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers().get("retry-after").unwrap(), "1");
    let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["errors"][0]["code"], "database_conflict");
}

/// A request whose database connection goes away under it (PostgreSQL restarting: `terminating
/// connection due to administrator command`) rolled back and may be retried: 503 with
/// Retry-After, not 500 (the chaos run's PostgreSQL restart showed 500s). Other database errors
/// stay 500.
#[tokio::test]
async fn a_database_restart_under_a_request_is_a_503_to_retry() {
    let db = ordo_testkit::TestDb::create().await;
    let su = db.superuser_pool().await;
    let pool = db.pool_for("ordo_order", 1).await;
    let mut conn = pool.acquire().await.unwrap();
    let pid: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let killed: bool = sqlx::query_scalar("select pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&su)
        .await
        .unwrap();
    assert!(killed);
    let lost = sqlx::query("select 1").execute(&mut *conn).await.unwrap_err();
    assert!(ordo_http::connection_lost(&lost), "{lost:?}");
    let res = actix_web::ResponseError::error_response(&ordo_http::ApiError::from(lost));
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers().get("retry-after").unwrap(), "1");
    let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["errors"][0]["code"], "database_unavailable");

    let bad = sqlx::query("select 1/0").execute(&su).await.unwrap_err();
    assert!(!ordo_http::connection_lost(&bad));
    let res = actix_web::ResponseError::error_response(&ordo_http::ApiError::from(bad));
    assert_eq!(res.status().as_u16(), 500);
}
