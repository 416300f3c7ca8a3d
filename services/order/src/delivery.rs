//! Delivery through the gateway: download links for customers and operators, shipments for
//! operators. The order must be visible to the caller under row-level security first (another
//! customer's order, or another tenant's, is a 404); then the delivery service is asked over NATS.

use crate::orders::visible_status;
use crate::{AppState, db_err, idempotency};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use idempotency::Reply;
use ordo_events::common::v1::RpcError;
use ordo_events::delivery::v1::{
    CreateShipmentReply, CreateShipmentRequest, DownloadLinksReply, DownloadLinksRequest, MarkShipmentDeliveredReply,
    MarkShipmentDeliveredRequest,
};
use ordo_http::jsonapi::respond;
use ordo_http::{AdminOnly, ApiError, Authenticated};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

fn timeout(state: &AppState) -> Duration {
    Duration::from_millis(state.checkout.payment_timeout_ms.max(1))
}

fn unavailable(e: ordo_bus::BusError) -> ApiError {
    tracing::warn!(error = %e, "delivery service did not answer");
    ApiError::unavailable("delivery_service_unavailable")
}

/// The delivery service's refusal as an HTTP error.
fn refused(e: &RpcError) -> ApiError {
    let (status, code): (StatusCode, &'static str) = match e.code.as_str() {
        "order_unknown" => (StatusCode::CONFLICT, "order_not_paid"),
        "grants_revoked" => (StatusCode::CONFLICT, "downloads_revoked"),
        "order_revoked" => (StatusCode::CONFLICT, "order_refunded_or_canceled"),
        "invalid_shipment" => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_shipment"),
        "line_unknown" => (StatusCode::UNPROCESSABLE_ENTITY, "line_unknown"),
        "line_not_physical" => (StatusCode::UNPROCESSABLE_ENTITY, "line_not_physical"),
        "line_already_shipped" => (StatusCode::CONFLICT, "line_already_shipped"),
        "shipment_unknown" => (StatusCode::NOT_FOUND, "not_found"),
        _ => return ApiError::internal(format!("delivery service: {}: {}", e.code, e.message)),
    };
    ApiError::new(status, code, &e.message)
}

async fn links(
    state: &AppState,
    who: &ordo_auth::Principal,
    id: Uuid,
    customer: &str,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(who).await?;
    let status = visible_status(&mut tx, id).await?;
    tx.commit().await.map_err(db_err)?;
    if matches!(status.as_str(), "pending" | "processing") {
        return Err(ApiError::conflict(
            "order_not_paid",
            "downloads are available once the order is paid",
        ));
    }
    let request = DownloadLinksRequest {
        tenant_id: who.tenant_id.to_string(),
        order_id: id.to_string(),
        customer_id: customer.to_owned(),
        requester: if customer.is_empty() { "operator" } else { "customer" }.to_owned(),
    };
    let reply: DownloadLinksReply = ordo_bus::rpc::request(
        &state.bus,
        ordo_events::rpc::DELIVERY_DOWNLOAD_LINKS,
        &request,
        timeout(state),
    )
    .await
    .map_err(unavailable)?;
    if let Some(e) = &reply.error {
        return Err(refused(e));
    }
    let data: Vec<_> = reply
        .links
        .iter()
        .map(|l| {
            let expires = l.expires_at.as_ref().and_then(|t| {
                time::OffsetDateTime::from_unix_timestamp(t.seconds)
                    .ok()
                    .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
            });
            json!({"type": "download-links", "id": l.line_id, "attributes": {
                "line_id": l.line_id,
                "url": (!l.url.is_empty()).then_some(&l.url),
                "expires_at": expires,
                "remaining_downloads": l.remaining_downloads,
            }})
        })
        .collect();
    let mut res = respond(StatusCode::OK, &json!({"data": data}));
    // Each answer holds fresh secrets: never cache it anywhere.
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

#[utoipa::path(
    get,
    path = "/store/orders/{id}/download-links",
    operation_id = "download_links_mine",
    tag = "delivery",
    summary = "Fresh download links for the digital lines of one of the caller's paid orders",
    description = "Each call issues new links (`/downloads/{token}` on the delivery service), valid 24 h by default, \
        sharing the grant's download allowance (`remaining_downloads`). A used-up line has `url: null`.",
    params(("id" = Uuid, Path, description = "the order id")),
    responses(
        (status = 200, description = "One link per digital line", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn links_mine(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let customer = who.0.subject.clone();
    links(&state, &who.0, path.into_inner(), &customer).await
}

#[utoipa::path(
    get,
    path = "/admin/orders/{id}/download-links",
    operation_id = "download_links_admin",
    tag = "delivery",
    summary = "Fresh download links for any paid order of the tenant (e.g. to resend them)",
    params(("id" = Uuid, Path, description = "the order id")),
    responses(
        (status = 200, description = "One link per digital line", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn links_admin(
    state: web::Data<AppState>,
    who: AdminOnly,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    links(&state, &who.0, path.into_inner(), "").await
}

/// An operator's shipment.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentInput {
    /// 1 to 100 characters, e.g. `DHL`.
    pub carrier: String,
    /// 1 to 100 characters.
    pub tracking_number: String,
    /// Physical lines of the order not shipped yet; each line ships whole, once.
    pub line_ids: Vec<Uuid>,
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/shipments",
    operation_id = "create_shipment",
    tag = "delivery",
    summary = "Ship physical lines of a paid order (→ delivery.shipment_created; the order is fulfilled when every line is)",
    params(("id" = Uuid, Path, description = "the order id"), crate::openapi::IdempotencyKey),
    request_body(content = ShipmentInput, content_type = "application/vnd.api+json",
        description = "`{\"data\": {\"type\": \"shipments\", \"attributes\": {...}}}`"),
    responses(
        (status = 201, description = "The shipment", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create_shipment(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = ordo_http::jsonapi::parse_input::<ShipmentInput>(&body, "shipments")?.attributes;
    let id = path.into_inner();
    let tenant = who.0.tenant_id;
    let bus = state.bus.clone();
    let wait = timeout(&state);
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            visible_status(tx, id).await?;
            let request = CreateShipmentRequest {
                tenant_id: tenant.to_string(),
                order_id: id.to_string(),
                carrier: input.carrier.clone(),
                tracking_number: input.tracking_number.clone(),
                line_ids: input.line_ids.iter().map(Uuid::to_string).collect(),
            };
            let reply: CreateShipmentReply =
                ordo_bus::rpc::request(&bus, ordo_events::rpc::DELIVERY_CREATE_SHIPMENT, &request, wait)
                    .await
                    .map_err(unavailable)?;
            if let Some(e) = &reply.error {
                return Err(refused(e));
            }
            let doc = json!({"data": {"type": "shipments", "id": reply.shipment_id, "attributes": {
                "order_id": id, "carrier": request.carrier.trim(), "tracking_number": request.tracking_number.trim(),
                "line_ids": input.line_ids, "status": "shipped"}}});
            Ok(Reply::new(StatusCode::CREATED, doc))
        })
    })
    .await
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/shipments/{shipment_id}/delivered",
    operation_id = "mark_shipment_delivered",
    tag = "delivery",
    summary = "The carrier delivered the shipment (→ delivery.shipment_delivered; the order is delivered when every line is)",
    params(
        ("id" = Uuid, Path, description = "the order id"),
        ("shipment_id" = Uuid, Path, description = "the shipment id"),
        crate::openapi::IdempotencyKey
    ),
    responses(
        (status = 200, description = "The shipment, delivered", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn mark_delivered(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, shipment) = path.into_inner();
    let tenant = who.0.tenant_id;
    let bus = state.bus.clone();
    let wait = timeout(&state);
    idempotency::run(&state.pool, &req, &who.0, &[], move |tx| {
        Box::pin(async move {
            visible_status(tx, id).await?;
            let request = MarkShipmentDeliveredRequest {
                tenant_id: tenant.to_string(),
                order_id: id.to_string(),
                shipment_id: shipment.to_string(),
            };
            let reply: MarkShipmentDeliveredReply =
                ordo_bus::rpc::request(&bus, ordo_events::rpc::DELIVERY_MARK_SHIPMENT_DELIVERED, &request, wait)
                    .await
                    .map_err(unavailable)?;
            if let Some(e) = &reply.error {
                return Err(refused(e));
            }
            let doc = json!({"data": {"type": "shipments", "id": shipment, "attributes": {
                "order_id": id, "status": "delivered", "already_delivered": reply.already_delivered}}});
            Ok(Reply::new(StatusCode::OK, doc))
        })
    })
    .await
}
