//! The delivery service: download grants, hashed download tokens and shipments; publishes `ordo.delivery.v1.*`. It owns the `delivery` schema.
//!
//! This crate currently assembles the platform (health, readiness, metrics, outbox relay); its
//! own logic arrives with the delivery-service issue.

use ordo_runtime::{Running, ordo_config::ServiceConfig};

pub const SERVICE: &str = "delivery";
pub const DEFAULT_PORT: u16 = 8082;
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "delivery";

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
    ordo_runtime::serve_platform(config, SCHEMA).await
}
