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
//!   ([`shipments`]).
//! * Links expired for a week (configurable) are deleted ([`purge`]).

pub mod assets;
pub mod downloads;
pub mod links;
pub mod order_events;
pub mod purge;
pub mod shipments;
pub mod storage;

use actix_web::{HttpResponse, web};
use ordo_bus::consumer::{Consumer, ConsumerSpec};
use ordo_config::DeliveryConfig;
use ordo_events::Context;
use ordo_runtime::{Platform, Running, ordo_config::ServiceConfig};
use sqlx::PgPool;
use std::future::Future;
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

/// Database errors at the HTTP edge: logged, opaque 500 (503 for a pool timeout).
pub(crate) fn db(e: sqlx::Error) -> ordo_http::ApiError {
    match e {
        sqlx::Error::PoolTimedOut => ordo_http::ApiError::unavailable("database_busy"),
        other => ordo_http::ApiError::internal(other),
    }
}

/// Serve an RPC subject until the connection closes, logging why it stopped.
fn serve_rpc<Req, Rep, F, Fut>(platform: &Platform, subject: &'static str, handler: F) -> tokio::task::JoinHandle<()>
where
    Req: prost::Message + Default + Send + 'static,
    Rep: prost::Message + Send + 'static,
    F: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Rep> + Send + 'static,
{
    let bus = platform.bus.clone();
    tokio::spawn(async move {
        if let Err(e) = ordo_bus::rpc::serve(bus, subject, SERVICE, handler).await {
            tracing::error!(error = %e, subject, "RPC stopped");
        }
    })
}

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
    let platform = Platform::connect(config).await?;
    let cfg = platform.config.clone();
    let state = Arc::new(AppState {
        pool: platform.pool.clone(),
        store: storage::build(&cfg.delivery.storage)?,
        config: cfg.delivery.clone(),
    });
    let mut tasks = vec![platform.spawn_relay(SCHEMA)];
    let consumer = Consumer::new(
        ConsumerSpec {
            name: "delivery_order_events".into(),
            context: Context::Order,
            filter: "ordo.order.v1.>".into(),
            schema: SCHEMA.into(),
        },
        cfg.consumer.clone(),
        platform.pool.clone(),
        platform.bus.clone(),
        order_events::OrderEvents {
            max_downloads: cfg.delivery.max_downloads,
        },
    );
    tasks.push(tokio::spawn(consumer.run()));
    let s = state.clone();
    tasks.push(serve_rpc(
        &platform,
        ordo_events::rpc::DELIVERY_DOWNLOAD_LINKS,
        move |req| links::download_links(s.clone(), req),
    ));
    let s = state.clone();
    tasks.push(serve_rpc(
        &platform,
        ordo_events::rpc::DELIVERY_CREATE_SHIPMENT,
        move |req| shipments::create(s.clone(), req),
    ));
    let s = state.clone();
    tasks.push(serve_rpc(
        &platform,
        ordo_events::rpc::DELIVERY_MARK_SHIPMENT_DELIVERED,
        move |req| shipments::mark_delivered(s.clone(), req),
    ));
    tasks.push(tokio::spawn(purge::run(
        platform.pool.clone(),
        Duration::from_secs(cfg.delivery.purge_expired_after_secs),
        Duration::from_secs(cfg.delivery.purge_interval_secs.max(1)),
    )));
    let data = web::Data::from(state);
    let running = platform.serve(move |routes| {
        routes.app_data(data.clone());
        routes.app_data(web::PayloadConfig::new(usize::MAX));
        routes.route("/downloads/{token}", web::get().to(downloads::download));
        routes.route("/admin/assets", web::get().to(assets::list));
        routes.route("/admin/assets/{key:.+}", web::put().to(assets::upload));
        routes.route("/admin/assets/{key:.+}", web::delete().to(assets::delete));
        routes.route("/openapi.json", web::get().to(openapi));
    })?;
    Ok(tasks.into_iter().fold(running, Running::with_task))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "openapi": "3.1.0",
        "info": {"title": "ordo delivery service", "version": env!("CARGO_PKG_VERSION"),
            "description": "Download links (issued through the order service) and asset administration. \
                Links and shipments are requested over NATS: ordo.rpc.delivery.v1.download_links, \
                create_shipment, mark_shipment_delivered."},
        "paths": {
            "/downloads/{token}": {"get": {"summary": "Download the file behind a link (Range supported)",
                "responses": {"200": {"description": "the file"}, "206": {"description": "the requested ranges"},
                    "403": {"description": "token_unknown | token_revoked | token_expired | download_limit_reached"},
                    "416": {"description": "range_not_satisfiable | too_many_ranges"},
                    "503": {"description": "asset_unavailable"}}}},
            "/admin/assets": {"get": {"summary": "List the tenant's assets", "security": [{"bearer": []}]}},
            "/admin/assets/{key}": {
                "put": {"summary": "Upload or replace an asset (the body is the file)", "security": [{"bearer": []}]},
                "delete": {"summary": "Delete an asset no live grant needs", "security": [{"bearer": []}]}}
        }
    }))
}
