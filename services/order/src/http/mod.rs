//! The HTTP adapter: extract and parse the request, call a use case of [`crate::app`], render a
//! typed document. Each resource module owns its handlers and their OpenAPI operations and lists
//! them once with [`endpoints!`]; the routes are registered from the operations' documented method
//! and path, so what is documented is what is served. A known path asked with another method
//! answers 405 with `Allow`.

pub mod carts;
pub mod catalog;
pub mod delivery;
pub mod docs;
pub mod error;
pub mod fields;
pub mod idempotency;
pub mod orders;
pub mod rate_limit;

use crate::app::Peers;
use actix_web::http::Method;
use actix_web::{HttpResponse, Route, web};
use ordo_http::ApiError;
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::BTreeMap;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};

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
        ordo_db::begin_scoped(&self.pool, &idempotency::scope_of(who))
            .await
            .map_err(ApiError::database)
    }

    pub fn idle_secs(&self) -> u64 {
        self.checkout.cart_idle_secs
    }
}

/// A handler, known by its OpenAPI operation id (the function's name).
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub operation_id: &'static str,
    /// Attach the handler to a route.
    pub attach: fn(Route) -> Route,
}

/// Lists a resource module's handlers once: generates its OpenAPI `Doc` from their
/// `#[utoipa::path]` operations and its `ENDPOINTS` for registration.
macro_rules! endpoints {
    ($($handler:ident),+ $(,)?) => {
        /// This module's operations.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($handler),+))]
        pub(crate) struct Doc;

        /// This module's handlers.
        pub(crate) const ENDPOINTS: &[crate::http::Endpoint] = &[$(crate::http::Endpoint {
            operation_id: stringify!($handler),
            attach: |route| route.to($handler),
        }),+];
    };
}
pub(crate) use endpoints;

/// The OpenAPI document of the order service (without the platform's shared routes).
pub fn api() -> utoipa::openapi::OpenApi {
    let mut doc = docs::ApiDoc::openapi();
    for part in [
        catalog::Doc::openapi(),
        carts::Doc::openapi(),
        orders::Doc::openapi(),
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

fn operations(item: &PathItem) -> [(Method, Option<&Operation>); 5] {
    [
        (Method::GET, item.get.as_ref()),
        (Method::POST, item.post.as_ref()),
        (Method::PUT, item.put.as_ref()),
        (Method::PATCH, item.patch.as_ref()),
        (Method::DELETE, item.delete.as_ref()),
    ]
}

/// Every route: path → (method, handler), from the documented operations.
#[derive(Debug, Clone)]
pub struct RouteTable(BTreeMap<String, Vec<(Method, Endpoint)>>);

impl RouteTable {
    /// Pair every documented operation with its handler; an operation without a handler or a
    /// handler without an operation is a programming error, reported at start-up.
    pub fn build() -> anyhow::Result<RouteTable> {
        let doc = api();
        let handlers: Vec<Endpoint> = [
            catalog::ENDPOINTS,
            carts::ENDPOINTS,
            orders::ENDPOINTS,
            delivery::ENDPOINTS,
        ]
        .concat();
        let mut table: BTreeMap<String, Vec<(Method, Endpoint)>> = BTreeMap::new();
        let mut used = 0;
        for (path, item) in doc.paths.paths.iter() {
            for (method, op) in operations(item) {
                let Some(op) = op else { continue };
                let id = op.operation_id.as_deref().unwrap_or_default();
                let e = handlers
                    .iter()
                    .find(|e| e.operation_id == id)
                    .ok_or_else(|| anyhow::anyhow!("{method} {path}: no handler for operation {id:?}"))?;
                used += 1;
                table.entry(path.clone()).or_default().push((method, *e));
            }
        }
        anyhow::ensure!(
            used == handlers.len(),
            "{} handlers, {used} documented operations",
            handlers.len()
        );
        Ok(RouteTable(table))
    }

    /// (method, path) of every route, e.g. `("post", "/store/carts")`.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .flat_map(|(path, ms)| ms.iter().map(|(m, _)| (m.as_str().to_ascii_lowercase(), path.clone())))
            .collect()
    }

    /// One resource per path; another method answers 405 with `Allow`.
    pub fn register(&self, cfg: &mut web::ServiceConfig) {
        for (path, methods) in &self.0 {
            let allow = methods.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ");
            let mut resource = web::resource(path.as_str());
            for (method, e) in methods {
                resource = resource.route((e.attach)(web::method(method.clone())));
            }
            cfg.service(resource.default_service(ordo_http::method_not_allowed(allow)));
        }
    }
}
