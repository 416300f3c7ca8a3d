//! `/admin/orders/{id}/refunds`: operators ask for a (partial) refund of a paid order and read
//! the requests with their outcome (the payment service reports each one).

use super::carts::timestamp;
use super::docs::{ErrorResponses, IdempotencyKey};
use super::idempotency::{self, Key, Reply};
use super::{AppState, endpoints};
use crate::app::order;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_http::jsonapi::{Document, Input, Kind, Resource, parse_input, respond, whole};
use ordo_http::{AdminOnly, ApiError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

endpoints!(request_refund, list_refunds);

/// An operator's refund request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// Minor units; at most what was captured minus what is refunded or being refunded.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "whole")]
    pub amount: i64,
    /// Free text for the record (at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: String,
}

impl Kind for RefundInput {
    const KIND: &'static str = "refunds";
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefundOut {
    pub order_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    /// `requested` until the payment service reports the outcome.
    pub status: &'static str,
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/refunds",
    tag = "orders",
    summary = "Ask for a (partial) refund of a paid order",
    description = "Records the request and publishes ordo.order.v1.refund_requested; the payment service refunds through Stripe and the order follows charge.refunded (refunded when the whole capture is given back, else payment_status partially_refunded). Repeated partial refunds are allowed up to the captured amount minus what is refunded or already requested.",
    params(("id" = Uuid, Path, description = "the order id"), IdempotencyKey),
    request_body(content = Input<RefundInput>, content_type = "application/vnd.api+json"),
    responses(
        (status = 202, description = "The refund request (status requested)", body = Document<Resource<RefundOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn request_refund(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    key: Key,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = parse_input::<RefundInput>(&body)?.attributes;
    if input.amount <= 0 {
        return Err(ApiError::unprocessable(
            "invalid_amount",
            "amount must be a positive number of minor units",
            Some("/data/attributes/amount"),
        ));
    }
    if input.reason.chars().count() > 500 {
        return Err(ApiError::unprocessable(
            "reason_too_long",
            "reason is at most 500 characters",
            Some("/data/attributes/reason"),
        ));
    }
    let id = path.into_inner();
    let actor = format!("admin:{}", who.0.subject);
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
        Box::pin(async move {
            let r = order::request_refund(tx, id, input.amount, &input.reason, &actor).await?;
            let out = RefundOut {
                order_id: r.order_id,
                amount: r.amount,
                currency: r.currency,
                reason: r.reason,
                status: "requested",
            };
            Reply::new(
                StatusCode::ACCEPTED,
                &Document::new(Resource::new("refunds", r.id, out)),
            )
        })
    })
    .await
}

/// A refund request and its outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefundRequestOut {
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    /// `requested`, `succeeded` or `failed`
    pub status: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// e.g. `admin:<subject>`
    pub requested_by: String,
    pub created_at: String,
    pub updated_at: String,
}

#[utoipa::path(
    get,
    path = "/admin/orders/{id}/refunds",
    tag = "orders",
    summary = "The refund requests of an order with their outcome, oldest first",
    params(("id" = Uuid, Path, description = "the order id")),
    responses(
        (status = 200, description = "Refund requests", body = Document<Vec<Resource<RefundRequestOut>>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn list_refunds(
    state: web::Data<AppState>,
    who: AdminOnly,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(&who.0).await?;
    let (currency, rows) = order::refund_requests(&mut tx, path.into_inner()).await?;
    tx.commit().await?;
    let data: Vec<_> = rows
        .into_iter()
        .map(|r| {
            let out = RefundRequestOut {
                amount: r.amount,
                currency: currency.clone(),
                reason: r.reason,
                status: r.status,
                failure_code: r.failure_code,
                failure_message: r.failure_message,
                requested_by: r.requested_by,
                created_at: timestamp(r.created_at),
                updated_at: timestamp(r.updated_at),
            };
            Resource::new("refunds", r.id, out)
        })
        .collect();
    Ok(respond(StatusCode::OK, &Document::new(data)))
}
