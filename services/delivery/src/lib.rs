//! The delivery service: turns paid orders into delivered ones. It owns the `delivery` schema
//! and publishes `ordo.delivery.v1.*`.
//!
//! * Assets live in object storage ([`storage`]); operators manage them with
//!   `PUT/GET/DELETE /admin/assets…` ([`assets`]).
//! * `order.paid` grants every digital line; a full refund or cancellation revokes the grants
//!   ([`order_events`]).
//! * Download links are issued on request over NATS ([`links`]) and served, streamed with range
//!   support and limited uses, at `GET /downloads/{token}` ([`downloads`]).
//! * Operators ship physical lines through the order service, which asks over NATS
//!   ([`shipments`]) and read them at `GET /admin/orders/{id}/shipments` ([`shipment_reads`]).
//! * Links expired for a week (configurable) are deleted ([`purge`]).

pub mod assets;
pub mod downloads;
pub mod links;
pub mod order_events;
pub mod purge;
pub mod refusal_page;
pub mod shipment_reads;
pub mod shipments;
pub mod storage;

use actix_web::{HttpResponse, web};
use ordo_config::DeliveryConfig;
use ordo_events::Context;
use ordo_runtime::{Platform, Running, ordo_config::ServiceConfig};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

pub const SERVICE: &str = "delivery";
pub const DEFAULT_PORT: u16 = 8082;
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "delivery";

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub store: storage::Store,
    pub config: DeliveryConfig,
}

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
    let table = route_table()?;
    let platform = Platform::connect(config).await?;
    let cfg = platform.config.clone();
    let state = Arc::new(AppState {
        pool: platform.pool.clone(),
        store: storage::build(&cfg.delivery.storage)?,
        config: cfg.delivery.clone(),
    });
    let mut tasks = vec![platform.spawn_relay(SCHEMA)];
    tasks.push(platform.spawn_consumer(
        "delivery_order_events",
        Context::Order,
        "ordo.order.v1.>",
        SCHEMA,
        order_events::OrderEvents {
            max_downloads: cfg.delivery.max_downloads,
        },
    ));
    let s = state.clone();
    tasks.push(
        platform.spawn_rpc(ordo_events::rpc::DELIVERY_DOWNLOAD_LINKS, move |req| {
            links::download_links(s.clone(), req)
        }),
    );
    let s = state.clone();
    tasks.push(
        platform.spawn_rpc(ordo_events::rpc::DELIVERY_CREATE_SHIPMENT, move |req| {
            shipments::create(s.clone(), req)
        }),
    );
    let s = state.clone();
    tasks.push(
        platform.spawn_rpc(ordo_events::rpc::DELIVERY_MARK_SHIPMENT_DELIVERED, move |req| {
            shipments::mark_delivered(s.clone(), req)
        }),
    );
    tasks.push(tokio::spawn(purge::run(
        platform.pool.clone(),
        Duration::from_secs(cfg.delivery.purge_expired_after_secs),
        Duration::from_secs(cfg.delivery.purge_interval_secs.max(1)),
    )));
    let data = web::Data::from(state);
    let running = platform.serve(move |routes| {
        routes.app_data(data.clone());
        routes.app_data(web::PayloadConfig::new(usize::MAX));
        table.register(routes);
        routes.route("/openapi.json", web::get().to(openapi));
    })?;
    Ok(tasks.into_iter().fold(running, Running::with_task))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ordo delivery service",
        description = "Download links and asset administration. Links are issued through the order service \
            (GET /store/orders/{id}/download-links), which asks this service over NATS \
            (ordo.rpc.delivery.v1.download_links); shipments likewise (create_shipment, mark_shipment_delivered)."
    ),
    components(schemas(ordo_http::ErrorDocument)),
    modifiers(&BEARER),
    tags(
        (name = "downloads", description = "Files behind download links (no authentication: the token is the credential)"),
        (name = "assets", description = "The tenant's files (operators)"),
        (name = "shipments", description = "Shipments of physical lines (operators)"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

const BEARER: ordo_http::routes::BearerAuth = ordo_http::routes::BearerAuth;

/// The service's own operations (generated from the handlers).
pub fn api() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = ApiDoc::openapi();
    doc.merge(downloads::Doc::openapi());
    doc.merge(assets::Doc::openapi());
    doc.merge(shipment_reads::Doc::openapi());
    doc
}

/// Every route of the service, paired with its documented operation.
pub fn route_table() -> anyhow::Result<ordo_http::routes::RouteTable> {
    ordo_http::routes::RouteTable::build(
        &api(),
        &[downloads::ENDPOINTS, assets::ENDPOINTS, shipment_reads::ENDPOINTS],
    )
}

/// Every route the service serves besides the operational ones (`/health/*`, `/metrics`) and
/// `/openapi.json`, as (method, path) in OpenAPI's spelling.
pub fn routes() -> anyhow::Result<Vec<(String, String)>> {
    Ok(route_table()?.routes())
}

/// The OpenAPI document: the service's operations and the dead-letter routes every service serves.
pub fn openapi_document() -> serde_json::Value {
    let mut doc = serde_json::to_value(api()).unwrap_or_default();
    ordo_runtime::dead_letters::document_in(&mut doc);
    doc
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

/// The RPC error code of a failure the caller may retry (`unavailable`: the database went away
/// under the request, which rolled back) or not (`internal`).
pub(crate) fn failure_code(e: &anyhow::Error) -> &'static str {
    if e.downcast_ref::<sqlx::Error>().is_some_and(ordo_http::connection_lost) {
        "unavailable"
    } else {
        "internal"
    }
}
