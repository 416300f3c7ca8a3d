//! `payments.payments` (the mirror of one Stripe PaymentIntent) and `payments.tenants`.

use crate::state::PaymentState;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, Row};
use uuid::Uuid;

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
    sqlx::query(
        "with tenant as (insert into payments.tenants (tenant_id) values ($2) on conflict do nothing)
         insert into payments.payments (id, tenant_id, cart_id, order_id, customer_id, payment_intent_id, client_secret,
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

/// Remember the order of the cart's payment (`order.placed`).
pub async fn set_order(conn: &mut PgConnection, tenant: Uuid, cart: Uuid, order: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update payments.payments set order_id = $3 where tenant_id = $1 and cart_id = $2")
        .bind(tenant)
        .bind(cart)
        .bind(order)
        .execute(conn)
        .await?;
    Ok(())
}

/// The statement that serialises the payment sessions of one cart (a transaction-level advisory
/// lock), for the transaction's `BEGIN` batch ([`ordo_db::begin_scoped_claimed`]).
pub fn cart_session_lock(cart: Uuid) -> String {
    format!("SELECT pg_advisory_xact_lock(hashtextextended('payment-session:{cart}', 0))")
}

pub async fn set_client_secret(conn: &mut PgConnection, id: Uuid, secret: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query("update payments.payments set client_secret = $2 where id = $1")
        .bind(id)
        .bind(secret)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_currency(conn: &mut PgConnection, id: Uuid, currency: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update payments.payments set currency = $2 where id = $1")
        .bind(id)
        .bind(currency)
        .execute(conn)
        .await?;
    Ok(())
}

/// The last failure Stripe reported for the payment.
pub async fn set_failure(conn: &mut PgConnection, id: Uuid, code: &str, message: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update payments.payments set failure_code = $2, failure_message = $3 where id = $1")
        .bind(id)
        .bind(code)
        .bind(message)
        .execute(conn)
        .await?;
    Ok(())
}

/// Start the payment's current status period again (still `processing` at Stripe).
pub async fn restart_status_period(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update payments.payments set status_since = now() where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Tenants with payments (read as `system`).
pub async fn tenants(conn: &mut PgConnection) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select tenant_id from payments.tenants")
        .fetch_all(conn)
        .await
}

/// PaymentIntents of `tenant` `processing` for longer than `secs`, longest first (at most 100).
pub async fn processing_longer_than(
    conn: &mut PgConnection,
    tenant: Uuid,
    secs: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select payment_intent_id from payments.payments
         where tenant_id = $1 and status = 'processing' and status_since < now() - make_interval(secs => $2)
         order by status_since limit 100",
    )
    .bind(tenant)
    .bind(secs as f64)
    .fetch_all(conn)
    .await
}

/// A payment as operators read it.
#[derive(Debug, sqlx::FromRow)]
pub struct PaymentView {
    pub id: Uuid,
    pub cart_id: Uuid,
    pub order_id: Option<Uuid>,
    pub payment_intent_id: String,
    pub currency: String,
    pub amount: i64,
    pub status: String,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    pub failed_attempts: i32,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: time::OffsetDateTime,
    pub updated_at: time::OffsetDateTime,
}

/// The payments of an order (visible to the scope), oldest first.
pub async fn of_order(conn: &mut PgConnection, order: Uuid) -> Result<Vec<PaymentView>, sqlx::Error> {
    sqlx::query_as(
        "select id, cart_id, order_id, payment_intent_id, trim(currency) as currency, amount, status, captured_amount,
                refunded_amount, failed_attempts, failure_code, failure_message, created_at, updated_at
         from payments.payments where order_id = $1 order by created_at",
    )
    .bind(order)
    .fetch_all(conn)
    .await
}
