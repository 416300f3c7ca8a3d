//! The `payments.payments` row (the mirror of one Stripe PaymentIntent) and the payment events
//! its changes publish through the outbox, in the caller's transaction.

use crate::state::PaymentState;
use ordo_bus::outbox::Outbox;
use ordo_events::payment::v1::*;
use ordo_events::{Event, EventMetadata, money};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, Row};
use uuid::Uuid;

pub const OUTBOX: &str = "payments";

#[derive(Debug, Clone)]
pub struct Payment {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub cart_id: Uuid,
    pub order_id: Option<Uuid>,
    pub customer_id: String,
    pub payment_intent_id: String,
    pub client_secret: Option<String>,
    pub currency: String,
    pub amount: i64,
    pub status: PaymentState,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    pub failed_attempts: i32,
    pub order_canceled: bool,
    pub last_event_created: i64,
    pub version: i64,
}

impl Payment {
    /// A payment not yet attempted, for intent `pi` of `cart`.
    pub fn unpaid(
        id: Uuid,
        tenant: Uuid,
        cart: Uuid,
        customer: &str,
        pi: &str,
        currency: &str,
        amount: i64,
    ) -> Payment {
        Payment {
            id,
            tenant_id: tenant,
            cart_id: cart,
            order_id: None,
            customer_id: customer.to_owned(),
            payment_intent_id: pi.to_owned(),
            client_secret: None,
            currency: currency.to_ascii_uppercase(),
            amount,
            status: PaymentState::RequiresPaymentMethod,
            captured_amount: 0,
            refunded_amount: 0,
            failed_attempts: 0,
            order_canceled: false,
            last_event_created: 0,
            version: 0,
        }
    }
}

impl FromRow<'_, PgRow> for Payment {
    fn from_row(r: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Payment {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            cart_id: r.try_get("cart_id")?,
            order_id: r.try_get("order_id")?,
            customer_id: r.try_get("customer_id")?,
            payment_intent_id: r.try_get("payment_intent_id")?,
            client_secret: r.try_get("client_secret")?,
            currency: r.try_get("currency")?,
            amount: r.try_get("amount")?,
            status: {
                let s: String = r.try_get("status")?;
                PaymentState::parse(&s)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown payment status {s:?}").into()))?
            },
            captured_amount: r.try_get("captured_amount")?,
            refunded_amount: r.try_get("refunded_amount")?,
            failed_attempts: r.try_get("failed_attempts")?,
            order_canceled: r.try_get("order_canceled")?,
            last_event_created: r.try_get("last_event_created")?,
            version: r.try_get("version")?,
        })
    }
}

const COLUMNS: &str = "id, tenant_id, cart_id, order_id, customer_id, payment_intent_id, client_secret, \
     trim(currency) as currency, amount, status, captured_amount, refunded_amount, failed_attempts, order_canceled, \
     last_event_created, version";

pub async fn by_intent(conn: &mut PgConnection, pi: &str) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from payments.payments where payment_intent_id = $1 for update"
    )))
    .bind(pi)
    .fetch_optional(conn)
    .await
}

pub async fn by_cart(conn: &mut PgConnection, tenant: Uuid, cart: Uuid) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from payments.payments where tenant_id = $1 and cart_id = $2 for update"
    )))
    .bind(tenant)
    .bind(cart)
    .fetch_optional(conn)
    .await
}

pub async fn by_order(conn: &mut PgConnection, tenant: Uuid, order: Uuid) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from payments.payments where tenant_id = $1 and order_id = $2 for update"
    )))
    .bind(tenant)
    .bind(order)
    .fetch_optional(conn)
    .await
}

/// A new payment row (and the tenant in the tenant list); returns it, or the row that already
/// exists for the intent.
pub async fn insert(conn: &mut PgConnection, p: &Payment) -> Result<Payment, sqlx::Error> {
    sqlx::query("insert into payments.tenants (tenant_id) values ($1) on conflict do nothing")
        .bind(p.tenant_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "insert into payments.payments (id, tenant_id, cart_id, order_id, customer_id, payment_intent_id, client_secret,
            currency, amount, status)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         on conflict (payment_intent_id) do nothing",
    )
    .bind(p.id)
    .bind(p.tenant_id)
    .bind(p.cart_id)
    .bind(p.order_id)
    .bind(&p.customer_id)
    .bind(&p.payment_intent_id)
    .bind(&p.client_secret)
    .bind(&p.currency)
    .bind(p.amount)
    .bind(p.status.as_str())
    .execute(&mut *conn)
    .await?;
    by_intent(conn, &p.payment_intent_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

/// Persist the mutable fields of `p` (bumping its version).
pub async fn save(conn: &mut PgConnection, p: &mut Payment, status_changed: bool) -> Result<(), sqlx::Error> {
    p.version += 1;
    sqlx::query(
        "update payments.payments set order_id = $2, status = $3, captured_amount = $4, refunded_amount = $5,
            failed_attempts = $6, order_canceled = $7, last_event_created = $8, amount = $9, version = $10,
            status_since = case when $11 then now() else status_since end, updated_at = now()
         where id = $1",
    )
    .bind(p.id)
    .bind(p.order_id)
    .bind(p.status.as_str())
    .bind(p.captured_amount)
    .bind(p.refunded_amount)
    .bind(p.failed_attempts)
    .bind(p.order_canceled)
    .bind(p.last_event_created)
    .bind(p.amount)
    .bind(p.version)
    .bind(status_changed)
    .execute(conn)
    .await?;
    Ok(())
}

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

/// The payment events of the library, built from the row.
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

// ---- received Stripe events ----------------------------------------------------------------------

/// Store a Stripe event by its id; false when it was stored before (a repeat).
pub async fn record_stripe_event(
    conn: &mut PgConnection,
    id: &str,
    kind: &str,
    created: i64,
    payment_intent_id: Option<&str>,
    payload: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let fresh: Option<String> = sqlx::query_scalar(
        "insert into payments.stripe_events (id, type, created, payment_intent_id, payload)
         values ($1, $2, $3, $4, $5) on conflict (id) do nothing returning id",
    )
    .bind(id)
    .bind(kind)
    .bind(created)
    .bind(payment_intent_id)
    .bind(payload)
    .fetch_optional(conn)
    .await?;
    Ok(fresh.is_some())
}

/// Mark a stored Stripe event processed with its outcome (`applied` or why it was ignored).
pub async fn stripe_event_processed(conn: &mut PgConnection, id: &str, outcome: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update payments.stripe_events set processed_at = now(), outcome = $2 where id = $1")
        .bind(id)
        .bind(outcome)
        .execute(conn)
        .await?;
    Ok(())
}
