//! The notification service: tells the customer about every step of an order by e-mail, and
//! publishes `ordo.notification.v1.sent|failed`. It owns the `notifications` schema.
//!
//! * Consumers of order, payment and delivery events turn each event a customer should hear
//!   about into one message row, once per (event, kind) ([`intake`]).
//! * The sender renders due messages (HTML and plain text, askama templates with the tenant's
//!   store name and sender, money by currency — [`compose`]), asks the delivery service for fresh
//!   download links when payment arrived, and hands them to the transport ([`transport`]: `.eml`
//!   files by default, SMTP when configured); failures are retried with backoff and finally
//!   recorded as failed ([`sender`]).
//! * Operators list messages and set the sender at `/admin/notifications` and
//!   `/admin/notification-settings` ([`admin`]).

pub mod admin;
pub mod compose;
pub mod intake;
pub mod sender;
pub mod transport;

use actix_web::{HttpResponse, web};
use ordo_config::NotificationConfig;
use ordo_events::Context;
use ordo_runtime::{Platform, Running, ordo_config::ServiceConfig};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

pub const SERVICE: &str = "notification";
pub const DEFAULT_PORT: u16 = 8083;
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "notifications";

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub config: NotificationConfig,
}

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
    let table = route_table()?;
    let platform = Platform::connect(config).await?;
    let cfg = platform.config.clone();
    let transport = transport::Transport::build(&cfg.notification)?;
    let mut tasks = vec![platform.spawn_relay(SCHEMA)];
    let intake = intake::Intake {
        link_ttl_secs: cfg.delivery.link_ttl_secs,
        max_downloads: cfg.delivery.max_downloads,
        cart_attempts: cfg.consumer.max_attempts.clamp(1, 5),
    };
    for (name, context, filter) in [
        ("notification_order_events", Context::Order, "ordo.order.v1.>"),
        ("notification_payment_events", Context::Payment, "ordo.payment.v1.>"),
        (
            "notification_delivery_events",
            Context::Delivery,
            "ordo.delivery.v1.shipment_created",
        ),
    ] {
        tasks.push(platform.spawn_consumer(name, context, filter, SCHEMA, intake.clone()));
    }
    let sender = sender::Sender {
        pool: platform.pool.clone(),
        bus: platform.bus.clone(),
        transport,
        cfg: cfg.notification.clone(),
        rpc_timeout: Duration::from_secs(5),
    };
    tasks.push(tokio::spawn(sender.run()));
    let data = web::Data::from(Arc::new(AppState {
        pool: platform.pool.clone(),
        config: cfg.notification.clone(),
    }));
    let running = platform.serve(move |routes| {
        routes.app_data(data.clone());
        table.register(routes);
        routes.route("/openapi.json", web::get().to(openapi));
    })?;
    Ok(tasks.into_iter().fold(running, Running::with_task))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ordo notification service",
        description = "Customer e-mails for every step of an order (from events); operators list the messages \
            and set the sender. Publishes ordo.notification.v1.sent and .failed."
    ),
    components(schemas(ordo_http::ErrorDocument)),
    modifiers(&BEARER),
    tags((name = "notifications", description = "Messages to customers and their settings (operators)"))
)]
#[derive(Debug)]
pub struct ApiDoc;

const BEARER: ordo_http::routes::BearerAuth = ordo_http::routes::BearerAuth;

/// The service's own operations (generated from the handlers).
pub fn api() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = ApiDoc::openapi();
    doc.merge(admin::Doc::openapi());
    doc
}

/// Every route of the service, paired with its documented operation.
pub fn route_table() -> anyhow::Result<ordo_http::routes::RouteTable> {
    ordo_http::routes::RouteTable::build(&api(), &[admin::ENDPOINTS])
}

/// Every route the service serves besides the operational ones and `/openapi.json`, as
/// (method, path) in OpenAPI's spelling.
pub fn routes() -> anyhow::Result<Vec<(String, String)>> {
    Ok(route_table()?.routes())
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

/// The OpenAPI document: the service's operations and the dead-letter routes every service serves.
pub fn openapi_document() -> serde_json::Value {
    let mut doc = serde_json::to_value(api()).unwrap_or_default();
    ordo_runtime::dead_letters::document_in(&mut doc);
    doc
}
