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
use ordo_config::DeliveryConfig;
use ordo_events::Context;
use ordo_runtime::{Platform, Running, ordo_config::ServiceConfig};
use sqlx::PgPool;
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
    tasks.push(platform.spawn_consumer(
        "delivery_order_events",
        Context::Order,
        "ordo.order.v1.>",
        SCHEMA,
        order_events::OrderEvents {
            max_downloads: cfg.delivery.max_downloads,
        },
    ));
    let s = state.clone();
    tasks.push(
        platform.spawn_rpc(ordo_events::rpc::DELIVERY_DOWNLOAD_LINKS, move |req| {
            links::download_links(s.clone(), req)
        }),
    );
    let s = state.clone();
    tasks.push(
        platform.spawn_rpc(ordo_events::rpc::DELIVERY_CREATE_SHIPMENT, move |req| {
            shipments::create(s.clone(), req)
        }),
    );
    let s = state.clone();
    tasks.push(
        platform.spawn_rpc(ordo_events::rpc::DELIVERY_MARK_SHIPMENT_DELIVERED, move |req| {
            shipments::mark_delivered(s.clone(), req)
        }),
    );
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

/// Every route the service serves besides the operational ones (`/health/*`, `/metrics`) and
/// `/openapi.json`, as (method, path) in OpenAPI's spelling; the document below must list exactly
/// these (a test holds both to it).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/downloads/{token}"),
    ("get", "/admin/assets"),
    ("put", "/admin/assets/{key}"),
    ("delete", "/admin/assets/{key}"),
];

fn error_response(codes: &str) -> serde_json::Value {
    serde_json::json!({"description": codes, "content": {"application/vnd.api+json": {
        "schema": {"$ref": "#/components/schemas/ErrorDocument"}}}})
}

/// The OpenAPI document, written by hand, plus the dead-letter routes every service serves (the service has four routes and no utoipa).
pub fn openapi_document() -> serde_json::Value {
    let mut doc = own_document();
    ordo_runtime::dead_letters::document_in(&mut doc);
    doc
}

fn own_document() -> serde_json::Value {
    use serde_json::json;
    let key = json!({"name": "key", "in": "path", "required": true,
        "description": "1–512 characters of A-Z a-z 0-9 . _ - in /-separated segments (slashes allowed, no . or .. segments)",
        "schema": {"type": "string"}});
    let asset = json!({"type": "object", "properties": {
        "type": {"const": "assets"}, "id": {"type": "string", "description": "the key"},
        "attributes": {"type": "object", "properties": {
            "size": {"type": "integer"}, "content_type": {"type": "string"},
            "sha256": {"type": "string", "description": "hex"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"}}}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "ordo delivery service", "version": env!("CARGO_PKG_VERSION"),
            "description": "Download links and asset administration. Links are issued through the order service \
                (GET /store/orders/{id}/download-links), which asks this service over NATS \
                (ordo.rpc.delivery.v1.download_links); shipments likewise (create_shipment, mark_shipment_delivered)."},
        "paths": {
            "/downloads/{token}": {"get": {
                "operationId": "download", "tags": ["downloads"],
                "summary": "Download the file behind a link",
                "description": "No authentication: the token is the credential. Streams the file; `Range` gives 206 \
                    (several ranges → multipart/byteranges). A download resumed over several range requests counts as \
                    one use; a request counts a new use when it asks for bytes already sent completely in the current \
                    run, or after the resume window. Responses carry Content-Disposition: attachment, \
                    X-Content-Type-Options: nosniff, Cache-Control: no-store, Referrer-Policy: no-referrer.",
                "parameters": [
                    {"name": "token", "in": "path", "required": true, "schema": {"type": "string"},
                     "description": "43 characters of base64url (32 random bytes)"},
                    {"name": "Range", "in": "header", "required": false, "schema": {"type": "string"},
                     "description": "bytes=… (RFC 9110), at most `delivery.max_ranges` disjoint ranges"}],
                "responses": {
                    "200": {"description": "the whole file", "content": {"application/octet-stream": {}}},
                    "206": {"description": "the requested ranges", "content": {"multipart/byteranges": {}}},
                    "403": error_response("token_unknown | token_revoked | token_expired | download_limit_reached"),
                    "416": error_response("range_not_satisfiable | too_many_ranges (Content-Range: bytes */size)"),
                    "503": error_response("asset_unavailable (no use counted)"),
                    "4XX": error_response("other client errors")}}},
            "/admin/assets": {"get": {
                "operationId": "list_assets", "tags": ["assets"], "summary": "List the tenant's assets by key",
                "parameters": [
                    {"name": "page[size]", "in": "query", "required": false,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
                    {"name": "page[after]", "in": "query", "required": false, "schema": {"type": "string"},
                     "description": "the last key of the previous page (links.next gives it)"}],
                "responses": {
                    "200": {"description": "a page of assets", "content": {"application/vnd.api+json": {"schema": {
                        "type": "object", "properties": {"data": {"type": "array", "items": asset},
                            "links": {"type": "object", "properties": {"next": {"type": ["string", "null"]}}}}}}}},
                    "4XX": error_response("unauthenticated (401) or not an admin (403)")},
                "security": [{"bearer": []}]}},
            "/admin/assets/{key}": {
                "put": {
                    "operationId": "upload_asset", "tags": ["assets"],
                    "summary": "Upload or replace an asset: the body is the file (streamed, up to delivery.max_asset_bytes)",
                    "parameters": [key.clone(), {"name": "Content-Type", "in": "header", "required": false,
                        "schema": {"type": "string"}, "description": "remembered and sent with downloads (default application/octet-stream)"}],
                    "requestBody": {"required": true, "content": {"*/*": {}}},
                    "responses": {
                        "201": {"description": "created", "content": {"application/vnd.api+json": {"schema": {"type": "object", "properties": {"data": asset}}}}},
                        "200": {"description": "replaced", "content": {"application/vnd.api+json": {"schema": {"type": "object", "properties": {"data": asset}}}}},
                        "400": error_response("upload_interrupted"),
                        "413": error_response("payload_too_large"),
                        "422": error_response("invalid_asset_key"),
                        "4XX": error_response("unauthenticated (401) or not an admin (403)")},
                    "security": [{"bearer": []}]},
                "delete": {
                    "operationId": "delete_asset", "tags": ["assets"], "summary": "Delete an asset no live grant needs",
                    "parameters": [key],
                    "responses": {
                        "204": {"description": "deleted"},
                        "404": error_response("not_found"),
                        "409": error_response("asset_in_use"),
                        "422": error_response("invalid_asset_key"),
                        "4XX": error_response("unauthenticated (401) or not an admin (403)")},
                    "security": [{"bearer": []}]}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"ErrorDocument": {"type": "object", "description": "JSON:API errors",
                "properties": {"errors": {"type": "array", "items": {"type": "object", "properties": {
                    "status": {"type": "string"}, "code": {"type": "string"}, "title": {"type": "string"},
                    "detail": {"type": "string"}}}}}}}
        }
    })
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}
