//! Delivery through the gateway: `…/download-links` for customers and operators,
//! `/admin/orders/{id}/shipments…` for operators. The order must be visible to the caller
//! under row-level security first (else 404); the delivery service answers the rest
//! ([`crate::app::delivery`]).

use super::docs::{ErrorResponses, IdempotencyKey};
use super::fields::Text100;
use super::idempotency::{self, Key, Reply};
use super::{AppState, endpoints};
use crate::app::delivery::{self, Requester, Shipment};
use crate::app::order;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_auth::Principal;
use ordo_http::jsonapi::{Document, Input, Kind, Resource, parse_input, respond};
use ordo_http::{AdminOnly, ApiError, Authenticated};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

endpoints!(
    download_links_mine,
    download_links_admin,
    create_shipment,
    mark_shipment_delivered,
);

/// A fresh download link of one digital line.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DownloadLinkOut {
    pub line_id: String,
    /// `/downloads/{token}` on the delivery service; null when the line's downloads are used up.
    pub url: Option<String>,
    pub expires_at: Option<String>,
    pub remaining_downloads: u32,
}

async fn links(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    requester: Requester<'_>,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(who).await?;
    let status = order::visible_status(&mut tx, id).await?;
    tx.commit().await?;
    let links = delivery::download_links(&state.peers, who.tenant_id, id, status, requester).await?;
    let data: Vec<_> = links
        .into_iter()
        .map(|l| {
            let expires = l.expires_at.as_ref().and_then(|t| {
                time::OffsetDateTime::from_unix_timestamp(t.seconds)
                    .ok()
                    .map(super::carts::timestamp)
            });
            let out = DownloadLinkOut {
                line_id: l.line_id.clone(),
                url: (!l.url.is_empty()).then_some(l.url),
                expires_at: expires,
                remaining_downloads: l.remaining_downloads,
            };
            Resource::new("download-links", l.line_id, out)
        })
        .collect();
    let mut res = respond(StatusCode::OK, &Document::new(data));
    // Each answer holds fresh secrets: never cache it anywhere.
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[utoipa::path(
    get,
    path = "/store/orders/{id}/download-links",
    tag = "delivery",
    summary = "Fresh download links for the digital lines of one of the caller's paid orders",
    description = "Each call issues new links (`/downloads/{token}` on the delivery service), valid 24 h by default, \
        sharing the grant's download allowance (`remaining_downloads`). A used-up line has `url: null`.",
    params(("id" = Uuid, Path, description = "the order id")),
    responses(
        (status = 200, description = "One link per digital line", body = Document<Vec<Resource<DownloadLinkOut>>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn download_links_mine(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    links(&state, &who.0, path.into_inner(), Requester::Customer(&who.0.subject)).await
}

#[utoipa::path(
    get,
    path = "/admin/orders/{id}/download-links",
    tag = "delivery",
    summary = "Fresh download links for any paid order of the tenant (e.g. to resend them)",
    params(("id" = Uuid, Path, description = "the order id")),
    responses(
        (status = 200, description = "One link per digital line", body = Document<Vec<Resource<DownloadLinkOut>>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn download_links_admin(
    state: web::Data<AppState>,
    who: AdminOnly,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    links(&state, &who.0, path.into_inner(), Requester::Operator).await
}

/// An operator's shipment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentInput {
    /// e.g. `DHL`
    pub carrier: Text100,
    pub tracking_number: Text100,
    /// Physical lines of the order not shipped yet; each line ships whole, once.
    #[schema(min_items = 1)]
    pub line_ids: Vec<Uuid>,
}

impl Kind for ShipmentInput {
    const KIND: &'static str = "shipments";
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShipmentOut {
    pub order_id: Uuid,
    pub carrier: String,
    pub tracking_number: String,
    pub line_ids: Vec<Uuid>,
    /// `shipped`
    pub status: &'static str,
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/shipments",
    tag = "delivery",
    summary = "Ship physical lines of a paid order (→ delivery.shipment_created; the order is fulfilled when every line is)",
    params(("id" = Uuid, Path, description = "the order id"), IdempotencyKey),
    request_body(content = Input<ShipmentInput>, content_type = "application/vnd.api+json"),
    responses(
        (status = 201, description = "The shipment", body = Document<Resource<ShipmentOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn create_shipment(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    key: Key,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = parse_input::<ShipmentInput>(&body)?.attributes;
    let text = |raw: &str, field: &'static str| {
        ordo_domain::checkout::text(field, raw, 100).map_err(|e| {
            ApiError::unprocessable(
                "invalid_shipment",
                &e.message,
                Some(&format!("/data/attributes/{field}")),
            )
        })
    };
    let shipment = Shipment {
        carrier: text(&input.carrier.0, "carrier")?,
        tracking_number: text(&input.tracking_number.0, "tracking_number")?,
        line_ids: input.line_ids,
    };
    let id = path.into_inner();
    let tenant = who.0.tenant_id;
    let peers = state.peers.clone();
    // The delivery service commits the shipment before this request stores its answer: if this
    // replica dies in between, the retry must find that shipment, not refuse its lines.
    let request_id = key.request_id(&who.0, "shipment");
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
        Box::pin(async move {
            order::visible_status(tx, id).await?;
            let shipment_id = delivery::create_shipment(&peers, tenant, id, &shipment, request_id).await?;
            let out = ShipmentOut {
                order_id: id,
                carrier: shipment.carrier.trim().to_owned(),
                tracking_number: shipment.tracking_number.trim().to_owned(),
                line_ids: shipment.line_ids.clone(),
                status: "shipped",
            };
            Reply::new(
                StatusCode::CREATED,
                &Document::new(Resource::new("shipments", shipment_id, out)),
            )
        })
    })
    .await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShipmentDeliveredOut {
    pub order_id: Uuid,
    /// `delivered`
    pub status: &'static str,
    /// The shipment was already marked delivered: nothing changed.
    pub already_delivered: bool,
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/shipments/{shipment_id}/delivered",
    tag = "delivery",
    summary = "The carrier delivered the shipment (→ delivery.shipment_delivered; the order is delivered when every line is)",
    params(
        ("id" = Uuid, Path, description = "the order id"),
        ("shipment_id" = Uuid, Path, description = "the shipment id"),
        IdempotencyKey
    ),
    responses(
        (status = 200, description = "The shipment, delivered", body = Document<Resource<ShipmentDeliveredOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn mark_shipment_delivered(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    key: Key,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, shipment) = path.into_inner();
    let tenant = who.0.tenant_id;
    let peers = state.peers.clone();
    idempotency::run(&state.pool, &req, &who.0, key, &[], move |tx| {
        Box::pin(async move {
            order::visible_status(tx, id).await?;
            let already = delivery::mark_delivered(&peers, tenant, id, shipment).await?;
            let out = ShipmentDeliveredOut {
                order_id: id,
                status: "delivered",
                already_delivered: already,
            };
            Reply::ok(&Document::new(Resource::new("shipments", shipment, out)))
        })
    })
    .await
}
