//! Orders: read one, list (filters, sort, cursor), cancel, ask for a refund, and the numbers
//! for a period. Row-level security decides what a caller can see: another customer's or
//! tenant's order is simply not found.

use super::lifecycle::{self, Applied};
use super::{Error, Result};
use crate::store::orders::{self as store, ListFilter, ListRow, OrderDocRow};
use crate::store::refund_requests;
use crate::store::stats::{self, DayRow, PeriodRow, RefundsRow};
use ordo_bus::outbox::Outbox;
use ordo_db::Scope;
use ordo_domain::order::{CancelReason, OrderStatus, Trigger};
use ordo_events::order::v1::OrderRefundRequested;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// The order with lines and history, if visible.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<OrderDocRow> {
    store::document(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("order", id))
}

/// The order's status if the caller may see it, else `NotFound`.
pub async fn visible_status(conn: &mut PgConnection, id: Uuid) -> Result<OrderStatus> {
    let status = store::status(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("order", id))?;
    OrderStatus::parse(&status).ok_or_else(|| Error::internal(format!("order status {status}")))
}

/// A page of orders and whether there is a next one.
pub async fn list(conn: &mut PgConnection, filter: &ListFilter) -> Result<(Vec<ListRow>, bool)> {
    let mut rows = store::list(conn, filter).await?;
    let size = usize::try_from(filter.size).unwrap_or(0);
    let more = rows.len() > size;
    rows.truncate(size);
    Ok((rows, more))
}

/// Cancel the order for `reason` (a customer only while it is pending; the state machine decides
/// the rest), acting for the tenant once the caller has been shown to see the order.
pub async fn cancel(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
    reason: CancelReason,
    actor: &str,
) -> Result<OrderDocRow> {
    let status = visible_status(conn, id).await?;
    if reason == CancelReason::Customer && status != OrderStatus::Pending {
        return Err(Error::conflict(
            "order_not_cancelable",
            format!("a {status} order cannot be canceled by the customer"),
        ));
    }
    ordo_db::set_scope(conn, &Scope::service(tenant)).await?;
    match lifecycle::apply(
        conn,
        id,
        Uuid::now_v7(),
        Trigger::Cancel { reason },
        lifecycle::Source::actor(actor),
    )
    .await
    {
        Ok(Applied::Changed(_) | Applied::Duplicate) => {}
        Err(Error::Domain(e)) => {
            return Err(Error::conflict("order_not_cancelable", e.to_string()));
        }
        Err(e) => return Err(e),
    }
    get(conn, id).await
}

/// An operator's refund request, as recorded.
#[derive(Debug)]
pub struct RefundRequest {
    pub id: Uuid,
    pub order_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
}

/// Record a refund of `amount` (at most what was captured minus what is refunded or already
/// requested) and publish `ordo.order.v1.refund_requested` for the payment service.
pub async fn request_refund(
    conn: &mut PgConnection,
    id: Uuid,
    amount: i64,
    reason: &str,
    actor: &str,
) -> Result<RefundRequest> {
    let order = refund_requests::lock_refundable(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("order", id))?;
    let Some(captured) = order.captured_amount else {
        return Err(Error::conflict("order_not_paid", "only a paid order can be refunded"));
    };
    let remaining = captured - order.refunded_amount - order.pending;
    if amount > remaining {
        return Err(Error::invalid(
            "refund_exceeds_remaining",
            format!(
                "{amount} requested, but only {remaining} is left to refund (captured {captured}, refunded {}, in progress {})",
                order.refunded_amount, order.pending
            ),
            "amount",
        ));
    }
    let request = Uuid::now_v7();
    refund_requests::insert(
        conn,
        &refund_requests::NewRefundRequest {
            id: request,
            tenant_id: order.tenant_id,
            customer_id: &order.customer_id,
            order_id: id,
            amount,
            reason,
            requested_by: actor,
        },
    )
    .await?;
    let event = OrderRefundRequested {
        meta: Some(ordo_events::EventMetadata::for_event::<OrderRefundRequested>(
            &order.tenant_id.to_string(),
            &id.to_string(),
            0,
        )),
        order_id: id.to_string(),
        refund_request_id: request.to_string(),
        amount: Some(ordo_events::money(amount, &order.currency)),
        reason: reason.to_owned(),
        payment_intent_id: order.payment_intent_id.clone().unwrap_or_default(),
    };
    Outbox::new(crate::SCHEMA).enqueue(conn, &event).await?;
    Ok(RefundRequest {
        id: request,
        order_id: id,
        amount,
        currency: order.currency,
        reason: reason.to_owned(),
    })
}

/// The refund requests of a visible order, oldest first (with the order's currency).
pub async fn refund_requests(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<(String, Vec<refund_requests::RefundRequestRow>)> {
    let currency = store::currency(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("order", id))?;
    let rows = refund_requests::of_order(conn, id).await?;
    Ok((currency, rows))
}

/// The numbers of a period, per currency.
#[derive(Debug)]
pub struct Numbers {
    /// Orders created in the period and the previous one.
    pub period: Vec<PeriodRow>,
    pub days: Vec<DayRow>,
    /// Refunds made in the period and the previous one.
    pub refunds: Vec<RefundsRow>,
    /// (currency, status, orders created in the period)
    pub statuses: Vec<(String, String, i64)>,
}

/// The numbers of [from, to) per currency, with the previous period of the same length and a
/// per-day series.
pub async fn stats(conn: &mut PgConnection, tenant: Uuid, from: OffsetDateTime, to: OffsetDateTime) -> Result<Numbers> {
    let prev_from = from - (to - from);
    Ok(Numbers {
        period: stats::period(conn, tenant, prev_from, from, to).await?,
        days: stats::days(conn, tenant, from, to).await?,
        refunds: stats::refunds(conn, tenant, prev_from, from, to).await?,
        statuses: stats::statuses(conn, tenant, from, to).await?,
    })
}
