//! The payment service: turns Stripe into typed payment events. It owns the `payments` schema
//! (payments — one per cart, the mirror of its Stripe PaymentIntent —, refunds, received Stripe
//! events) and publishes `ordo.payment.v1.*` through its outbox.
//!
//! * [`sessions`] — `ordo.rpc.payment.v1.create_session` (NATS request-reply from the order
//!   service): create or update the cart's PaymentIntent, return its client secret.
//! * [`webhook`] — `POST /webhooks/stripe`: signature over the raw body ([`signature`]), event
//!   stored by id, applied by [`stripe_events`] (never backwards).
//! * [`order_events`] — consumes `order.placed`, `order.canceled` (cancel or refund) and
//!   `order.refund_requested` (refund up to what is left).
//! * [`admin`] — `GET /admin/orders/{id}/payments`: an order's payments and refunds (operators).
//! * [`reconcile`] — re-reads from Stripe what webhooks left in doubt or `processing` too long.
//! * [`state`] — the payment's states and the "never backwards" rule; [`refunds`] counts each
//!   refund once; [`events`] builds the events a change publishes.
//! * [`store`] — every SQL statement (payments, refunds, received Stripe events).
//!
//! Stripe is reached only through `ordo-stripe` (the real client; the emulator's URL locally).

pub mod admin;
pub mod events;
pub mod order_events;
pub mod reconcile;
pub mod refunds;
pub mod sessions;
pub mod signature;
pub mod state;
pub mod store;
pub mod stripe_events;
pub mod webhook;

use actix_web::{HttpResponse, web};
use ordo_config::StripeConfig;
use ordo_events::Context;
use ordo_runtime::{Platform, Running, ordo_config::ServiceConfig};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub const SERVICE: &str = "payment";
pub const DEFAULT_PORT: u16 = 8081;
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "payments";

/// What handlers, the RPC server, the consumer and the sweep share.
#[derive(Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub stripe: ordo_stripe::Stripe,
    pub stripe_config: StripeConfig,
    /// Wakes the reconciler when a webhook leaves an event in doubt.
    pub doubts: Notify,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ordo payment service",
        description = "Stripe webhooks, and operators' view of an order's payments. Payment sessions are requested over NATS (ordo.rpc.payment.v1.create_session) by the order service."
    ),
    components(schemas(ordo_http::ErrorDocument)),
    modifiers(&BEARER),
    tags(
        (name = "webhooks", description = "Stripe events"),
        (name = "payments", description = "An order's payments and refunds (operators)"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

const BEARER: ordo_http::routes::BearerAuth = ordo_http::routes::BearerAuth;

/// The service's own operations (generated from the handlers).
pub fn api() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = ApiDoc::openapi();
    doc.merge(webhook::Doc::openapi());
    doc.merge(admin::Doc::openapi());
    doc
}

/// The OpenAPI document: the webhook and the dead-letter routes every service serves.
pub fn openapi_document() -> serde_json::Value {
    let mut doc = serde_json::to_value(api()).unwrap_or_default();
    ordo_runtime::dead_letters::document_in(&mut doc);
    doc
}

/// Every route the service serves besides the operational ones and `/openapi.json`, as
/// (method, path) in OpenAPI's spelling.
pub fn routes() -> anyhow::Result<Vec<(String, String)>> {
    Ok(route_table()?.routes())
}

/// Every route of the service, paired with its documented operation.
pub fn route_table() -> anyhow::Result<ordo_http::routes::RouteTable> {
    ordo_http::routes::RouteTable::build(&api(), &[webhook::ENDPOINTS, admin::ENDPOINTS])
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
    let table = route_table()?;
    let platform = Platform::connect(config).await?;
    let cfg = platform.config.clone();
    let stripe = ordo_stripe::Stripe::new(ordo_stripe::Settings {
        base_url: cfg.stripe.api_base.clone(),
        api_key: cfg.stripe.api_key.expose().clone(),
        timeout: Duration::from_millis(cfg.stripe.timeout_ms.max(1)),
        attempts: cfg.stripe.attempts.max(1),
    })?;
    let slowest_ms = cfg
        .stripe
        .timeout_ms
        .saturating_mul(u64::from(cfg.stripe.attempts.max(1)));
    if cfg.consumer.ack_wait_secs.saturating_mul(1000) <= slowest_ms {
        anyhow::bail!(
            "consumer.ack_wait_secs ({}) must exceed a Stripe call with its retries (stripe.timeout_ms × stripe.attempts = {} ms): \
             JetStream would hand a message still being handled to another worker",
            cfg.consumer.ack_wait_secs,
            slowest_ms
        );
    }
    if cfg.stripe.webhook_secrets.is_empty() {
        tracing::warn!("no Stripe webhook secret configured: every webhook will be refused");
    }
    let state = Arc::new(AppState {
        pool: platform.pool.clone(),
        stripe,
        stripe_config: cfg.stripe.clone(),
        doubts: Notify::new(),
    });
    let mut tasks = vec![platform.spawn_relay(SCHEMA)];
    tasks.push(platform.spawn_consumer(
        "payment_order_events",
        Context::Order,
        "ordo.order.v1.>",
        SCHEMA,
        order_events::OrderEvents(state.clone()),
    ));
    let rpc_state = state.clone();
    tasks.push(
        platform.spawn_rpc(ordo_events::rpc::PAYMENT_CREATE_SESSION, move |req| {
            sessions::create_session(rpc_state.clone(), req)
        }),
    );
    tasks.push(tokio::spawn(reconcile::run(state.clone())));
    let data = web::Data::from(state);
    let running = platform.serve(move |routes| {
        routes.app_data(data.clone());
        table.register(routes);
        routes.route("/openapi.json", web::get().to(openapi));
    })?;
    Ok(tasks.into_iter().fold(running, Running::with_task))
}
