//! Events in, messages out: the consumers' handler. Each event that a customer should hear
//! about becomes one message row (unique per event and kind, so a redelivered event adds
//! nothing), in the consumer's inbox transaction; the sender does the rest.
//!
//! | event | message |
//! |---|---|
//! | `order.placed` | order_confirmation (and the order is remembered: address, number, lines) |
//! | `order.paid` | payment_received (download links are issued when it is sent) |
//! | `payment.failed` (of a placed order) | payment_failed, with the order page to pay again |
//! | `delivery.shipment_created` | shipped (carrier, tracking number, the lines) |
//! | `payment.refunded` | refunded (this refund's amount, and the total when partial refunds add up) |
//! | `order.canceled` | canceled (with its reason) |
//! | `order.payment_rejected` | payment_returned: a payment that became no order was refunded in full |

use ordo_bus::consumer::{Delivery, Handler, HandlerError};
use ordo_events::Event;
use ordo_events::common::v1::{LineKind, Money};
use ordo_events::delivery::v1::ShipmentCreated;
use ordo_events::order::v1::{OrderCanceled, OrderLine, OrderPaid, OrderPaymentRejected, OrderPlaced};
use ordo_events::payment::v1::{PaymentFailed, PaymentRefunded};
use serde_json::{Value, json};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Intake {
    /// What links promise in the payment-received message until the delivery service says
    /// (the links it issues carry their expiry and remaining downloads).
    pub link_ttl_secs: u64,
    pub max_downloads: u32,
    /// Deliveries of a `payment.failed` without a known order before it is taken for a failure
    /// at checkout (below the consumer's attempts, so it is not dead-lettered).
    pub cart_attempts: u32,
}

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
}

fn minor(m: Option<&Money>) -> i64 {
    m.map_or(0, |m| m.amount_minor)
}

fn line(l: &OrderLine) -> Value {
    json!({"line_id": l.line_id, "title": l.title, "sku": l.sku,
        "kind": if l.kind() == LineKind::Digital { "digital" } else { "physical" },
        "quantity": l.quantity, "unit_price": minor(l.unit_price.as_ref()), "subtotal": minor(l.subtotal.as_ref())})
}

/// What the service knows of an order (from `order.placed`).
struct Known {
    email: String,
    number: i64,
    currency: String,
    lines: Value,
}

async fn known(tx: &mut PgConnection, order: Uuid) -> Result<Known, HandlerError> {
    let row = sqlx::query("select email, order_number, currency, lines from notifications.orders where order_id = $1")
        .bind(order)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| HandlerError::Transient(format!("order {order} not known yet (order.placed pending)")))?;
    Ok(Known {
        email: row.try_get("email")?,
        number: row.try_get("order_number")?,
        currency: row.try_get("currency")?,
        lines: row.try_get("lines")?,
    })
}

struct New<'a> {
    tenant: Uuid,
    event: Uuid,
    kind: &'static str,
    order: Uuid,
    recipient: &'a str,
    data: Value,
}

async fn enqueue(tx: &mut PgConnection, m: New<'_>) -> Result<(), HandlerError> {
    if m.recipient.trim().is_empty() {
        tracing::info!(order = %m.order, kind = m.kind, "no e-mail address; nothing to send");
        return Ok(());
    }
    let inserted = sqlx::query(
        "insert into notifications.messages (id, tenant_id, event_id, kind, order_id, recipient, data)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (event_id, kind) do nothing",
    )
    .bind(Uuid::now_v7())
    .bind(m.tenant)
    .bind(m.event)
    .bind(m.kind)
    .bind(m.order)
    .bind(m.recipient.trim())
    .bind(&m.data)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 1 {
        metrics::counter!("ordo_notification_messages_queued_total", "kind" => m.kind).increment(1);
    }
    Ok(())
}

/// The events that make messages; every other one is acknowledged unread. Keep in step with
/// the `match` of [`Intake::handle`].
pub const HANDLED: &[&str] = &[
    OrderPlaced::SUBJECT,
    OrderPaid::SUBJECT,
    OrderCanceled::SUBJECT,
    OrderPaymentRejected::SUBJECT,
    PaymentFailed::SUBJECT,
    PaymentRefunded::SUBJECT,
    ShipmentCreated::SUBJECT,
];

impl Handler for Intake {
    fn subjects(&self) -> Option<&'static [&'static str]> {
        Some(HANDLED)
    }

    async fn handle(&self, tx: &mut PgConnection, d: &Delivery) -> Result<(), HandlerError> {
        let tenant = d.tenant_id.ok_or_else(|| permanent("event without tenant"))?;
        let uuid =
            |s: &str| Uuid::parse_str(s).map_err(|_| permanent(format!("{} has a bad order id {s:?}", d.subject)));
        let event = d.event_id;
        match d.subject.as_str() {
            OrderPlaced::SUBJECT => {
                let e: OrderPlaced = d.decode()?;
                let order = uuid(&e.order_id)?;
                let t = e.totals.clone().unwrap_or_default();
                let currency = t.total.as_ref().map(|m| m.currency.clone()).unwrap_or_default();
                let lines: Vec<Value> = e.lines.iter().map(line).collect();
                let totals = json!({"subtotal": minor(t.subtotal.as_ref()), "shipping": minor(t.shipping.as_ref()),
                    "tax": minor(t.tax.as_ref()), "total": minor(t.total.as_ref())});
                sqlx::query(
                    "insert into notifications.orders (order_id, tenant_id, order_number, cart_id, customer_id, email,
                         currency, lines, totals)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (order_id) do nothing",
                )
                .bind(order)
                .bind(tenant)
                .bind(e.order_number as i64)
                .bind(Uuid::parse_str(&e.cart_id).ok())
                .bind(&e.customer_id)
                .bind(&e.email)
                .bind(&currency)
                .bind(json!(lines))
                .bind(&totals)
                .execute(&mut *tx)
                .await?;
                let data =
                    json!({"order_number": e.order_number, "currency": currency, "lines": lines, "totals": totals});
                enqueue(
                    tx,
                    New {
                        tenant,
                        event,
                        kind: "order_confirmation",
                        order,
                        recipient: &e.email,
                        data,
                    },
                )
                .await
            }
            OrderPaid::SUBJECT => {
                let e: OrderPaid = d.decode()?;
                let order = uuid(&e.order_id)?;
                let currency = e.amount.as_ref().map(|m| m.currency.clone()).unwrap_or_default();
                let lines: Vec<Value> = e.lines.iter().map(line).collect();
                let data = json!({"order_number": e.order_number, "currency": currency,
                    "amount": minor(e.amount.as_ref()), "lines": lines,
                    "has_digital": e.lines.iter().any(|l| l.kind() == LineKind::Digital),
                    "has_physical": e.lines.iter().any(|l| l.kind() == LineKind::Physical),
                    "links_uses": self.max_downloads, "link_ttl_secs": self.link_ttl_secs});
                enqueue(
                    tx,
                    New {
                        tenant,
                        event,
                        kind: "payment_received",
                        order,
                        recipient: &e.email,
                        data,
                    },
                )
                .await
            }
            OrderCanceled::SUBJECT => {
                let e: OrderCanceled = d.decode()?;
                let order = uuid(&e.order_id)?;
                let data = json!({"order_number": e.order_number, "reason": match e.reason.as_str() {
                    "expired" => "it was not paid in time", "customer" => "at your request",
                    "operator" => "by the shop",
                    "payment_mismatch" => "the payment we received did not match the order total; it is refunded in full",
                    _ => "" }});
                enqueue(
                    tx,
                    New {
                        tenant,
                        event,
                        kind: "canceled",
                        order,
                        recipient: &e.email,
                        data,
                    },
                )
                .await
            }
            OrderPaymentRejected::SUBJECT => {
                let e: OrderPaymentRejected = d.decode()?;
                if e.email.is_empty() {
                    tracing::info!(cart = %e.cart_id, "refunded payment without an e-mail: nobody to tell");
                    return Ok(());
                }
                // No order exists: the message is keyed by the cart.
                let cart = uuid(&e.cart_id)?;
                let data = json!({"currency": e.amount.as_ref().map(|m| m.currency.clone()).unwrap_or_default(),
                    "amount": minor(e.amount.as_ref()), "reason": match e.reason.as_str() {
                        "cart_empty" => "the cart was empty",
                        "variant_unpriced" => "an item is no longer sold in your currency",
                        "missing_email" | "missing_shipping" => "the checkout was not finished",
                        _ => "the cart could no longer be ordered" }});
                enqueue(
                    tx,
                    New {
                        tenant,
                        event,
                        kind: "payment_returned",
                        order: cart,
                        recipient: &e.email,
                        data,
                    },
                )
                .await
            }
            PaymentFailed::SUBJECT => {
                let e: PaymentFailed = d.decode()?;
                let order = if e.order_id.is_empty() {
                    // The payment service may not have heard of the order yet: find it by cart.
                    let by_cart: Option<Uuid> =
                        sqlx::query_scalar("select order_id from notifications.orders where cart_id = $1")
                            .bind(Uuid::parse_str(&e.cart_id).ok())
                            .fetch_optional(&mut *tx)
                            .await?;
                    match by_cart {
                        Some(o) => o,
                        // The order may be on its way (order.placed not consumed yet): wait a
                        // few attempts. Then it is a payment still at checkout, where the
                        // storefront shows the failure: no order to write about.
                        None if d.attempt < self.cart_attempts => {
                            return Err(HandlerError::Transient(format!(
                                "no order for cart {} (yet)",
                                e.cart_id
                            )));
                        }
                        None => return Ok(()),
                    }
                } else {
                    uuid(&e.order_id)?
                };
                let k = known(tx, order).await?;
                let data = json!({"order_number": k.number, "reason": e.failure_message});
                enqueue(
                    tx,
                    New {
                        tenant,
                        event,
                        kind: "payment_failed",
                        order,
                        recipient: &k.email,
                        data,
                    },
                )
                .await
            }
            PaymentRefunded::SUBJECT => {
                let e: PaymentRefunded = d.decode()?;
                if e.order_id.is_empty() {
                    // The refund of a payment that became no order: payment_returned tells it.
                    return Ok(());
                }
                let order = uuid(&e.order_id)?;
                let k = known(tx, order).await?;
                let currency = e.amount.as_ref().map_or(k.currency.clone(), |m| m.currency.clone());
                let data = json!({"order_number": k.number, "currency": currency,
                    "amount": minor(e.amount.as_ref()), "refunded_total": minor(e.refunded_total.as_ref())});
                enqueue(
                    tx,
                    New {
                        tenant,
                        event,
                        kind: "refunded",
                        order,
                        recipient: &k.email,
                        data,
                    },
                )
                .await
            }
            ShipmentCreated::SUBJECT => {
                let e: ShipmentCreated = d.decode()?;
                let order = uuid(&e.order_id)?;
                let k = known(tx, order).await?;
                let lines: Vec<Value> = k
                    .lines
                    .as_array()
                    .map(|ls| {
                        ls.iter()
                            .filter(|l| e.line_ids.iter().any(|id| l["line_id"] == id.as_str()))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let data = json!({"order_number": k.number, "currency": k.currency, "carrier": e.carrier,
                    "tracking_number": e.tracking_number, "lines": lines});
                enqueue(
                    tx,
                    New {
                        tenant,
                        event,
                        kind: "shipped",
                        order,
                        recipient: &k.email,
                        data,
                    },
                )
                .await
            }
            _ => Ok(()),
        }
    }
}
