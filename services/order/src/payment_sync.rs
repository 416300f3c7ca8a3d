//! The cart's PaymentIntent follows the cart's total.
//!
//! The payment service is asked (NATS request-reply, `ordo.rpc.payment.v1.create_session`) for
//! the cart's session when the storefront asks for one, and again after every change to a cart
//! that already has one: the client secret a customer holds can then only ever pay what the
//! cart costs now. A change the payment can no longer follow (the customer confirmed at Stripe
//! meanwhile) is refused with `409 payment_in_progress` and rolled back with the request.
//! The amount the session was last set to is kept on the cart (`payment_amount`), so that
//! completion can refuse a cart whose total moved under the session (a catalog price change).

use crate::carts::Cart;
use crate::db_err;
use actix_web::http::StatusCode;
use ordo_events::payment::v1::{
    CreatePaymentSessionReply, CreatePaymentSessionRequest, PaymentSession, create_payment_session_reply::Result as R,
};
use ordo_http::ApiError;
use sqlx::PgConnection;
use std::time::Duration;

/// RPC error codes of the payment service → the HTTP answer, in one table.
fn http_error(code: &str, message: &str) -> ApiError {
    let (status, code): (StatusCode, &'static str) = match code {
        "payment_in_progress" => (StatusCode::CONFLICT, "payment_in_progress"),
        "payment_canceled" => (StatusCode::CONFLICT, "payment_canceled"),
        "currency_changed" => (StatusCode::CONFLICT, "currency_changed"),
        "stripe_unavailable" | "stripe_mismatch" => (StatusCode::SERVICE_UNAVAILABLE, "payment_provider_unavailable"),
        "stripe_refused" => (StatusCode::BAD_GATEWAY, "payment_provider_refused"),
        other => return ApiError::internal(format!("payment session: {other}: {message}")),
    };
    ApiError::new(status, code, message)
}

/// Ask the payment service for the cart's session at `amount` (minor units of the cart's
/// currency) and remember it on the cart; the reply must carry exactly that amount.
pub async fn request_session(
    conn: &mut PgConnection,
    bus: &ordo_bus::Bus,
    timeout: Duration,
    cart: &Cart,
    amount: i64,
    email: &str,
) -> Result<PaymentSession, ApiError> {
    let request = CreatePaymentSessionRequest {
        tenant_id: cart.tenant_id.to_string(),
        cart_id: cart.id.to_string(),
        customer_id: cart.customer_id.clone(),
        amount: Some(ordo_events::money(amount, cart.currency.as_str())),
        email: email.to_owned(),
    };
    let reply: CreatePaymentSessionReply =
        ordo_bus::rpc::request(bus, ordo_events::rpc::PAYMENT_CREATE_SESSION, &request, timeout)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, cart = %cart.id, "payment service did not answer");
                ApiError::unavailable("payment_service_unavailable")
            })?;
    let session = match reply.result {
        Some(R::Session(s)) => s,
        Some(R::Error(e)) => return Err(http_error(&e.code, &e.message)),
        None => return Err(ApiError::internal("payment session: empty reply")),
    };
    let got = session.amount.clone().unwrap_or_default();
    if got.amount_minor != amount || !got.currency.eq_ignore_ascii_case(cart.currency.as_str()) {
        return Err(ApiError::internal(format!(
            "payment session for {} {} answered with {} {}",
            amount, cart.currency, got.amount_minor, got.currency
        )));
    }
    sqlx::query("update orders.carts set payment_intent_id = $2, payment_amount = $3 where id = $1")
        .bind(cart.id)
        .bind(&session.payment_intent_id)
        .bind(amount)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(session)
}

/// After a change to `cart` (already applied in `conn`'s transaction): bring its session, if it
/// has one, to the new total. A cart with nothing left to pay keeps its session as it is
/// (it cannot be completed; a payment made on it anyway is refunded when it arrives).
pub async fn follow_cart(
    conn: &mut PgConnection,
    bus: &ordo_bus::Bus,
    timeout: Duration,
    cart: &Cart,
) -> Result<(), ApiError> {
    if cart.payment_intent_id.is_none() {
        return Ok(());
    }
    let total = cart.totals()?.total.amount();
    if total <= 0 || cart.payment_amount == Some(total) {
        return Ok(());
    }
    request_session(
        conn,
        bus,
        timeout,
        cart,
        total,
        cart.email.as_deref().unwrap_or_default(),
    )
    .await?;
    tracing::info!(cart = %cart.id, total, "payment session follows the changed cart");
    Ok(())
}
