//! `orders.refund_requests`: operators' refund requests and their outcome.

use sqlx::PgConnection;
use uuid::Uuid;

/// What a refund request is checked against (the order row locked).
#[derive(Debug, sqlx::FromRow)]
pub struct Refundable {
    pub tenant_id: Uuid,
    pub customer_id: String,
    pub currency: String,
    pub captured_amount: Option<i64>,
    pub refunded_amount: i64,
    pub payment_intent_id: Option<String>,
    /// Requested and not settled yet.
    pub pending: i64,
}

pub async fn lock_refundable(conn: &mut PgConnection, order: Uuid) -> Result<Option<Refundable>, sqlx::Error> {
    sqlx::query_as(
        "select o.tenant_id, o.customer_id, trim(o.currency) as currency, o.captured_amount,
                o.refunded_amount, o.payment_intent_id,
                (select coalesce(sum(r.amount), 0)::bigint from orders.refund_requests r
                  where r.order_id = o.id and r.status = 'requested') as pending
         from orders.orders o where o.id = $1 for update",
    )
    .bind(order)
    .fetch_optional(conn)
    .await
}

#[derive(Debug)]
pub struct NewRefundRequest<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: &'a str,
    pub order_id: Uuid,
    pub amount: i64,
    pub reason: &'a str,
    pub requested_by: &'a str,
}

pub async fn insert(conn: &mut PgConnection, r: &NewRefundRequest<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into orders.refund_requests (id, tenant_id, customer_id, order_id, amount, reason, status, requested_by)
         values ($1, $2, $3, $4, $5, $6, 'requested', $7)",
    )
    .bind(r.id)
    .bind(r.tenant_id)
    .bind(r.customer_id)
    .bind(r.order_id)
    .bind(r.amount)
    .bind(r.reason)
    .bind(r.requested_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Settle a requested refund: `succeeded`, or `failed` with Stripe's code and message.
pub async fn settle(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
    failure: Option<(&str, &str)>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update orders.refund_requests set status = $2, failure_code = $3, failure_message = $4, updated_at = now()
         where id = $1 and status = 'requested'",
    )
    .bind(id)
    .bind(status)
    .bind(failure.map(|f| f.0))
    .bind(failure.map(|f| f.1))
    .execute(conn)
    .await?;
    Ok(())
}

/// A refund request as operators read it.
#[derive(Debug, sqlx::FromRow)]
pub struct RefundRequestRow {
    pub id: Uuid,
    pub amount: i64,
    pub reason: String,
    pub status: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub requested_by: String,
    pub created_at: time::OffsetDateTime,
    pub updated_at: time::OffsetDateTime,
}

/// The refund requests of an order, oldest first.
pub async fn of_order(conn: &mut PgConnection, order: Uuid) -> Result<Vec<RefundRequestRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, amount, reason, status, failure_code, failure_message, requested_by, created_at, updated_at
         from orders.refund_requests where order_id = $1 order by created_at, id",
    )
    .bind(order)
    .fetch_all(conn)
    .await
}
