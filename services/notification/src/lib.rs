//! The notification service: customer e-mails for every step that matters; publishes `ordo.notification.v1.*`. It owns the `notifications` schema.
//!
//! This crate currently assembles the platform (health, readiness, metrics, outbox relay); its
//! own logic arrives with the notification-service issue.

use ordo_runtime::{Running, ordo_config::ServiceConfig};

pub const SERVICE: &str = "notification";
pub const DEFAULT_PORT: u16 = 8083;
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "notifications";

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
    ordo_runtime::serve_platform(config, SCHEMA).await
}
