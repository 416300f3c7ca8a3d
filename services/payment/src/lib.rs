//! The payment service: Stripe PaymentIntents and webhooks; publishes `ordo.payment.v1.*`. It owns the `payments` schema.
//!
//! This crate currently assembles the platform (health, readiness, metrics, outbox relay); its
//! own logic arrives with the payment-service issue.

use ordo_runtime::{Running, ordo_config::ServiceConfig};

pub const SERVICE: &str = "payment";
pub const DEFAULT_PORT: u16 = 8081;
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "payments";

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
    ordo_runtime::serve_platform(config, SCHEMA).await
}
