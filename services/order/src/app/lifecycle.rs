//! Stored orders through the pure state machine: load the order (row-locked), its lines and its
//! applied event ids; apply the trigger; persist the change, one history row and the outbox
//! events — all inside the caller's transaction. A repeat of an applied (event id, trigger)
//! changes nothing. [`placed_event`] is `order.placed` of an order [`super::checkout`] has just
//! made with `Order::place`.

use super::{Error, Result};
use crate::store::{catalog, orders as store};
use ordo_bus::outbox::Outbox;
use ordo_domain::order::{
    Change, Effect, FulfillmentStatus, Line, LineKind, Order, OrderStatus, Outcome, PaymentStatus, Snapshot, Trigger,
    TriggerKind,
};
use ordo_domain::{Currency, Money};
use ordo_events::common::v1::LineKind as WireKind;
use ordo_events::order::v1::*;
use ordo_events::{EventMetadata, money};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

const OUTBOX: &str = crate::SCHEMA;

/// What the stored order carries beyond the state machine (for events and history).
#[derive(Debug, Clone)]
pub struct Record {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: String,
    pub cart_id: Uuid,
    pub number: i64,
    pub email: String,
    pub currency: Currency,
    pub payment_intent_id: Option<String>,
    pub version: i64,
    pub subtotal: i64,
    pub shipping: i64,
    pub tax: i64,
    pub lines: Vec<OrderLine>,
}

fn stored<T>(v: Option<T>, what: &str) -> Result<T> {
    v.ok_or_else(|| Error::internal(format!("stored order has an invalid {what}")))
}

/// A line as events carry it.
pub fn wire_line(l: &store::LineRow, currency: Currency) -> OrderLine {
    let c = currency.as_str();
    OrderLine {
        line_id: l.id.to_string(),
        variant_id: l.variant_id.to_string(),
        sku: l.sku.clone(),
        title: l.title.clone(),
        kind: if l.kind == LineKind::Digital.as_str() {
            WireKind::Digital as i32
        } else {
            WireKind::Physical as i32
        },
        quantity: u32::try_from(l.quantity).unwrap_or(0),
        unit_price: Some(money(l.unit_price, c)),
        subtotal: Some(money(l.subtotal, c)),
        tax: Some(money(l.tax, c)),
        asset_key: l.asset_key.clone().unwrap_or_default(),
    }
}

/// Load and lock an order with everything the state machine needs.
pub async fn load(conn: &mut PgConnection, order_id: Uuid) -> Result<Option<(Order, Record)>> {
    let Some(locked) = store::lock(conn, order_id).await? else {
        return Ok(None);
    };
    let row = locked.order;
    let currency = Currency::parse(row.currency.trim()).map_err(Error::internal)?;
    let m = |v: i64| Money::try_new(v, currency).map_err(Error::internal);
    let line_rows = locked.lines.0;
    let lines = line_rows
        .iter()
        .map(|l| {
            Ok(Line {
                id: l.id,
                kind: stored(LineKind::parse(&l.kind), "line kind")?,
                fulfilled: l.fulfilled,
                delivered: l.delivered,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let applied = locked
        .applied
        .0
        .into_iter()
        .filter_map(|(id, t)| {
            TriggerKind::parse(&t)
                .filter(|k| *k != TriggerKind::CartCompleted)
                .map(|k| (id, k))
        })
        .collect();
    let order = Order::restore(Snapshot {
        status: stored(OrderStatus::parse(&row.status), "status")?,
        payment_status: stored(PaymentStatus::parse(&row.payment_status), "payment status")?,
        fulfillment_status: stored(FulfillmentStatus::parse(&row.fulfillment_status), "fulfillment status")?,
        total: m(row.total)?,
        captured: row.captured_amount.map(m).transpose()?,
        refunded: m(row.refunded_amount)?,
        failed_attempts: u32::try_from(row.failed_payment_attempts).unwrap_or(0),
        lines,
        applied,
    });
    let record = Record {
        id: order_id,
        tenant_id: row.tenant_id,
        customer_id: row.customer_id,
        cart_id: row.cart_id,
        number: row.number,
        email: row.email,
        currency,
        payment_intent_id: row.payment_intent_id,
        version: row.version,
        subtotal: row.subtotal,
        shipping: row.shipping_total,
        tax: row.tax_total,
        lines: line_rows.iter().map(|l| wire_line(l, currency)).collect(),
    };
    Ok(Some((order, record)))
}

fn meta<E: ordo_events::Event>(rec: &Record, version: i64, cause: Option<&EventMetadata>) -> EventMetadata {
    let v = u64::try_from(version).unwrap_or(0);
    match cause {
        Some(c) => {
            let mut m = EventMetadata::caused_by::<E>(c, &rec.id.to_string(), v);
            m.tenant_id = rec.tenant_id.to_string();
            m
        }
        None => EventMetadata::for_event::<E>(&rec.tenant_id.to_string(), &rec.id.to_string(), v),
    }
}

/// One history row for `rec` moving from `from` by `change`.
#[allow(clippy::too_many_arguments)]
async fn history(
    conn: &mut PgConnection,
    rec: &Record,
    from: Option<OrderStatus>,
    to: OrderStatus,
    trigger: TriggerKind,
    event_id: Uuid,
    statuses: (PaymentStatus, FulfillmentStatus),
    actor: &str,
    detail: serde_json::Value,
) -> Result<()> {
    store::insert_history(
        conn,
        &store::HistoryEntry {
            tenant_id: rec.tenant_id,
            customer_id: &rec.customer_id,
            order_id: rec.id,
            from: from.map(|s| s.as_str()),
            to: to.as_str(),
            trigger: trigger.as_str(),
            event_id,
            actor,
            payment_status: statuses.0.as_str(),
            fulfillment_status: statuses.1.as_str(),
            detail,
        },
    )
    .await?;
    Ok(())
}

/// `ordo.order.v1.placed` of the order [`super::checkout`] has just made from `order` with
/// `Order::place`, and its event id (the order's first history row names it). The order number is
/// filled in once the order row has taken it.
pub fn placed_event(order: &Order, rec: &Record) -> Result<(Uuid, OrderPlaced)> {
    let m = meta::<OrderPlaced>(rec, rec.version, None);
    let event_id = Uuid::parse_str(&m.event_id).map_err(Error::internal)?;
    let c = rec.currency.as_str();
    let event = OrderPlaced {
        meta: Some(m),
        order_id: rec.id.to_string(),
        order_number: u64::try_from(rec.number).unwrap_or(0),
        cart_id: rec.cart_id.to_string(),
        customer_id: rec.customer_id.clone(),
        email: rec.email.clone(),
        lines: rec.lines.clone(),
        totals: Some(Totals {
            subtotal: Some(money(rec.subtotal, c)),
            shipping: Some(money(rec.shipping, c)),
            tax: Some(money(rec.tax, c)),
            total: Some(money(order.total().amount(), c)),
        }),
        ..Default::default()
    };
    Ok((event_id, event))
}

/// Result of applying a trigger to a stored order.
#[derive(Debug)]
pub enum Applied {
    Changed(Change),
    Duplicate,
}

/// Who or what applies a trigger, and what the history row should say besides the trigger's own
/// detail.
#[derive(Debug, Default)]
pub struct Source<'a> {
    /// e.g. `customer:<subject>`, `admin:<subject>`, `event:<subject>`, `system:expiry`
    pub actor: &'a str,
    /// The event that caused it (its ids go into the events this publishes).
    pub cause: Option<&'a EventMetadata>,
    /// Remembered on the order when given.
    pub payment_intent_id: Option<&'a str>,
    /// More for the history row's detail (an object, merged in), e.g. a shipment's carrier.
    pub note: Option<serde_json::Value>,
}

impl<'a> Source<'a> {
    pub fn actor(actor: &'a str) -> Source<'a> {
        Source {
            actor,
            ..Default::default()
        }
    }
}

/// Apply `trigger` (identified by `event_id`) to the stored order, in `conn`'s transaction.
/// `NotFound` when there is no such order (visible to the scope), `Domain` when the state
/// machine refuses.
pub async fn apply(
    conn: &mut PgConnection,
    order_id: Uuid,
    event_id: Uuid,
    trigger: Trigger,
    source: Source<'_>,
) -> Result<Applied> {
    let Source {
        actor,
        cause,
        payment_intent_id,
        note,
    } = source;
    let (mut order, rec) = load(conn, order_id)
        .await?
        .ok_or_else(|| Error::not_found("order", order_id))?;
    let before = order.clone();
    let detail = match &trigger {
        Trigger::PaymentFailed { reason } => json!({ "reason": reason }),
        Trigger::PaymentSucceeded { amount } if *amount != order.total() => json!({
            "amount": amount.amount(), "currency": amount.currency().as_str(), "reason": "payment_mismatch",
            "order_total": order.total().amount(),
        }),
        Trigger::Cancel { reason } => json!({ "reason": reason.as_str() }),
        Trigger::Refunded { amount } | Trigger::PaymentSucceeded { amount } => json!({ "amount": amount.amount() }),
        Trigger::LinesFulfilled { lines } | Trigger::LinesDelivered { lines } => json!({ "lines": lines }),
        _ => json!({}),
    };
    let detail = match (detail, note) {
        (serde_json::Value::Object(mut d), Some(serde_json::Value::Object(n))) => {
            d.extend(n);
            serde_json::Value::Object(d)
        }
        (d, _) => d,
    };
    // Why the order would be canceled by this trigger (carried by order.canceled).
    let cancel_reason = match &trigger {
        Trigger::Cancel { reason } => reason.as_str(),
        Trigger::PaymentSucceeded { .. } => "payment_mismatch",
        _ => "canceled",
    };
    let change = match order.apply(event_id, trigger)? {
        Outcome::Duplicate => return Ok(Applied::Duplicate),
        Outcome::Applied(c) => c,
    };
    let version = rec.version + 1;
    store::update_state(
        conn,
        order_id,
        &store::StateUpdate {
            status: order.status().as_str(),
            payment_status: order.payment_status().as_str(),
            fulfillment_status: order.fulfillment_status().as_str(),
            captured_amount: order.captured().map(|m| m.amount()),
            refunded_amount: order.refunded().amount(),
            failed_payment_attempts: i32::try_from(order.failed_attempts()).unwrap_or(i32::MAX),
            payment_intent_id,
            version,
        },
    )
    .await?;
    let newly = |f: fn(&Line) -> bool| -> Vec<Uuid> {
        order
            .lines()
            .iter()
            .zip(before.lines())
            .filter(|(a, b)| f(a) && !f(b))
            .map(|(a, _)| a.id)
            .collect()
    };
    let (fulfilled, delivered) = (newly(|l| l.fulfilled), newly(|l| l.delivered));
    if !fulfilled.is_empty() {
        store::mark_fulfilled(conn, &fulfilled).await?;
    }
    if !delivered.is_empty() {
        store::mark_delivered(conn, &delivered).await?;
    }
    history(
        conn,
        &rec,
        Some(change.from),
        change.to,
        change.trigger,
        event_id,
        (change.payment_status, change.fulfillment_status),
        actor,
        detail,
    )
    .await?;
    let rec = Record {
        payment_intent_id: payment_intent_id.map(str::to_owned).or(rec.payment_intent_id),
        ..rec
    };
    publish(conn, &rec, &order, &change, version, cause, cancel_reason).await?;
    Ok(Applied::Changed(change))
}

/// The outbox events and local effects of an applied change.
async fn publish(
    conn: &mut PgConnection,
    rec: &Record,
    order: &Order,
    change: &Change,
    version: i64,
    cause: Option<&EventMetadata>,
    cancel_reason: &str,
) -> Result<()> {
    let outbox = Outbox::new(OUTBOX);
    let id = rec.id.to_string();
    let pi = rec.payment_intent_id.clone().unwrap_or_default();
    let number = u64::try_from(rec.number).unwrap_or(0);
    let c = rec.currency.as_str();
    if matches!(
        change.trigger,
        TriggerKind::PaymentProcessing | TriggerKind::PaymentAuthorized
    ) {
        let e = OrderProcessing {
            meta: Some(meta::<OrderProcessing>(rec, version, cause)),
            order_id: id.clone(),
            payment_intent_id: pi.clone(),
            authorized: change.trigger == TriggerKind::PaymentAuthorized,
        };
        outbox.enqueue(conn, &e).await?;
    }
    if change.is_transition() {
        match change.to {
            OrderStatus::Paid => {
                let e = OrderPaid {
                    meta: Some(meta::<OrderPaid>(rec, version, cause)),
                    order_id: id.clone(),
                    order_number: number,
                    customer_id: rec.customer_id.clone(),
                    email: rec.email.clone(),
                    amount: order.captured().map(|m| money(m.amount(), c)),
                    lines: rec.lines.clone(),
                    payment_intent_id: pi.clone(),
                };
                outbox.enqueue(conn, &e).await?;
            }
            OrderStatus::Fulfilled => {
                let e = OrderFulfilled {
                    meta: Some(meta::<OrderFulfilled>(rec, version, cause)),
                    order_id: id.clone(),
                };
                outbox.enqueue(conn, &e).await?;
            }
            OrderStatus::Delivered => {
                let e = OrderDelivered {
                    meta: Some(meta::<OrderDelivered>(rec, version, cause)),
                    order_id: id.clone(),
                };
                outbox.enqueue(conn, &e).await?;
            }
            OrderStatus::Canceled => {
                let e = OrderCanceled {
                    meta: Some(meta::<OrderCanceled>(rec, version, cause)),
                    order_id: id.clone(),
                    reason: cancel_reason.to_owned(),
                    payment_intent_id: pi.clone(),
                    cancel_payment: change.effects.contains(&Effect::CancelPayment),
                    refund_amount: None,
                    customer_id: rec.customer_id.clone(),
                    email: rec.email.clone(),
                    order_number: number,
                };
                outbox.enqueue(conn, &e).await?;
            }
            OrderStatus::Refunded => {
                let e = OrderRefunded {
                    meta: Some(meta::<OrderRefunded>(rec, version, cause)),
                    order_id: id.clone(),
                    refunded_total: Some(money(order.refunded().amount(), c)),
                    customer_id: rec.customer_id.clone(),
                    email: rec.email.clone(),
                    order_number: number,
                };
                outbox.enqueue(conn, &e).await?;
            }
            _ => {}
        }
    }
    for effect in &change.effects {
        match effect {
            Effect::ReleaseInventory => catalog::release_order_stock(conn, rec.id).await?,
            Effect::RefundPayment { amount } => {
                let e = OrderRefundRequested {
                    meta: Some(meta::<OrderRefundRequested>(rec, version, cause)),
                    order_id: id.clone(),
                    refund_request_id: Uuid::now_v7().to_string(),
                    amount: Some(money(amount.amount(), c)),
                    reason: "paid_after_cancellation".into(),
                    payment_intent_id: pi.clone(),
                };
                outbox.enqueue(conn, &e).await?;
            }
            // Carried by order.canceled (cancel_payment) and order.refunded respectively.
            Effect::CancelPayment | Effect::RevokeDownloads => {}
        }
    }
    Ok(())
}
