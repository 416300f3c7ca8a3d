//! The HTTP adapter: extract and parse the request, call a use case of [`crate::app`], render a
//! typed document. Each resource module owns its handlers and their OpenAPI operations and lists
//! them once with [`endpoints!`]; the routes are registered from the operations' documented method
//! and path, so what is documented is what is served. A known path asked with another method
//! answers 405 with `Allow`.

pub mod carts;
mod catalog_fields;
pub mod checkout;
pub mod delivery;
pub mod docs;
pub mod error;
pub mod fields;
pub mod idempotency;
pub mod orders;
pub mod products;
pub mod rate_limit;
pub mod refunds;
pub mod regions;
pub mod stats;

use crate::app::Peers;
use actix_web::HttpResponse;
use ordo_http::ApiError;
use ordo_http::routes::RouteTable;
use sqlx::{PgPool, Postgres, Transaction};
use utoipa::OpenApi;

/// What handlers share.
#[derive(Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub limiter: rate_limit::RateLimiter,
    pub checkout: ordo_config::CheckoutConfig,
    pub peers: Peers,
}

impl AppState {
    /// A transaction scoped to the caller (tenant, user, role).
    pub async fn begin(&self, who: &ordo_auth::Principal) -> Result<Transaction<'static, Postgres>, ApiError> {
        Ok(ordo_db::begin_scoped(&self.pool, &idempotency::scope_of(who)).await?)
    }

    pub fn idle_secs(&self) -> u64 {
        self.checkout.cart_idle_secs
    }
}

pub(crate) use ordo_http::endpoints;

/// The OpenAPI document of the order service (without the platform's shared routes).
pub fn api() -> utoipa::openapi::OpenApi {
    let mut doc = docs::ApiDoc::openapi();
    for part in [
        regions::Doc::openapi(),
        products::Doc::openapi(),
        carts::Doc::openapi(),
        checkout::Doc::openapi(),
        orders::Doc::openapi(),
        refunds::Doc::openapi(),
        stats::Doc::openapi(),
        delivery::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}

/// The served document: [`api`] plus the dead-letter routes every service serves.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(api()).unwrap_or_default();
    ordo_runtime::dead_letters::document_in(&mut doc);
    doc
}

/// `GET /openapi.json`
pub async fn serve_document() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// Every route of the service, paired with its documented operation.
pub fn route_table() -> anyhow::Result<RouteTable> {
    RouteTable::build(
        &api(),
        &[
            regions::ENDPOINTS,
            products::ENDPOINTS,
            carts::ENDPOINTS,
            checkout::ENDPOINTS,
            orders::ENDPOINTS,
            refunds::ENDPOINTS,
            stats::ENDPOINTS,
            delivery::ENDPOINTS,
        ],
    )
}
