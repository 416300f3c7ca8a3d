//! The payment events a payment's changes publish, built from its row, and their outbox (in the
//! caller's transaction).

use crate::store::payments::Payment;
use ordo_bus::outbox::Outbox;
use ordo_events::payment::v1::*;
use ordo_events::{Event, EventMetadata, money};
use sqlx::PgConnection;
use uuid::Uuid;

/// The outbox (the service's schema).
pub const OUTBOX: &str = "payments";

fn meta<E: Event>(p: &Payment) -> EventMetadata {
    EventMetadata::for_event::<E>(
        &p.tenant_id.to_string(),
        &p.id.to_string(),
        u64::try_from(p.version).unwrap_or(0),
    )
}

fn order_id(p: &Payment) -> String {
    p.order_id.map(|o| o.to_string()).unwrap_or_default()
}

/// Put `event` in the outbox.
pub async fn publish<E: Event>(conn: &mut PgConnection, event: &E) -> Result<(), sqlx::Error> {
    Outbox::new(OUTBOX)
        .enqueue(conn, event)
        .await
        .map(|_| ())
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))
}

pub fn session_created(p: &Payment) -> PaymentSessionCreated {
    PaymentSessionCreated {
        meta: Some(meta::<PaymentSessionCreated>(p)),
        payment_id: p.id.to_string(),
        cart_id: p.cart_id.to_string(),
        payment_intent_id: p.payment_intent_id.clone(),
        amount: Some(money(p.amount, &p.currency)),
    }
}

pub fn processing(p: &Payment, authorized: bool, amount: i64) -> PaymentProcessing {
    PaymentProcessing {
        meta: Some(meta::<PaymentProcessing>(p)),
        payment_id: p.id.to_string(),
        cart_id: p.cart_id.to_string(),
        order_id: order_id(p),
        payment_intent_id: p.payment_intent_id.clone(),
        authorized,
        amount: Some(money(amount, &p.currency)),
    }
}

pub fn succeeded(p: &Payment) -> PaymentSucceeded {
    PaymentSucceeded {
        meta: Some(meta::<PaymentSucceeded>(p)),
        payment_id: p.id.to_string(),
        cart_id: p.cart_id.to_string(),
        order_id: order_id(p),
        payment_intent_id: p.payment_intent_id.clone(),
        amount: Some(money(p.captured_amount, &p.currency)),
        customer_id: p.customer_id.clone(),
    }
}

pub fn failed(p: &Payment, code: &str, message: &str) -> PaymentFailed {
    PaymentFailed {
        meta: Some(meta::<PaymentFailed>(p)),
        payment_id: p.id.to_string(),
        cart_id: p.cart_id.to_string(),
        order_id: order_id(p),
        payment_intent_id: p.payment_intent_id.clone(),
        failure_code: code.to_owned(),
        failure_message: message.to_owned(),
    }
}

pub fn canceled(p: &Payment) -> PaymentCanceled {
    PaymentCanceled {
        meta: Some(meta::<PaymentCanceled>(p)),
        payment_id: p.id.to_string(),
        cart_id: p.cart_id.to_string(),
        order_id: order_id(p),
        payment_intent_id: p.payment_intent_id.clone(),
    }
}

pub fn refunded(p: &Payment, refund_id: &str, amount: i64, request: Option<Uuid>) -> PaymentRefunded {
    PaymentRefunded {
        meta: Some(meta::<PaymentRefunded>(p)),
        payment_id: p.id.to_string(),
        order_id: order_id(p),
        payment_intent_id: p.payment_intent_id.clone(),
        refund_id: refund_id.to_owned(),
        amount: Some(money(amount, &p.currency)),
        refunded_total: Some(money(p.refunded_amount, &p.currency)),
        refund_request_id: request.map(|r| r.to_string()).unwrap_or_default(),
    }
}

pub fn refund_failed(p: &Payment, request: Uuid, amount: i64, code: &str, message: &str) -> PaymentRefundFailed {
    PaymentRefundFailed {
        meta: Some(meta::<PaymentRefundFailed>(p)),
        payment_id: p.id.to_string(),
        order_id: order_id(p),
        refund_request_id: request.to_string(),
        amount: Some(money(amount, &p.currency)),
        failure_code: code.to_owned(),
        failure_message: message.to_owned(),
    }
}
