//! The order service — the gateway storefronts and operators call. It owns the `orders` schema
//! (catalog, regions, carts, orders, lines, state history, idempotency keys) and publishes
//! `ordo.order.v1.*` through its outbox; it consumes payment and delivery events to move orders
//! through the state machine (see `ordo-domain`).
//!
//! Three layers ([`http`] → [`app`] → [`store`]) and the event [`consumer`]:
//! * [`http`] — extract and parse the request, call a use case, render a typed document; each
//!   resource module owns its routes and their OpenAPI operations.
//! * [`app`] — the use cases on a scoped transaction, with the rules from `ordo-domain`; the
//!   HTTP handlers and the consumer call the same ones.
//! * [`store`] — every SQL statement, rows as `FromRow` structs.
//!
//! HTTP surface (JSON:API; every unsafe request takes an `Idempotency-Key`):
//! * catalog — `/admin/regions`, `/admin/shipping-options`, `/admin/products`,
//!   `/admin/variants/{id}`; `/store/regions`, `/store/products`
//! * carts and checkout — `/store/carts[/{id}[/line-items[/{line}]|/shipping-options|/shipping-method|/payment-session|/complete]]`
//! * orders — `/store/orders[/{id}[/cancel]]`, `/admin/orders[/{id}[/cancel|/refunds]]`, `/admin/stats`
//! * `/openapi.json` — the OpenAPI document generated from these handlers ([`http::document`])
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let cfg = ordo_runtime::ordo_config::ServiceConfig::defaults(ordo_order::SERVICE, 0);
//! let running = ordo_order::build(cfg).await?;
//! println!("listening on {}", running.port());
//! # Ok(()) }
//! ```

pub mod app;
pub mod consumer;
pub mod http;
pub mod store;
pub mod sweeper;

use actix_web::web;
use ordo_events::Context;
use ordo_runtime::{Platform, Running, ordo_config::ServiceConfig};
use std::sync::Arc;
use std::time::Duration;

pub const SERVICE: &str = "order";
pub const DEFAULT_PORT: u16 = 8080;
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "orders";

/// Every route of the service as (method, path pattern), e.g. `("post", "/store/carts")`: the
/// documented operations, each served by its handler.
pub fn routes() -> anyhow::Result<Vec<(String, String)>> {
    Ok(http::route_table()?.routes())
}

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
    let table = http::route_table()?;
    let platform = Platform::connect(config).await?;
    let cfg = platform.config.clone();
    let relay = platform.spawn_relay(SCHEMA);
    let mut tasks = vec![relay];
    for (name, context, filter) in [
        ("order_payment_events", Context::Payment, "ordo.payment.v1.>"),
        ("order_delivery_events", Context::Delivery, "ordo.delivery.v1.>"),
    ] {
        let handler = consumer::PaymentAndDeliveryEvents {
            cart_idle_secs: cfg.checkout.cart_idle_secs,
        };
        tasks.push(platform.spawn_consumer(name, context, filter, SCHEMA, handler));
    }
    tasks.push(tokio::spawn(sweeper::run(
        platform.pool.clone(),
        cfg.checkout.unpaid_order_ttl_secs,
        Duration::from_secs(cfg.checkout.sweep_interval_secs.max(1)),
    )));
    let state = web::Data::from(Arc::new(http::AppState {
        pool: platform.pool.clone(),
        limiter: http::rate_limit::RateLimiter::new(cfg.checkout.rate_per_sec, cfg.checkout.rate_burst),
        checkout: cfg.checkout.clone(),
        peers: app::Peers {
            bus: platform.bus.clone(),
            payment_timeout: Duration::from_millis(cfg.checkout.payment_timeout_ms.max(1)),
            delivery_timeout: Duration::from_millis(cfg.checkout.delivery_timeout_ms.max(1)),
        },
    }));
    let running = platform.serve(move |routes| {
        routes.app_data(state.clone());
        routes.route("/openapi.json", web::get().to(http::serve_document));
        table.register(routes);
    })?;
    Ok(tasks.into_iter().fold(running, Running::with_task))
}
