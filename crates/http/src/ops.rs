//! Operational endpoints every service serves: liveness, readiness and Prometheus metrics.

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use std::sync::OnceLock;
use std::time::Duration;

/// What readiness checks.
#[derive(Clone, Debug)]
pub struct Readiness {
    pub pool: sqlx::PgPool,
    pub nats: async_nats::Client,
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        })
        .as_ref()
}

/// `/health/live`, `/health/ready`, `/metrics`.
pub fn configure_ops(cfg: &mut web::ServiceConfig) {
    let _ = metrics_handle();
    cfg.route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics));
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn ready(r: web::Data<Readiness>) -> HttpResponse {
    let db = tokio::time::timeout(Duration::from_secs(2), sqlx::query("select 1").execute(&r.pool)).await;
    let db_ok = matches!(db, Ok(Ok(_)));
    let nats_ok = r.nats.connection_state() == async_nats::connection::State::Connected
        && matches!(
            tokio::time::timeout(Duration::from_secs(2), r.nats.flush()).await,
            Ok(Ok(()))
        );
    let body = json!({
        "status": if db_ok && nats_ok { "ok" } else { "unavailable" },
        "checks": {
            "database": if db_ok { "ok" } else { "unavailable" },
            "nats": if nats_ok { "ok" } else { "unavailable" },
        }
    });
    if db_ok && nats_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics() -> HttpResponse {
    match metrics_handle() {
        Some(h) => {
            h.run_upkeep();
            HttpResponse::Ok()
                .content_type("text/plain; version=0.0.4")
                .body(h.render())
        }
        None => HttpResponse::ServiceUnavailable().finish(),
    }
}
