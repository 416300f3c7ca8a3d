//! `payments.refunds`: every refund ordo asked for or Stripe reported, counted once.

use super::payments::Payment;
use sqlx::PgConnection;
use uuid::Uuid;

/// A refund as the counting needs it.
#[derive(Debug, sqlx::FromRow)]
pub struct RefundRow {
    pub id: Uuid,
    pub status: String,
    pub reflected: bool,
    /// `order` (asked for by ordo) or `stripe` (made in Stripe's dashboard)
    pub source: String,
}

/// The status of refund request `id`, if it is known.
pub async fn status(conn: &mut PgConnection, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select status from payments.refunds where id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// What is being refunded or refunded and not yet counted on the payment.
pub async fn in_flight(conn: &mut PgConnection, payment: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select coalesce(sum(amount), 0)::bigint from payments.refunds
         where payment_id = $1 and status in ('requested', 'succeeded') and not reflected",
    )
    .bind(payment)
    .fetch_one(conn)
    .await
}

/// The refund of `payment` that is Stripe's `stripe_refund_id` or our request `request`, locked.
pub async fn lock_seen(
    conn: &mut PgConnection,
    payment: Uuid,
    stripe_refund_id: &str,
    request: Option<Uuid>,
) -> Result<Option<RefundRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, status, reflected, source from payments.refunds
         where payment_id = $1 and (stripe_refund_id = $2 or id = $3)
         order by (stripe_refund_id = $2) desc nulls last limit 1 for update",
    )
    .bind(payment)
    .bind(stripe_refund_id)
    .bind(request)
    .fetch_optional(conn)
    .await
}

/// The refund succeeded at Stripe and is now counted on the payment.
pub async fn counted(
    conn: &mut PgConnection,
    id: Uuid,
    stripe_refund_id: &str,
    amount: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update payments.refunds set status = 'succeeded', reflected = true,
            stripe_refund_id = $2, amount = $3, updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(stripe_refund_id)
    .bind(amount)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stripe reports the refund as `stripe_status` (failed or canceled).
pub async fn failed_at_stripe(
    conn: &mut PgConnection,
    id: Uuid,
    stripe_refund_id: &str,
    stripe_status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update payments.refunds set status = 'failed', stripe_refund_id = $2, failure_code = $3,
            failure_message = 'Stripe reports the refund as ' || $3, updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(stripe_refund_id)
    .bind(stripe_status)
    .execute(conn)
    .await?;
    Ok(())
}

/// A refund first seen at Stripe, under `id`: `source` `stripe` (from its dashboard) or `order`
/// (ours, reported before our request's own row committed).
pub async fn insert_from_stripe(
    conn: &mut PgConnection,
    id: Uuid,
    p: &Payment,
    seen: &crate::refunds::SeenRefund,
    status: &str,
    reflected: bool,
    source: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into payments.refunds (id, tenant_id, payment_id, order_id, amount, reason, status, stripe_refund_id,
            reflected, source)
         values ($1, $2, $3, $4, $5, case when $9 = 'stripe' then 'stripe_dashboard' else '' end, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(p.tenant_id)
    .bind(p.id)
    .bind(p.order_id)
    .bind(seen.amount.max(1))
    .bind(status)
    .bind(&seen.id)
    .bind(reflected)
    .bind(source)
    .execute(conn)
    .await?;
    Ok(())
}

/// A refund ordo asked for (`order.refund_requested` or a cancellation), as it stands.
#[allow(clippy::too_many_arguments)]
pub async fn insert_requested(
    conn: &mut PgConnection,
    id: Uuid,
    p: &Payment,
    amount: i64,
    reason: &str,
    status: &str,
    stripe_refund_id: Option<&str>,
    failure: Option<(&str, &str)>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into payments.refunds (id, tenant_id, payment_id, order_id, amount, reason, status, stripe_refund_id,
            failure_code, failure_message)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(p.tenant_id)
    .bind(p.id)
    .bind(p.order_id)
    .bind(amount)
    .bind(reason)
    .bind(status)
    .bind(stripe_refund_id)
    .bind(failure.map(|f| f.0))
    .bind(failure.map(|f| f.1))
    .execute(conn)
    .await?;
    Ok(())
}

/// Requested refunds of `tenant` at Stripe not settled for `secs`: (Stripe refund id,
/// PaymentIntent), oldest first (at most 100).
pub async fn unsettled_longer_than(
    conn: &mut PgConnection,
    tenant: Uuid,
    secs: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select r.stripe_refund_id, p.payment_intent_id from payments.refunds r
         join payments.payments p on p.id = r.payment_id
         where r.tenant_id = $1 and r.status = 'requested' and r.stripe_refund_id is not null
           and r.updated_at < now() - make_interval(secs => $2)
         order by r.updated_at limit 100",
    )
    .bind(tenant)
    .bind(secs as f64)
    .fetch_all(conn)
    .await
}

/// The refund was looked at now (it waits another period before the next look).
pub async fn looked_at(conn: &mut PgConnection, stripe_refund_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update payments.refunds set updated_at = now() where stripe_refund_id = $1")
        .bind(stripe_refund_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A refund as operators read it.
#[derive(Debug, sqlx::FromRow)]
pub struct RefundView {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount: i64,
    pub reason: String,
    pub status: String,
    pub source: String,
    pub stripe_refund_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: time::OffsetDateTime,
    pub updated_at: time::OffsetDateTime,
}

/// The refunds of the given payments, oldest first.
pub async fn of_payments(conn: &mut PgConnection, payments: &[Uuid]) -> Result<Vec<RefundView>, sqlx::Error> {
    sqlx::query_as(
        "select id, payment_id, amount, reason, status, source, stripe_refund_id, failure_code, failure_message,
                created_at, updated_at
         from payments.refunds where payment_id = any($1) order by created_at, id",
    )
    .bind(payments)
    .fetch_all(conn)
    .await
}
