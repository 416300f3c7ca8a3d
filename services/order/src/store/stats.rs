//! The numbers of a period from `orders.orders`, per currency and per day.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// Per currency over [from, to) and the previous period of the same length.
#[derive(Debug, sqlx::FromRow)]
pub struct PeriodRow {
    pub currency: String,
    pub orders: i64,
    pub revenue: i64,
    pub paid_orders: i64,
    pub awaiting_fulfillment: i64,
    pub prev_orders: i64,
    pub prev_revenue: i64,
    pub prev_paid_orders: i64,
    pub prev_awaiting_fulfillment: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub struct DayRow {
    pub currency: String,
    pub day: OffsetDateTime,
    pub orders: i64,
    pub revenue: i64,
}

pub async fn period(
    conn: &mut PgConnection,
    tenant: Uuid,
    prev_from: OffsetDateTime,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<PeriodRow>, sqlx::Error> {
    sqlx::query_as(
        "select trim(currency) as currency,
            count(*) filter (where created_at >= $2) as orders,
            coalesce(sum(coalesce(captured_amount, 0) - refunded_amount) filter (where created_at >= $2), 0)::bigint as revenue,
            count(*) filter (where created_at >= $2 and captured_amount is not null) as paid_orders,
            count(*) filter (where created_at >= $2 and status = 'paid') as awaiting_fulfillment,
            count(*) filter (where created_at < $2) as prev_orders,
            coalesce(sum(coalesce(captured_amount, 0) - refunded_amount) filter (where created_at < $2), 0)::bigint as prev_revenue,
            count(*) filter (where created_at < $2 and captured_amount is not null) as prev_paid_orders,
            count(*) filter (where created_at < $2 and status = 'paid') as prev_awaiting_fulfillment
         from orders.orders where tenant_id = $4 and created_at >= $1 and created_at < $3 group by currency order by currency",
    )
    .bind(prev_from)
    .bind(from)
    .bind(to)
    .bind(tenant)
    .fetch_all(conn)
    .await
}

pub async fn days(
    conn: &mut PgConnection,
    tenant: Uuid,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<DayRow>, sqlx::Error> {
    sqlx::query_as(
        "select trim(currency) as currency, date_trunc('day', created_at, 'UTC') as day, count(*) as orders,
                coalesce(sum(coalesce(captured_amount, 0) - refunded_amount), 0)::bigint as revenue
         from orders.orders where tenant_id = $3 and created_at >= $1 and created_at < $2 group by 1, 2 order by 1, 2",
    )
    .bind(from)
    .bind(to)
    .bind(tenant)
    .fetch_all(conn)
    .await
}

/// Refunds (each applied `refunded` trigger) per currency over [from, to) and the previous period.
#[derive(Debug, sqlx::FromRow)]
pub struct RefundsRow {
    pub currency: String,
    pub refunds: i64,
    pub refunded: i64,
    pub prev_refunds: i64,
    pub prev_refunded: i64,
}

pub async fn refunds(
    conn: &mut PgConnection,
    tenant: Uuid,
    prev_from: OffsetDateTime,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<RefundsRow>, sqlx::Error> {
    sqlx::query_as(
        "select trim(o.currency) as currency,
            count(*) filter (where h.created_at >= $2) as refunds,
            coalesce(sum((h.detail->>'amount')::bigint) filter (where h.created_at >= $2), 0)::bigint as refunded,
            count(*) filter (where h.created_at < $2) as prev_refunds,
            coalesce(sum((h.detail->>'amount')::bigint) filter (where h.created_at < $2), 0)::bigint as prev_refunded
         from orders.order_state_history h join orders.orders o on o.id = h.order_id
         where h.tenant_id = $4 and h.trigger = 'refunded' and h.created_at >= $1 and h.created_at < $3
         group by 1 order by 1",
    )
    .bind(prev_from)
    .bind(from)
    .bind(to)
    .bind(tenant)
    .fetch_all(conn)
    .await
}

/// Orders created in [from, to) per currency and status.
pub async fn statuses(
    conn: &mut PgConnection,
    tenant: Uuid,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select trim(currency), status, count(*) from orders.orders
         where tenant_id = $1 and created_at >= $2 and created_at < $3 group by 1, 2 order by 1, 2",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}
