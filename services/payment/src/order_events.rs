//! Order events the payment service acts on (consumer `payment_order_events`):
//! * `order.placed` — remember the order id on the cart's payment (later events carry it);
//! * `order.canceled` — cancel the PaymentIntent, or refund what is left if it already succeeded;
//! * `order.payment_rejected` — a payment that could not become an order: refund all of it;
//! * `order.refund_requested` — create the refund with the request id as idempotency key;
//!   partial and repeated refunds are allowed up to captured minus refunded (and minus refunds
//!   still in flight); anything more is refused with `payment.refund_failed`.
//!
//! Each runs inside the consumer's inbox transaction, the payment row locked: a redelivery is a
//! no-op, and a crash between the Stripe call and the commit is repaired by the redelivery,
//! whose Stripe call carries the same idempotency key.

use crate::AppState;
use crate::events;
use crate::state::PaymentState;
use crate::store::{self, Payment};
use crate::stripe_events::{self, Observation};
use ordo_bus::consumer::{Delivery, Handler, HandlerError};
use ordo_events::Event;
use ordo_events::order::v1::{OrderCanceled, OrderPaymentRejected, OrderPlaced, OrderRefundRequested};
use ordo_stripe::CallError;
use sqlx::PgConnection;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct OrderEvents(pub Arc<AppState>);

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
}

fn stripe_err(e: CallError) -> HandlerError {
    if e.is_transient() {
        HandlerError::Transient(e.to_string())
    } else {
        HandlerError::Permanent(e.to_string())
    }
}

/// The payment an order event is about: by intent id when the order knew it, else by order id.
async fn find(tx: &mut PgConnection, tenant: Uuid, order: Uuid, pi: &str) -> Result<Option<Payment>, HandlerError> {
    if !pi.is_empty()
        && let Some(p) = store::by_intent(tx, pi).await?
    {
        return Ok(Some(p));
    }
    Ok(store::by_order(tx, tenant, order).await?)
}

/// The order events the payment service acts on; every other one (e.g. `order.paid`) is
/// acknowledged unread. Keep in step with the `match` of [`OrderEvents::handle`].
pub const HANDLED: &[&str] = &[
    OrderPlaced::SUBJECT,
    OrderCanceled::SUBJECT,
    OrderRefundRequested::SUBJECT,
    OrderPaymentRejected::SUBJECT,
];

impl Handler for OrderEvents {
    fn subjects(&self) -> Option<&'static [&'static str]> {
        Some(HANDLED)
    }

    async fn handle(&self, tx: &mut PgConnection, d: &Delivery) -> Result<(), HandlerError> {
        let tenant = d.tenant_id.ok_or_else(|| permanent("event without tenant"))?;
        let uuid = |s: &str| Uuid::parse_str(s).map_err(|_| permanent(format!("{} has a bad id {s:?}", d.subject)));
        match d.subject.as_str() {
            OrderPlaced::SUBJECT => {
                let e: OrderPlaced = d.decode()?;
                store::payments::set_order(tx, tenant, uuid(&e.cart_id)?, uuid(&e.order_id)?).await?;
                Ok(())
            }
            OrderCanceled::SUBJECT => {
                let e: OrderCanceled = d.decode()?;
                let order = uuid(&e.order_id)?;
                let Some(mut p) = find(tx, tenant, order, &e.payment_intent_id).await? else {
                    tracing::info!(%order, "canceled order has no payment");
                    return Ok(());
                };
                p.order_id = Some(order);
                p.order_canceled = true;
                store::save(tx, &mut p, false).await?;
                self.cancel_or_refund(tx, &mut p, order).await
            }
            OrderRefundRequested::SUBJECT => {
                let e: OrderRefundRequested = d.decode()?;
                let order = uuid(&e.order_id)?;
                let request = uuid(&e.refund_request_id)?;
                let amount = e.amount.as_ref().map(|m| m.amount_minor).unwrap_or(0);
                let Some(mut p) = find(tx, tenant, order, &e.payment_intent_id).await? else {
                    return Err(HandlerError::Transient(format!("no payment yet for order {order}")));
                };
                if p.order_id.is_none() {
                    p.order_id = Some(order);
                    store::save(tx, &mut p, false).await?;
                }
                let whole = matches!(e.reason.as_str(), "paid_after_cancellation" | "payment_mismatch");
                self.refund(tx, &mut p, request, (!whole).then_some(amount), &e.reason)
                    .await
            }
            OrderPaymentRejected::SUBJECT => {
                // A payment the order service could not turn into an order: all of it goes back.
                let e: OrderPaymentRejected = d.decode()?;
                let Some(mut p) = store::by_intent(tx, &e.payment_intent_id).await? else {
                    return Err(HandlerError::Transient(format!(
                        "no payment yet for rejected intent {}",
                        e.payment_intent_id
                    )));
                };
                let request = Uuid::new_v5(&p.id, b"refund-rejected-payment");
                tracing::warn!(payment = %p.id, cart = %p.cart_id, reason = %e.reason, "refunding a payment that became no order");
                self.refund(tx, &mut p, request, None, "payment_rejected").await
            }
            _ => Ok(()),
        }
    }
}

impl OrderEvents {
    async fn cancel_or_refund(&self, tx: &mut PgConnection, p: &mut Payment, order: Uuid) -> Result<(), HandlerError> {
        let stripe = &self.0.stripe;
        match p.status {
            PaymentState::Canceled => Ok(()),
            PaymentState::Succeeded => {
                // Deterministic request id: a redelivery refunds nothing twice.
                let request = Uuid::new_v5(&order, b"refund-after-cancel");
                self.refund(tx, p, request, None, "order_canceled").await
            }
            _ => match stripe
                .cancel_intent(&p.payment_intent_id, &format!("ordo-cancel-{}", p.payment_intent_id))
                .await
            {
                Ok(intent) => {
                    let o = Observation {
                        seen: stripe_events::seen_on(&intent),
                        created: 0,
                        authoritative: true,
                    };
                    stripe_events::apply(tx, p, &o).await?;
                    Ok(())
                }
                Err(CallError::Refused { code, .. }) if code == "payment_intent_unexpected_state" => {
                    // It succeeded meanwhile: learn that from Stripe, then give the money back.
                    let intent = stripe.retrieve_intent(&p.payment_intent_id).await.map_err(stripe_err)?;
                    let o = Observation {
                        seen: stripe_events::seen_on(&intent),
                        created: 0,
                        authoritative: true,
                    };
                    stripe_events::apply(tx, p, &o).await?;
                    if p.status == PaymentState::Succeeded {
                        let request = Uuid::new_v5(&order, b"refund-after-cancel");
                        self.refund(tx, p, request, None, "order_canceled").await?;
                    }
                    Ok(())
                }
                Err(e) => Err(stripe_err(e)),
            },
        }
    }

    /// Refund `amount` (None: everything left) for request `request`.
    async fn refund(
        &self,
        tx: &mut PgConnection,
        p: &mut Payment,
        request: Uuid,
        amount: Option<i64>,
        reason: &str,
    ) -> Result<(), HandlerError> {
        let known = store::refunds::status(tx, request).await?;
        if known.is_some() {
            return Ok(()); // this request was handled already
        }
        if p.status != PaymentState::Succeeded {
            return Err(HandlerError::Transient(format!(
                "payment {} is {}, not succeeded (yet)",
                p.id, p.status
            )));
        }
        let in_flight = store::refunds::in_flight(tx, p.id).await?;
        let remaining = p.captured_amount - p.refunded_amount - in_flight;
        let amount = match amount {
            None if remaining <= 0 => return Ok(()), // nothing left to give back
            None => remaining,
            Some(a) => a,
        };
        let refuse = |code: &'static str, message: String| (code, message);
        let refused = if amount <= 0 {
            Some(refuse("invalid_amount", "a refund must be positive".into()))
        } else if amount > remaining {
            Some(refuse(
                "amount_exceeds_remaining",
                format!("{amount} requested, {remaining} left to refund"),
            ))
        } else {
            None
        };
        if let Some((code, message)) = refused {
            store::refunds::insert_requested(
                tx,
                request,
                p,
                amount.max(1),
                reason,
                "failed",
                None,
                Some((code, &message)),
            )
            .await?;
            events::publish(tx, &events::refund_failed(p, request, amount, code, &message)).await?;
            tracing::info!(payment = %p.id, %request, code, "refund refused");
            return Ok(());
        }
        let metadata = HashMap::from([
            ("ordo_tenant_id".to_owned(), p.tenant_id.to_string()),
            ("ordo_refund_request_id".to_owned(), request.to_string()),
        ]);
        let key = format!("ordo-refund-{request}");
        match self
            .0
            .stripe
            .create_refund(&p.payment_intent_id, Some(amount), &key, metadata)
            .await
        {
            Ok(r) if r.status == "failed" || r.status == "canceled" => {
                let message = format!("Stripe answered refund {} as {}", r.id, r.status);
                store::refunds::insert_requested(
                    tx,
                    request,
                    p,
                    amount,
                    reason,
                    "failed",
                    Some(&r.id),
                    Some(("refund_failed", &message)),
                )
                .await?;
                events::publish(
                    tx,
                    &events::refund_failed(p, request, amount, "refund_failed", &message),
                )
                .await?;
                Ok(())
            }
            Ok(r) => {
                // Counted when Stripe reports it succeeded (by its id, crate::refunds).
                store::refunds::insert_requested(tx, request, p, amount, reason, "requested", Some(&r.id), None)
                    .await?;
                metrics::counter!("ordo_refunds_created_total").increment(1);
                Ok(())
            }
            Err(CallError::Refused { code, message, .. }) => {
                store::refunds::insert_requested(
                    tx,
                    request,
                    p,
                    amount,
                    reason,
                    "failed",
                    None,
                    Some((&code, &message)),
                )
                .await?;
                events::publish(tx, &events::refund_failed(p, request, amount, &code, &message)).await?;
                Ok(())
            }
            Err(e) => Err(stripe_err(e)),
        }
    }
}
