//! The cart's PaymentIntent follows the cart's total.
//!
//! The payment service is asked (NATS request-reply, `ordo.rpc.payment.v1.create_session`) for
//! the cart's session when the storefront asks for one, and again after every change to a cart
//! that already has one. A change the payment can no longer follow (the customer confirmed at
//! Stripe meanwhile) is refused (`payment_in_progress`) and rolled back with the request. The
//! amount the session was last set to is kept on the cart (`payment_amount`), so that completion
//! can refuse a cart whose total moved under the session (a catalog price change).

use super::cart::Cart;
use super::{Error, Peers, Result};
use crate::store::carts as store;
use ordo_events::payment::v1::{
    CreatePaymentSessionReply, CreatePaymentSessionRequest, create_payment_session_reply::Result as Reply,
};
use sqlx::PgConnection;

pub use ordo_events::payment::v1::PaymentSession as Session;

/// Ask the payment service for the cart's session at `amount` (minor units of the cart's
/// currency) and remember it on the cart; the reply must carry exactly that amount.
pub async fn request_session(
    conn: &mut PgConnection,
    peers: &Peers,
    cart: &Cart,
    amount: i64,
    email: &str,
) -> Result<Session> {
    let currency = cart.currency();
    let request = CreatePaymentSessionRequest {
        tenant_id: cart.tenant_id.to_string(),
        cart_id: cart.id.to_string(),
        customer_id: cart.customer_id.clone(),
        amount: Some(ordo_events::money(amount, currency.as_str())),
        email: email.to_owned(),
    };
    let reply: CreatePaymentSessionReply = ordo_bus::rpc::request(
        &peers.bus,
        ordo_events::rpc::PAYMENT_CREATE_SESSION,
        &request,
        peers.payment_timeout,
    )
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, cart = %cart.id, "payment service did not answer");
        Error::Unavailable {
            code: "payment_service_unavailable",
        }
    })?;
    let session = match reply.result {
        Some(Reply::Session(s)) => s,
        Some(Reply::Error(e)) => {
            return Err(Error::Refused {
                service: "payment",
                code: e.code,
                message: e.message,
            });
        }
        None => return Err(Error::internal("payment session: empty reply")),
    };
    let got = session.amount.clone().unwrap_or_default();
    if got.amount_minor != amount || !got.currency.eq_ignore_ascii_case(currency.as_str()) {
        return Err(Error::internal(format!(
            "payment session for {amount} {currency} answered with {} {}",
            got.amount_minor, got.currency
        )));
    }
    store::set_payment(conn, cart.id, &session.payment_intent_id, amount).await?;
    Ok(session)
}

/// After a change to `cart` (already applied in `conn`'s transaction): bring its session, if it
/// has one, to the new total. A cart with nothing left to pay keeps its session as it is
/// (it cannot be completed; a payment made on it anyway is refunded when it arrives).
pub async fn follow_cart(conn: &mut PgConnection, peers: &Peers, cart: &Cart) -> Result<()> {
    if cart.payment_intent_id.is_none() {
        return Ok(());
    }
    let total = cart.totals()?.total.amount();
    if total <= 0 || cart.payment_amount == Some(total) {
        return Ok(());
    }
    let email = cart.rules.email.clone().unwrap_or_default();
    request_session(conn, peers, cart, total, &email).await?;
    tracing::info!(cart = %cart.id, total, "payment session follows the changed cart");
    Ok(())
}
