//! `POST /store/carts/{id}/payment-session` and `POST /store/carts/{id}/complete`: paying for a
//! cart and turning it into an order ([`crate::app::checkout`], the one place an order is born).

use super::docs::{ErrorResponses, IdempotencyKey};
use super::idempotency::{self, Key, Reply};
use super::orders::{OrderOut, order_document};
use super::{AppState, endpoints};
use crate::app::{cart, checkout, order};
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_http::jsonapi::{Document, Resource};
use ordo_http::{ApiError, Authenticated};
use serde::Serialize;
use uuid::Uuid;

endpoints!(payment_session, complete);

/// The cart's Stripe payment session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentSessionOut {
    pub cart_id: Uuid,
    pub payment_intent_id: String,
    /// For Stripe.js `confirmPayment`.
    pub client_secret: String,
    /// The PaymentIntent's status at Stripe.
    pub status: String,
    pub amount: i64,
    pub currency: String,
}

#[utoipa::path(
    post,
    path = "/store/carts/{id}/payment-session",
    tag = "carts",
    summary = "Create or update the cart's Stripe PaymentIntent; returns its client secret",
    description = "The payment service creates the cart's PaymentIntent for the cart total once (a repeated call never creates a second one) and, on every later call, sets its amount at Stripe to the cart total and checks what Stripe answered, so the session always carries the cart's total. Later changes to the cart move the PaymentIntent with them (or are refused with 409 payment_in_progress once the payment is under way). Confirm the payment with Stripe.js using `client_secret`, then complete the cart (409 payment_session_stale when the cart's total moved under the session, e.g. a price change: ask for the session again). The cart must be ready for checkout (items, e-mail, shipping for physical items).",
    params(("id" = Uuid, Path, description = "the cart id"), IdempotencyKey),
    responses(
        (status = 200, description = "The payment session", body = Document<Resource<PaymentSessionOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn payment_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    key: Key,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let id = path.into_inner();
    let (idle, peers) = (state.idle_secs(), state.peers.clone());
    idempotency::run(&state.pool, &req, &who.0, key, &[], move |tx| {
        Box::pin(async move {
            let session = cart::payment_session(tx, &peers, id, idle).await?;
            let amount = session.amount.unwrap_or_default();
            let out = PaymentSessionOut {
                cart_id: id,
                payment_intent_id: session.payment_intent_id,
                client_secret: session.client_secret,
                status: session.status,
                amount: amount.amount_minor,
                currency: amount.currency,
            };
            Reply::ok(&Document::new(Resource::new(
                "payment-sessions",
                session.payment_id,
                out,
            )))
        })
    })
    .await
}

#[utoipa::path(
    post,
    path = "/store/carts/{id}/complete",
    tag = "carts",
    summary = "Complete the cart into an order: one order per cart (concurrent calls get the same order), stock reserved atomically",
    params(("id" = Uuid, Path, description = "the cart id"), IdempotencyKey),
    responses(
        (status = 200, description = "The order", body = Document<Resource<OrderOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn complete(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    key: Key,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let id = path.into_inner();
    let idle = state.idle_secs();
    let actor = format!("customer:{}", who.0.subject);
    idempotency::run(&state.pool, &req, &who.0, key, &[], move |tx| {
        Box::pin(async move {
            let order_id = checkout::complete_cart(tx, id, idle, &actor).await?;
            Reply::ok(&order_document(order::get(tx, order_id).await?)?)
        })
    })
    .await
}
