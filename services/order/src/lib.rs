//! The order service — the gateway storefronts and operators call. It owns the `orders` schema
//! (catalog, regions, carts, orders, lines, state history, idempotency keys) and publishes
//! `ordo.order.v1.*` through its outbox; it consumes payment and delivery events to move orders
//! through the state machine (see `ordo-domain`).
//!
//! HTTP surface (JSON:API; every unsafe request takes an `Idempotency-Key`):
//! * catalog — `/admin/regions`, `/admin/shipping-options`, `/admin/products`,
//!   `/admin/variants/{id}`; `/store/regions`, `/store/products`
//! * carts and checkout — `/store/carts[/{id}[/line-items[/{line}]|/shipping-options|/shipping-method|/payment-session|/complete]]`
//! * orders — `/store/orders[/{id}[/cancel]]`, `/admin/orders[/{id}[/cancel|/refunds]]`, `/admin/stats`
//! * `/openapi.json` — the OpenAPI document generated from these handlers ([`openapi`])
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let cfg = ordo_runtime::ordo_config::ServiceConfig::defaults(ordo_order::SERVICE, 0);
//! let running = ordo_order::build(cfg).await?;
//! println!("listening on {}", running.port());
//! # Ok(()) }
//! ```

pub mod carts;
pub mod catalog;
pub mod delivery;
pub mod events;
pub mod idempotency;
pub mod openapi;
pub mod orders;
pub mod payment_sync;
pub mod rate_limit;
pub mod rejected;
pub mod sweeper;
pub mod transitions;

use actix_web::web;
use ordo_events::Context;
use ordo_http::ApiError;
use ordo_runtime::{Platform, Running, ordo_config::ServiceConfig};
use sqlx::{PgPool, Postgres, Transaction};
use std::sync::Arc;
use std::time::Duration;

pub const SERVICE: &str = "order";
pub const DEFAULT_PORT: u16 = 8080;
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "orders";

/// What handlers share.
#[derive(Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub limiter: rate_limit::RateLimiter,
    pub checkout: ordo_config::CheckoutConfig,
    /// For request-reply with the payment service.
    pub bus: ordo_bus::Bus,
}

impl AppState {
    /// A transaction scoped to the caller (tenant, user, role).
    pub async fn begin(&self, who: &ordo_auth::Principal) -> Result<Transaction<'static, Postgres>, ApiError> {
        ordo_db::begin_scoped(&self.pool, &idempotency::scope_of(who))
            .await
            .map_err(db_err)
    }

    pub fn idle_secs(&self) -> u64 {
        self.checkout.cart_idle_secs
    }
}

/// Database errors at the HTTP edge: logged, opaque 500 (503 for a pool timeout).
pub fn db_err(e: sqlx::Error) -> ApiError {
    ApiError::database(e)
}

/// Declares every route once: registers them, and lists them in [`ROUTES`] (method, path) so
/// tests and docs enumerate exactly what is served.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path;)+) => {
        /// Every route of the service: (method, path pattern).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),+];

        fn register(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)+
        }
    };
}

routes! {
    post "/admin/regions" => catalog::create_region;
    get "/admin/regions" => catalog::list_regions;
    post "/admin/shipping-options" => catalog::create_shipping_option;
    post "/admin/products" => catalog::create_product;
    get "/admin/products" => catalog::list_products;
    patch "/admin/variants/{id}" => catalog::update_variant;
    get "/store/regions" => catalog::list_regions;
    get "/store/products" => catalog::list_products;
    post "/store/carts" => carts::create_cart;
    get "/store/carts/{id}" => carts::get_cart;
    patch "/store/carts/{id}" => carts::update_cart;
    post "/store/carts/{id}/line-items" => carts::add_line;
    patch "/store/carts/{id}/line-items/{line_id}" => carts::update_line;
    delete "/store/carts/{id}/line-items/{line_id}" => carts::remove_line;
    get "/store/carts/{id}/shipping-options" => carts::shipping_options;
    post "/store/carts/{id}/shipping-method" => carts::choose_shipping;
    post "/store/carts/{id}/payment-session" => carts::payment_session;
    post "/store/carts/{id}/complete" => carts::complete;
    get "/store/orders" => orders::list_mine;
    get "/store/orders/{id}" => orders::get_mine;
    post "/store/orders/{id}/cancel" => orders::cancel_mine;
    get "/admin/orders" => orders::list_admin;
    get "/admin/orders/{id}" => orders::get_admin;
    post "/admin/orders/{id}/cancel" => orders::cancel_admin;
    post "/admin/orders/{id}/refunds" => orders::request_refund;
    get "/store/orders/{id}/download-links" => delivery::links_mine;
    get "/admin/orders/{id}/download-links" => delivery::links_admin;
    post "/admin/orders/{id}/shipments" => delivery::create_shipment;
    post "/admin/orders/{id}/shipments/{shipment_id}/delivered" => delivery::mark_delivered;
    get "/admin/stats" => orders::stats;
}

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
    let platform = Platform::connect(config).await?;
    let cfg = platform.config.clone();
    let relay = platform.spawn_relay(SCHEMA);
    let mut tasks = vec![relay];
    for (name, context, filter) in [
        ("order_payment_events", Context::Payment, "ordo.payment.v1.>"),
        ("order_delivery_events", Context::Delivery, "ordo.delivery.v1.>"),
    ] {
        let handler = events::OrderEvents {
            cart_idle_secs: cfg.checkout.cart_idle_secs,
        };
        tasks.push(platform.spawn_consumer(name, context, filter, SCHEMA, handler));
    }
    tasks.push(tokio::spawn(sweeper::run(
        platform.pool.clone(),
        cfg.checkout.unpaid_order_ttl_secs,
        Duration::from_secs(cfg.checkout.sweep_interval_secs.max(1)),
    )));
    let state = web::Data::from(Arc::new(AppState {
        pool: platform.pool.clone(),
        limiter: rate_limit::RateLimiter::new(cfg.checkout.rate_per_sec, cfg.checkout.rate_burst),
        checkout: cfg.checkout.clone(),
        bus: platform.bus.clone(),
    }));
    let running = platform.serve(move |routes| {
        routes.app_data(state.clone());
        routes.route("/openapi.json", web::get().to(openapi::serve));
        register(routes);
    })?;
    Ok(tasks.into_iter().fold(running, Running::with_task))
}
