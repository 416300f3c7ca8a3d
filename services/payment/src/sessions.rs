//! `ordo.rpc.payment.v1.create_session`: create (or update) the PaymentIntent of a cart and
//! return its client secret. One payment per cart: requests for a cart are serialised by an
//! advisory lock, the Stripe call carries an idempotency key derived from tenant, cart, amount
//! and currency (a lost answer is retried with the same key, so Stripe replays instead of
//! creating a second intent), and the row is unique per cart.

use crate::AppState;
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
            status: p.status.clone(),
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

/// Answer one request (never panics; every failure is an `RpcError`).
pub async fn create_session(state: Arc<AppState>, req: CreatePaymentSessionRequest) -> CreatePaymentSessionReply {
    match create(&state, req).await {
        Ok(reply) => reply,
        Err(e) => {
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
    let mut tx = ordo_db::begin_scoped(&state.pool, &Scope::service(tenant)).await?;
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('payment-session:' || $1::text, 0))")
        .bind(cart)
        .execute(&mut *tx)
        .await?;
    if let Some(mut p) = store::by_cart(&mut tx, tenant, cart).await? {
        if p.currency != currency {
            return Ok(error(
                "currency_changed",
                "the cart's currency differs from its payment's",
            ));
        }
        if p.amount == amount.amount_minor
            || matches!(p.status.as_str(), "succeeded" | "processing" | "requires_capture")
        {
            if p.amount != amount.amount_minor {
                return Ok(error(
                    "payment_in_progress",
                    "the cart is already being paid for another amount",
                ));
            }
            return Ok(session(&p));
        }
        if p.status == "canceled" {
            return Ok(error("payment_canceled", "the cart's payment was canceled"));
        }
        let key = format!("ordo-pi-update-{}-{}", p.payment_intent_id, amount.amount_minor);
        let updated = match state
            .stripe
            .update_amount(&p.payment_intent_id, &key, amount.amount_minor)
            .await
        {
            Ok(i) => i,
            Err(e) => return Ok(stripe_error(&e)),
        };
        p.amount = updated.amount;
        store::save(&mut tx, &mut p, false).await?;
        tx.commit().await?;
        return Ok(session(&p));
    }
    let payment_id = Uuid::now_v7();
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
    // The key names the attempt, not the payment id (which is new each time): a retry after a
    // lost answer or a crash gets the same intent back.
    let key = format!("ordo-pi-{tenant}-{cart}-{}-{currency}", amount.amount_minor);
    let intent = match state.stripe.create_intent(&key, &new).await {
        Ok(i) => i,
        Err(e) => return Ok(stripe_error(&e)),
    };
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
        sqlx::query("update payments.payments set client_secret = $2 where id = $1")
            .bind(p.id)
            .bind(&intent.client_secret)
            .execute(&mut *tx)
            .await?;
    }
    store::publish(&mut tx, &store::session_created(&p)).await?;
    tx.commit().await?;
    metrics::counter!("ordo_payment_sessions_created_total").increment(1);
    Ok(session(&Payment {
        client_secret: intent.client_secret,
        ..p
    }))
}
