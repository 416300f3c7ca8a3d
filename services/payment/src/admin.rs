//! `GET /admin/orders/{id}/payments` (operators): the order's payments — the PaymentIntent, its
//! status at Stripe as last applied, attempts and the last failure, what was captured and
//! refunded — each with its refunds (asked for by ordo or made in Stripe's dashboard, with their
//! outcome). Row-level security scopes it to the operator's tenant: another tenant's order has
//! no payments here (404).

use crate::AppState;
use crate::store::{payments, refunds};
use actix_web::{HttpResponse, web};
use ordo_db::{Role, Scope};
use ordo_http::jsonapi::{Document, Resource, rfc3339 as ts};
use ordo_http::{AdminOnly, ApiError};
use serde::Serialize;
use uuid::Uuid;

ordo_http::endpoints!(order_payments);

/// One payment of an order (one PaymentIntent).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentOut {
    pub order_id: Option<Uuid>,
    pub cart_id: Uuid,
    pub payment_intent_id: String,
    /// Stripe's PaymentIntent status as last applied (never backwards), or `failed` after a failed
    /// attempt.
    pub status: String,
    pub currency: String,
    /// What the PaymentIntent asks for (minor units).
    pub amount: i64,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    /// Captured minus refunded.
    pub refundable_amount: i64,
    pub failed_attempts: i32,
    pub last_failure: Option<FailureOut>,
    pub refunds: Vec<RefundOut>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FailureOut {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// One refund of the payment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefundOut {
    pub id: Uuid,
    pub amount: i64,
    pub reason: String,
    /// `requested`, `succeeded` or `failed`
    pub status: String,
    /// `order` (asked for through ordo) or `stripe` (made in Stripe's dashboard)
    pub source: String,
    pub stripe_refund_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The error answer.
#[derive(Debug, utoipa::IntoResponses)]
pub enum Errors {
    /// unauthenticated (401), not an admin (403), no payment for this order (404)
    #[response(status = "4XX", content_type = "application/vnd.api+json")]
    Error(ordo_http::ErrorDocument),
}

#[utoipa::path(
    get,
    path = "/admin/orders/{id}/payments",
    tag = "payments",
    summary = "An order's payments with attempts, failures, captured and refunded amounts, and refunds",
    params(("id" = Uuid, Path, description = "the order id")),
    responses(
        (status = 200, description = "The order's payments, oldest first", body = Document<Vec<Resource<PaymentOut>>>, content_type = "application/vnd.api+json"),
        Errors,
    ),
    security(("bearer" = [])),
)]
async fn order_payments(
    state: web::Data<AppState>,
    admin: AdminOnly,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let order = path.into_inner();
    let scope = Scope::new(admin.0.tenant_id, Some(admin.0.subject.clone()), Role::Admin);
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope).await?;
    let found = payments::of_order(&mut tx, order).await?;
    let ids: Vec<Uuid> = found.iter().map(|p| p.id).collect();
    let all_refunds = refunds::of_payments(&mut tx, &ids).await?;
    tx.commit().await?;
    if found.is_empty() {
        return Err(ApiError::not_found("payment of order", &order.to_string()));
    }
    let data: Vec<_> = found
        .into_iter()
        .map(|p| {
            let refunds = all_refunds
                .iter()
                .filter(|r| r.payment_id == p.id)
                .map(|r| RefundOut {
                    id: r.id,
                    amount: r.amount,
                    reason: r.reason.clone(),
                    status: r.status.clone(),
                    source: r.source.clone(),
                    stripe_refund_id: r.stripe_refund_id.clone(),
                    failure_code: r.failure_code.clone(),
                    failure_message: r.failure_message.clone(),
                    created_at: ts(r.created_at),
                    updated_at: ts(r.updated_at),
                })
                .collect();
            let last_failure = match (p.failure_code, p.failure_message) {
                (None, None) => None,
                (code, message) => Some(FailureOut { code, message }),
            };
            let out = PaymentOut {
                order_id: p.order_id,
                cart_id: p.cart_id,
                payment_intent_id: p.payment_intent_id,
                status: p.status,
                currency: p.currency,
                amount: p.amount,
                captured_amount: p.captured_amount,
                refunded_amount: p.refunded_amount,
                refundable_amount: p.captured_amount - p.refunded_amount,
                failed_attempts: p.failed_attempts,
                last_failure,
                refunds,
                created_at: ts(p.created_at),
                updated_at: ts(p.updated_at),
            };
            Resource::new("payments", p.id, out)
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type(ordo_http::JSON_API)
        .json(Document::new(data)))
}
