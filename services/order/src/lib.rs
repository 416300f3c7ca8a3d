//! The order service — the gateway storefronts and operators call. It owns the `orders` schema
//! (carts, orders, lines, state history) and publishes `ordo.order.v1.*` through its outbox.
//!
//! This crate currently assembles the platform (health, readiness, metrics, outbox relay); the
//! catalog, cart, checkout and orders API arrive with the order-service issue.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let mut cfg = ordo_runtime::ordo_config::ServiceConfig::defaults(ordo_order::SERVICE, 0);
//! let running = ordo_order::build(cfg).await?;
//! println!("listening on {}", running.port());
//! # Ok(()) }
//! ```

use ordo_runtime::{Running, ordo_config::ServiceConfig};

pub const SERVICE: &str = "order";
pub const DEFAULT_PORT: u16 = 8080;
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "orders";

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
    ordo_runtime::serve_platform(config, SCHEMA).await
}
