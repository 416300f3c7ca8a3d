//! `ordo.rpc.payment.v1.create_session`: create (or update) the PaymentIntent of a cart and
//! return its client secret. One payment per cart: requests for a cart are serialised by an
//! advisory lock and the row is unique per cart.
//!
//! * Creation carries an idempotency key derived from tenant, cart, amount, currency and the
//!   payment id, itself derived from those and the customer and e-mail: a retry after a lost
//!   answer or a lost commit sends the same call with the same key, so Stripe replays instead of
//!   creating a second intent (or refusing the key for other parameters).
//! * An existing, still payable intent is always set to the requested amount at Stripe, under a
//!   key unique to the request: replaying another request's answer (the old
//!   `ordo-pi-update-{pi}-{amount}` key did, for a cart going 2 → 1 → 2 → 1) can never leave
//!   Stripe on another amount.
//! * Whatever Stripe answers is checked against the requested amount and currency before a
//!   session is handed out.

use crate::AppState;
use crate::events;
use crate::state::PaymentState;
use crate::store::{self, Payment};
use ordo_db::Scope;
use ordo_events::common::v1::RpcError;
use ordo_events::money;
use ordo_events::payment::v1::{
    CreatePaymentSessionReply, CreatePaymentSessionRequest, PaymentSession,
    create_payment_session_reply::Result as Reply,
};
use ordo_stripe::{CallError, NewIntent};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// The namespace of payment ids derived from a creation attempt (UUIDv5).
const PAYMENT_IDS: Uuid = Uuid::from_u128(0x6f72_646f_7061_796d_656e_7473_0000_0001);

fn error(code: &str, message: impl Into<String>) -> CreatePaymentSessionReply {
    CreatePaymentSessionReply {
        result: Some(Reply::Error(RpcError {
            code: code.to_owned(),
            message: message.into(),
        })),
    }
}

fn session(p: &Payment) -> CreatePaymentSessionReply {
    CreatePaymentSessionReply {
        result: Some(Reply::Session(PaymentSession {
            payment_id: p.id.to_string(),
            payment_intent_id: p.payment_intent_id.clone(),
            client_secret: p.client_secret.clone().unwrap_or_default(),
            status: p.status.as_str().to_owned(),
            amount: Some(money(p.amount, &p.currency)),
        })),
    }
}

fn stripe_error(e: &CallError) -> CreatePaymentSessionReply {
    tracing::warn!(error = %e, "payment session: Stripe call failed");
    if e.is_transient() {
        error("stripe_unavailable", "the payment provider is not reachable; try again")
    } else {
        error("stripe_refused", "the payment provider refused the payment session")
    }
}

/// What Stripe answered must be what was asked for; a session for any other amount is never
/// handed out.
fn check_intent(intent: &ordo_stripe::Intent, amount: i64, currency: &str) -> Option<CreatePaymentSessionReply> {
    if intent.amount == amount && intent.currency.eq_ignore_ascii_case(currency) {
        return None;
    }
    tracing::error!(
        intent = %intent.id,
        stripe_amount = intent.amount,
        stripe_currency = %intent.currency,
        amount,
        currency,
        "Stripe's PaymentIntent does not carry the cart's total; no session handed out"
    );
    metrics::counter!("ordo_payment_session_mismatches_total").increment(1);
    Some(error(
        "stripe_mismatch",
        "the payment provider did not set the cart's total; try again",
    ))
}

/// Answer one request (never panics; every failure is an `RpcError`).
pub async fn create_session(state: Arc<AppState>, req: CreatePaymentSessionRequest) -> CreatePaymentSessionReply {
    match create(&state, req).await {
        Ok(reply) => reply,
        Err(e) => {
            if ordo_http::connection_lost(&e) {
                tracing::warn!(error = %e, "payment session rolled back: database connection lost");
                return error("unavailable", "the payment service lost its database; retry");
            }
            tracing::error!(error = %e, "payment session failed");
            error("internal", "the payment session could not be created")
        }
    }
}

async fn create(state: &AppState, req: CreatePaymentSessionRequest) -> Result<CreatePaymentSessionReply, sqlx::Error> {
    let (Ok(tenant), Ok(cart)) = (Uuid::parse_str(&req.tenant_id), Uuid::parse_str(&req.cart_id)) else {
        return Ok(error("invalid_request", "tenant_id and cart_id must be UUIDs"));
    };
    let Some(amount) = req
        .amount
        .as_ref()
        .filter(|m| m.amount_minor > 0 && m.currency.len() == 3)
    else {
        return Ok(error(
            "invalid_amount",
            "the amount must be positive with an ISO currency",
        ));
    };
    if req.customer_id.is_empty() {
        return Ok(error("invalid_request", "customer_id is required"));
    }
    let currency = amount.currency.to_ascii_uppercase();
    // The cart's sessions queue up on its lock, taken in the BEGIN batch.
    let lock = store::payments::cart_session_lock(cart);
    let mut tx = ordo_db::begin_scoped_claimed(&state.pool, &Scope::service(tenant), &lock).await?;
    if let Some(mut p) = store::by_cart(&mut tx, tenant, cart).await? {
        if p.currency != currency {
            return Ok(error(
                "currency_changed",
                "the cart's currency differs from its payment's",
            ));
        }
        match p.status {
            PaymentState::Succeeded | PaymentState::Processing | PaymentState::RequiresCapture => {
                if p.amount != amount.amount_minor {
                    return Ok(error(
                        "payment_in_progress",
                        "the cart is already being paid for another amount",
                    ));
                }
                return Ok(session(&p));
            }
            PaymentState::Canceled => return Ok(error("payment_canceled", "the cart's payment was canceled")),
            _ => {}
        }
        // Our mirror may lag behind Stripe (a crash after an update, an answer lost), so the
        // amount is always set at Stripe, under a key no other request ever uses: a replayed
        // answer to an earlier update can never stand in for this one.
        let key = format!("ordo-pi-update-{}-{}", p.payment_intent_id, Uuid::new_v4().simple());
        let updated = match state
            .stripe
            .update_amount(&p.payment_intent_id, &key, amount.amount_minor)
            .await
        {
            Ok(i) => i,
            Err(CallError::Refused { code, .. }) if code == "payment_intent_unexpected_state" => {
                // Confirmed at Stripe meanwhile (its webhook is on the way): the amount is fixed.
                return Ok(error(
                    "payment_in_progress",
                    "the cart is already being paid; its amount can no longer change",
                ));
            }
            Err(e) => return Ok(stripe_error(&e)),
        };
        if let Some(reply) = check_intent(&updated, amount.amount_minor, &currency) {
            return Ok(reply);
        }
        p.amount = updated.amount;
        store::save(&mut tx, &mut p, false).await?;
        tx.commit().await?;
        metrics::counter!("ordo_payment_sessions_updated_total").increment(1);
        return Ok(session(&p));
    }
    // Every parameter of the creation follows from the request, the payment id in its metadata
    // too (derived, not drawn): a retry after a lost answer, or after a crash before this
    // transaction committed, sends exactly the first call under the same key, and Stripe
    // replays the first intent. (Stripe refuses a key reused with other parameters: with a
    // fresh id per attempt, such a cart could never be paid.) A retry with another e-mail is
    // another call under another key.
    let attempt = format!(
        "{tenant}/{cart}/{}/{currency}/{}/{}",
        amount.amount_minor, req.customer_id, req.email
    );
    let payment_id = Uuid::new_v5(&PAYMENT_IDS, attempt.as_bytes());
    let metadata = HashMap::from([
        ("ordo_tenant_id".to_owned(), tenant.to_string()),
        ("ordo_cart_id".to_owned(), cart.to_string()),
        ("ordo_customer_id".to_owned(), req.customer_id.clone()),
        ("ordo_payment_id".to_owned(), payment_id.to_string()),
    ]);
    let new = NewIntent {
        amount: amount.amount_minor,
        currency: currency.clone(),
        metadata,
        receipt_email: Some(req.email.clone()).filter(|e| !e.is_empty()),
        description: Some(format!("cart {cart}")),
        manual_capture: false,
    };
    let key = format!(
        "ordo-pi-{tenant}-{cart}-{}-{currency}-{}",
        amount.amount_minor,
        payment_id.simple()
    );
    let intent = match state.stripe.create_intent(&key, &new).await {
        Ok(i) => i,
        Err(e) => return Ok(stripe_error(&e)),
    };
    if let Some(reply) = check_intent(&intent, amount.amount_minor, &currency) {
        return Ok(reply);
    }
    // On a replay Stripe returns the first intent, whose metadata names the first payment id.
    let id = intent
        .metadata
        .get("ordo_payment_id")
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or(payment_id);
    let fresh = Payment {
        client_secret: intent.client_secret.clone(),
        ..Payment::unpaid(id, tenant, cart, &req.customer_id, &intent.id, &currency, intent.amount)
    };
    let p = store::insert(&mut tx, &fresh).await?;
    if p.client_secret.is_none() {
        store::payments::set_client_secret(&mut tx, p.id, intent.client_secret.as_deref()).await?;
    }
    events::publish(&mut tx, &events::session_created(&p)).await?;
    tx.commit().await?;
    metrics::counter!("ordo_payment_sessions_created_total").increment(1);
    Ok(session(&Payment {
        client_secret: intent.client_secret,
        ..p
    }))
}
