//! A payment that cannot become an order is given back, visibly.
//!
//! When `payment.succeeded` arrives for a cart the storefront never completed and the cart
//! cannot become an order (unknown, emptied after the session, a line without price, no e-mail
//! or shipping, closed), the order service records that on the cart (status
//! `payment_refunded`: it takes no further payment) and publishes
//! `ordo.order.v1.payment_rejected`. The payment service refunds the payment in full, the
//! notification service tells the customer. Never a dead letter: the money always goes back.
//! (A payment for another amount or currency than an order's total is handled by the state
//! machine instead: the order is canceled with reason `payment_mismatch` and refunded.)

use super::Result;
use super::cart::Cart;
use crate::store::carts;
use ordo_bus::outbox::Outbox;
use ordo_domain::cart::CartStatus;
use ordo_events::order::v1::OrderPaymentRejected;
use ordo_events::payment::v1::PaymentSucceeded;
use ordo_events::{Event, EventMetadata};
use sqlx::PgConnection;
use uuid::Uuid;

/// Record the rejection of the payment `paid` for `cart_id`.
pub async fn payment_rejected(
    tx: &mut PgConnection,
    paid: &PaymentSucceeded,
    tenant: Uuid,
    cart_id: Uuid,
    cart: Option<&Cart>,
    code: &'static str,
    message: &str,
) -> Result<()> {
    if let Some(c) = cart {
        carts::set_status(tx, c.id, CartStatus::PaymentRefunded.as_str()).await?;
    }
    let cause = paid.meta.clone().unwrap_or_default();
    let mut meta = EventMetadata::caused_by::<OrderPaymentRejected>(&cause, &cart_id.to_string(), 0);
    meta.tenant_id = tenant.to_string();
    let event = OrderPaymentRejected {
        meta: Some(meta),
        cart_id: cart_id.to_string(),
        payment_intent_id: paid.payment_intent_id.clone(),
        payment_id: paid.payment_id.clone(),
        amount: paid.amount.clone(),
        reason: code.to_owned(),
        message: message.to_owned(),
        customer_id: cart.map(|c| c.customer_id.clone()).unwrap_or(paid.customer_id.clone()),
        email: cart.and_then(|c| c.rules.email.clone()).unwrap_or_default(),
    };
    Outbox::new(crate::SCHEMA).enqueue(tx, &event).await?;
    metrics::counter!("ordo_payments_rejected_total", "reason" => code).increment(1);
    tracing::error!(
        cart = %cart_id,
        payment_intent = %paid.payment_intent_id,
        reason = code,
        %message,
        subject = OrderPaymentRejected::SUBJECT,
        "a payment that cannot become an order is refunded"
    );
    Ok(())
}
