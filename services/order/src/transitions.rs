//! Stored orders through the pure state machine: load the order (row-locked), its lines and its
//! applied event ids; apply the trigger; persist the change, one history row and the outbox
//! events — all inside the caller's transaction. A repeat of an applied (event id, trigger)
//! changes nothing.

use crate::db_err;
use ordo_bus::outbox::Outbox;
use ordo_domain::order::{
    Change, Effect, FulfillmentStatus, Line, LineKind, Order, OrderStatus, Outcome, PaymentStatus, Snapshot,
    TransitionError, Trigger, TriggerKind,
};
use ordo_domain::{Currency, Money};
use ordo_events::common::v1::LineKind as WireKind;
use ordo_events::order::v1::*;
use ordo_events::{EventMetadata, money};
use ordo_http::ApiError;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

const OUTBOX: &str = "orders";

/// What the stored order looks like, beyond the state machine.
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

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Domain(#[from] TransitionError),
    #[error("{0}")]
    Store(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Store(e)
    }
}

fn parse<T>(v: Option<T>, what: &str) -> Result<T, ApiError> {
    v.ok_or_else(|| ApiError::internal(format!("stored order has an invalid {what}")))
}

/// Load and lock an order with everything the state machine needs.
pub async fn load(conn: &mut PgConnection, order_id: Uuid) -> Result<Option<(Order, Record)>, ApiError> {
    let Some(row) = sqlx::query(
        "select id, tenant_id, customer_id, cart_id, number, email, currency, status, payment_status, fulfillment_status,
                subtotal, shipping_total, tax_total, total, captured_amount, refunded_amount, failed_payment_attempts,
                payment_intent_id, version
         from orders.orders where id = $1 for update",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?
    else {
        return Ok(None);
    };
    let currency: String = row.try_get("currency").map_err(db_err)?;
    let currency = Currency::parse(currency.trim()).map_err(ApiError::internal)?;
    let m = |v: i64| Money::try_new(v, currency).map_err(ApiError::internal);
    let line_rows = sqlx::query(
        "select id, variant_id, sku, title, kind, asset_key, quantity, unit_price, subtotal, tax,
                fulfilled_at is not null as fulfilled, delivered_at is not null as delivered
         from orders.order_lines where order_id = $1 order by id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut lines = Vec::new();
    let mut wire_lines = Vec::new();
    for r in &line_rows {
        let kind: String = r.try_get("kind").map_err(db_err)?;
        let id: Uuid = r.try_get("id").map_err(db_err)?;
        lines.push(Line {
            id,
            kind: parse(LineKind::parse(&kind), "line kind")?,
            fulfilled: r.try_get("fulfilled").map_err(db_err)?,
            delivered: r.try_get("delivered").map_err(db_err)?,
        });
        let qty: i32 = r.try_get("quantity").map_err(db_err)?;
        wire_lines.push(OrderLine {
            line_id: id.to_string(),
            variant_id: r.try_get::<Uuid, _>("variant_id").map_err(db_err)?.to_string(),
            sku: r.try_get("sku").map_err(db_err)?,
            title: r.try_get("title").map_err(db_err)?,
            kind: if kind == "digital" {
                WireKind::Digital as i32
            } else {
                WireKind::Physical as i32
            },
            quantity: u32::try_from(qty).unwrap_or(0),
            unit_price: Some(money(r.try_get("unit_price").map_err(db_err)?, currency.as_str())),
            subtotal: Some(money(r.try_get("subtotal").map_err(db_err)?, currency.as_str())),
            tax: Some(money(r.try_get("tax").map_err(db_err)?, currency.as_str())),
            asset_key: r
                .try_get::<Option<String>, _>("asset_key")
                .map_err(db_err)?
                .unwrap_or_default(),
        });
    }
    let applied: Vec<(Uuid, String)> =
        sqlx::query_as("select event_id, trigger from orders.order_state_history where order_id = $1 order by id")
            .bind(order_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
    let applied = applied
        .into_iter()
        .filter_map(|(id, t)| {
            TriggerKind::parse(&t)
                .filter(|k| *k != TriggerKind::CartCompleted)
                .map(|k| (id, k))
        })
        .collect();
    let status: String = row.try_get("status").map_err(db_err)?;
    let payment_status: String = row.try_get("payment_status").map_err(db_err)?;
    let fulfillment_status: String = row.try_get("fulfillment_status").map_err(db_err)?;
    let captured: Option<i64> = row.try_get("captured_amount").map_err(db_err)?;
    let order = Order::restore(Snapshot {
        status: parse(OrderStatus::parse(&status), "status")?,
        payment_status: parse(PaymentStatus::parse(&payment_status), "payment status")?,
        fulfillment_status: parse(FulfillmentStatus::parse(&fulfillment_status), "fulfillment status")?,
        total: m(row.try_get("total").map_err(db_err)?)?,
        captured: captured.map(m).transpose()?,
        refunded: m(row.try_get("refunded_amount").map_err(db_err)?)?,
        failed_attempts: u32::try_from(row.try_get::<i32, _>("failed_payment_attempts").map_err(db_err)?).unwrap_or(0),
        lines,
        applied,
    });
    let record = Record {
        id: order_id,
        tenant_id: row.try_get("tenant_id").map_err(db_err)?,
        customer_id: row.try_get("customer_id").map_err(db_err)?,
        cart_id: row.try_get("cart_id").map_err(db_err)?,
        number: row.try_get("number").map_err(db_err)?,
        email: row.try_get("email").map_err(db_err)?,
        currency,
        payment_intent_id: row.try_get("payment_intent_id").map_err(db_err)?,
        version: row.try_get("version").map_err(db_err)?,
        subtotal: row.try_get("subtotal").map_err(db_err)?,
        shipping: row.try_get("shipping_total").map_err(db_err)?,
        tax: row.try_get("tax_total").map_err(db_err)?,
        lines: wire_lines,
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

async fn history(
    conn: &mut PgConnection,
    rec: &Record,
    from: Option<OrderStatus>,
    change: (&OrderStatus, TriggerKind, Uuid, PaymentStatus, FulfillmentStatus),
    actor: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let (to, trigger, event_id, ps, fs) = change;
    sqlx::query(
        "insert into orders.order_state_history (tenant_id, customer_id, order_id, from_status, to_status, trigger,
            event_id, actor, payment_status, fulfillment_status, detail)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(rec.tenant_id)
    .bind(&rec.customer_id)
    .bind(rec.id)
    .bind(from.map(|s| s.as_str()))
    .bind(to.as_str())
    .bind(trigger.as_str())
    .bind(event_id)
    .bind(actor)
    .bind(ps.as_str())
    .bind(fs.as_str())
    .bind(detail)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

fn bus_err(e: ordo_bus::BusError) -> ApiError {
    ApiError::internal(e)
}

/// The first history row and `ordo.order.v1.placed` of a freshly inserted order.
pub async fn placed(conn: &mut PgConnection, order_id: Uuid, actor: &str) -> Result<(), ApiError> {
    let (order, rec) = load(conn, order_id)
        .await?
        .ok_or_else(|| ApiError::internal("new order not found"))?;
    let m = meta::<OrderPlaced>(&rec, rec.version, None);
    let event_id = Uuid::parse_str(&m.event_id).map_err(ApiError::internal)?;
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
    history(
        conn,
        &rec,
        None,
        (
            &OrderStatus::Pending,
            TriggerKind::CartCompleted,
            event_id,
            order.payment_status(),
            order.fulfillment_status(),
        ),
        actor,
        serde_json::json!({}),
    )
    .await?;
    Outbox::new(OUTBOX).enqueue(conn, &event).await.map_err(bus_err)?;
    Ok(())
}

/// Result of applying a trigger to a stored order.
#[derive(Debug)]
pub enum Applied {
    Changed(Change),
    Duplicate,
}

/// Apply `trigger` (identified by `event_id`) to the stored order, in `conn`'s transaction.
/// `payment_intent_id`, when given, is remembered on the order.
pub async fn apply(
    conn: &mut PgConnection,
    order_id: Uuid,
    event_id: Uuid,
    trigger: Trigger,
    actor: &str,
    cause: Option<&EventMetadata>,
    payment_intent_id: Option<&str>,
) -> Result<Applied, Failure> {
    let (mut order, rec) = load(conn, order_id).await?.ok_or(Failure::NotFound)?;
    let before = order.clone();
    let detail = match &trigger {
        Trigger::PaymentFailed { reason } => serde_json::json!({ "reason": reason }),
        Trigger::PaymentSucceeded { amount } if *amount != order.total() => serde_json::json!({
            "amount": amount.amount(), "currency": amount.currency().as_str(), "reason": "payment_mismatch",
            "order_total": order.total().amount(),
        }),
        Trigger::Cancel { reason } => serde_json::json!({ "reason": reason.as_str() }),
        Trigger::Refunded { amount } | Trigger::PaymentSucceeded { amount } => {
            serde_json::json!({ "amount": amount.amount() })
        }
        Trigger::LinesFulfilled { lines } | Trigger::LinesDelivered { lines } => serde_json::json!({ "lines": lines }),
        _ => serde_json::json!({}),
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
    sqlx::query(
        "update orders.orders set status = $2, payment_status = $3, fulfillment_status = $4, captured_amount = $5,
            refunded_amount = $6, failed_payment_attempts = $7, payment_intent_id = coalesce($8, payment_intent_id),
            version = $9, updated_at = now()
         where id = $1",
    )
    .bind(order_id)
    .bind(order.status().as_str())
    .bind(order.payment_status().as_str())
    .bind(order.fulfillment_status().as_str())
    .bind(order.captured().map(|m| m.amount()))
    .bind(order.refunded().amount())
    .bind(i32::try_from(order.failed_attempts()).unwrap_or(i32::MAX))
    .bind(payment_intent_id)
    .bind(version)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
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
        sqlx::query("update orders.order_lines set fulfilled_at = now() where id = any($1)")
            .bind(&fulfilled)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    if !delivered.is_empty() {
        sqlx::query("update orders.order_lines set delivered_at = now() where id = any($1)")
            .bind(&delivered)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    history(
        conn,
        &rec,
        Some(change.from),
        (
            &change.to,
            change.trigger,
            event_id,
            change.payment_status,
            change.fulfillment_status,
        ),
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

async fn publish(
    conn: &mut PgConnection,
    rec: &Record,
    order: &Order,
    change: &Change,
    version: i64,
    cause: Option<&EventMetadata>,
    cancel_reason: &str,
) -> Result<(), ApiError> {
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
        outbox.enqueue(conn, &e).await.map_err(bus_err)?;
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
                outbox.enqueue(conn, &e).await.map_err(bus_err)?;
            }
            OrderStatus::Fulfilled => {
                let e = OrderFulfilled {
                    meta: Some(meta::<OrderFulfilled>(rec, version, cause)),
                    order_id: id.clone(),
                };
                outbox.enqueue(conn, &e).await.map_err(bus_err)?;
            }
            OrderStatus::Delivered => {
                let e = OrderDelivered {
                    meta: Some(meta::<OrderDelivered>(rec, version, cause)),
                    order_id: id.clone(),
                };
                outbox.enqueue(conn, &e).await.map_err(bus_err)?;
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
                outbox.enqueue(conn, &e).await.map_err(bus_err)?;
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
                outbox.enqueue(conn, &e).await.map_err(bus_err)?;
            }
            _ => {}
        }
    }
    for effect in &change.effects {
        match effect {
            Effect::ReleaseInventory => {
                sqlx::query(
                    "update orders.variants v set inventory = v.inventory + l.qty
                     from (select variant_id, sum(coalesce(reserved, quantity))::int as qty from orders.order_lines
                           where order_id = $1 group by variant_id) l
                     where v.id = l.variant_id and v.inventory is not null",
                )
                .bind(rec.id)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            }
            Effect::RefundPayment { amount } => {
                let e = OrderRefundRequested {
                    meta: Some(meta::<OrderRefundRequested>(rec, version, cause)),
                    order_id: id.clone(),
                    refund_request_id: Uuid::now_v7().to_string(),
                    amount: Some(money(amount.amount(), c)),
                    reason: "paid_after_cancellation".into(),
                    payment_intent_id: pi.clone(),
                };
                outbox.enqueue(conn, &e).await.map_err(bus_err)?;
            }
            // Carried by order.canceled (cancel_payment) and order.refunded respectively.
            Effect::CancelPayment | Effect::RevokeDownloads => {}
        }
    }
    Ok(())
}
