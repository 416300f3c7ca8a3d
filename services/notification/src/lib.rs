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

/// Every route the service serves besides the operational ones and `/openapi.json`.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/admin/notifications"),
    ("get", "/admin/notification-settings"),
    ("put", "/admin/notification-settings"),
];

/// Build and start the service (the function `main` and the tests both call).
pub async fn build(config: ServiceConfig) -> anyhow::Result<Running> {
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
        routes.route("/admin/notifications", web::get().to(admin::list));
        routes.route("/admin/notification-settings", web::get().to(admin::get_settings));
        routes.route("/admin/notification-settings", web::put().to(admin::put_settings));
        routes.route("/openapi.json", web::get().to(openapi));
    })?;
    Ok(tasks.into_iter().fold(running, Running::with_task))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

/// The OpenAPI document, written by hand, plus the dead-letter routes every service serves (three routes).
pub fn openapi_document() -> serde_json::Value {
    let mut doc = own_document();
    ordo_runtime::dead_letters::document_in(&mut doc);
    doc
}

fn own_document() -> serde_json::Value {
    use serde_json::json;
    let error = |d: &str| {
        json!({"description": d, "content": {"application/vnd.api+json": {
        "schema": {"$ref": "#/components/schemas/ErrorDocument"}}}})
    };
    let settings = json!({"type": "object", "properties": {
        "store_name": {"type": "string", "maxLength": 200},
        "sender": {"type": "string", "format": "email"},
        "order_page_url": {"type": ["string", "null"],
            "description": "http(s) URL of the storefront's order page; {order_id} and {order_number} are replaced"}},
        "required": ["store_name", "sender"]});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "ordo notification service", "version": env!("CARGO_PKG_VERSION"),
            "description": "Customer e-mails for every step of an order (from events); operators list the messages \
                and set the sender. Publishes ordo.notification.v1.sent and .failed."},
        "paths": {
            "/admin/notifications": {"get": {
                "operationId": "list_notifications", "tags": ["notifications"],
                "summary": "The tenant's messages, newest first: kind, recipient, status, attempts, last error",
                "parameters": [
                    {"name": "filter[order_id]", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
                    {"name": "filter[status]", "in": "query", "required": false,
                     "schema": {"type": "string", "enum": ["pending", "sent", "failed"]}},
                    {"name": "page[size]", "in": "query", "required": false,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                    {"name": "page[before]", "in": "query", "required": false, "schema": {"type": "integer"},
                     "description": "from links.next"}],
                "responses": {"200": {"description": "a page of messages"}, "4XX": error("bad filter (400), unauthenticated (401), not an admin (403)")},
                "security": [{"bearer": []}]}},
            "/admin/notification-settings": {
                "get": {"operationId": "get_notification_settings", "tags": ["notifications"],
                    "summary": "The store name, sender and order page the tenant's messages use",
                    "responses": {"200": {"description": "the settings (customized: false = the configured defaults)"},
                        "4XX": error("unauthenticated (401), not an admin (403)")},
                    "security": [{"bearer": []}]},
                "put": {"operationId": "put_notification_settings", "tags": ["notifications"],
                    "summary": "Set the store name, sender and order page",
                    "requestBody": {"required": true, "content": {"application/vnd.api+json": {"schema": {
                        "type": "object", "properties": {"data": {"type": "object", "properties": {
                            "type": {"const": "notification-settings"}, "attributes": settings}}}}}}},
                    "responses": {"200": {"description": "the settings"},
                        "422": error("invalid_store_name | invalid_sender | invalid_order_page_url"),
                        "4XX": error("malformed body (400), unauthenticated (401), not an admin (403)")},
                    "security": [{"bearer": []}]}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"ErrorDocument": {"type": "object", "properties": {"errors": {"type": "array"}}}}
        }
    })
}
