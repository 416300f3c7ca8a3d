//! A started front end and what every front end serves besides its pages: `/health/live`,
//! `/health/ready` (ready when serving: the front ends keep no database or broker of their own)
//! and `/metrics` (Prometheus), and static assets compiled into the binary.

use actix_web::dev::Server;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// A started web front end.
pub struct Running {
    port: u16,
    server: Server,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Running {
    pub fn new(port: u16, server: Server) -> Running {
        Running { port, server }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until stopped (SIGINT/SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn metrics() -> HttpResponse {
    match ordo_http::metrics_handle() {
        Some(h) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(h.render()),
        None => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// `/health/live`, `/health/ready`, `/metrics`.
pub fn configure_ops(cfg: &mut web::ServiceConfig) {
    let _ = ordo_http::metrics_handle();
    cfg.route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(live))
        .route("/metrics", web::get().to(metrics));
}

/// A static asset compiled into the binary (cacheable for five minutes).
pub fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "public, max-age=300"))
        .body(body)
}
