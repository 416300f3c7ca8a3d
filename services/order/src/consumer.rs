//! The consumer of payment and delivery events: each moves an order through the state machine
//! by calling the same use cases the HTTP handlers call ([`crate::app`]). Each event is applied in
//! the consumer's inbox transaction (one history row per real transition, its outbox events in
//! the same commit). Out-of-order events: one that arrives after the order moved past it is
//! acknowledged and changes nothing; one that arrives too early (a download before its grant, a
//! refund before the capture) is retried with backoff until its predecessor has been applied.

use crate::app::checkout::{self, PaidCart};
use crate::app::lifecycle;
use crate::app::{self, rejected};
use crate::store::{carts, orders, refund_requests};
use ordo_bus::consumer::{Delivery, Handler, HandlerError};
use ordo_db::Scope;
use ordo_domain::order::{OrderStatus, TransitionError, Trigger, TriggerKind};
use ordo_domain::{Currency, Money};
use ordo_events::delivery::v1::*;
use ordo_events::payment::v1::*;
use ordo_events::{Event, EventMetadata, common::v1::Money as WireMoney};
use sqlx::PgConnection;
use uuid::Uuid;

/// Handles `ordo.payment.v1.>` and `ordo.delivery.v1.>` for the order service.
#[derive(Debug, Clone, Copy)]
pub struct PaymentAndDeliveryEvents {
    /// Cart idle expiry (a paid cart is completed even past it).
    pub cart_idle_secs: u64,
}

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
}

/// A use case's refusal stays one (dead-letter it); an unavailable database, broker or peer
/// is retried.
fn handler_error(e: app::Error) -> HandlerError {
    if e.is_transient() {
        HandlerError::Transient(e.to_string())
    } else {
        HandlerError::Permanent(e.to_string())
    }
}

fn money(m: Option<&WireMoney>) -> Result<Money, HandlerError> {
    let m = m.ok_or_else(|| permanent("event without amount"))?;
    let c = Currency::parse(&m.currency).map_err(permanent)?;
    Money::try_new(m.amount_minor, c).map_err(permanent)
}

fn uuid(s: &str, what: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(s).map_err(|_| permanent(format!("{what} {s:?} is not a UUID")))
}

fn uuids(v: &[String]) -> Result<Vec<Uuid>, HandlerError> {
    v.iter().map(|s| uuid(s, "line id")).collect()
}

struct Planned {
    /// Nil when the event does not know the order yet (found by cart or PaymentIntent).
    order_id: Uuid,
    cart_id: Option<Uuid>,
    trigger: Trigger,
    payment_intent_id: Option<String>,
    meta: Option<EventMetadata>,
    /// More for the history row (a shipment's carrier and tracking number).
    note: Option<serde_json::Value>,
}

fn plan(d: &Delivery) -> Result<Option<Planned>, HandlerError> {
    let with = |order_id: &str,
                trigger,
                pi: Option<&str>,
                meta: Option<EventMetadata>|
     -> Result<Option<Planned>, HandlerError> {
        let pi = pi.filter(|p| !p.is_empty());
        if order_id.is_empty() && pi.is_none() {
            return Err(permanent(format!("{} without order id", d.subject)));
        }
        Ok(Some(Planned {
            order_id: if order_id.is_empty() {
                Uuid::nil()
            } else {
                uuid(order_id, "order id")?
            },
            cart_id: None,
            trigger,
            payment_intent_id: pi.filter(|p| !p.is_empty()).map(str::to_owned),
            meta,
            note: None,
        }))
    };
    match d.subject.as_str() {
        PaymentProcessing::SUBJECT => {
            let e: PaymentProcessing = d.decode()?;
            let t = if e.authorized {
                Trigger::PaymentAuthorized {
                    amount: money(e.amount.as_ref())?,
                }
            } else {
                Trigger::PaymentProcessing
            };
            with_cart(with(&e.order_id, t, Some(&e.payment_intent_id), e.meta), &e.cart_id)
        }
        PaymentSucceeded::SUBJECT => {
            let e: PaymentSucceeded = d.decode()?;
            let t = Trigger::PaymentSucceeded {
                amount: money(e.amount.as_ref())?,
            };
            with_cart(with(&e.order_id, t, Some(&e.payment_intent_id), e.meta), &e.cart_id)
        }
        PaymentFailed::SUBJECT => {
            let e: PaymentFailed = d.decode()?;
            let reason = if e.failure_code.is_empty() {
                "payment_failed".to_owned()
            } else {
                e.failure_code.clone()
            };
            with_cart(
                with(
                    &e.order_id,
                    Trigger::PaymentFailed { reason },
                    Some(&e.payment_intent_id),
                    e.meta,
                ),
                &e.cart_id,
            )
        }
        PaymentRefunded::SUBJECT => {
            let e: PaymentRefunded = d.decode()?;
            let t = Trigger::Refunded {
                amount: money(e.amount.as_ref())?,
            };
            with(&e.order_id, t, Some(&e.payment_intent_id), e.meta)
        }
        GrantsIssued::SUBJECT => {
            let e: GrantsIssued = d.decode()?;
            let lines = e
                .grants
                .iter()
                .map(|g| uuid(&g.line_id, "line id"))
                .collect::<Result<Vec<_>, _>>()?;
            with(&e.order_id, Trigger::LinesFulfilled { lines }, None, e.meta)
        }
        Downloaded::SUBJECT => {
            let e: Downloaded = d.decode()?;
            with(
                &e.order_id,
                Trigger::LinesDelivered {
                    lines: vec![uuid(&e.line_id, "line id")?],
                },
                None,
                e.meta,
            )
        }
        ShipmentCreated::SUBJECT => {
            let e: ShipmentCreated = d.decode()?;
            let note = serde_json::json!({
                "shipment_id": e.shipment_id, "carrier": e.carrier, "tracking_number": e.tracking_number,
            });
            let planned = with(
                &e.order_id,
                Trigger::LinesFulfilled {
                    lines: uuids(&e.line_ids)?,
                },
                None,
                e.meta,
            );
            planned.map(|p| p.map(|p| Planned { note: Some(note), ..p }))
        }
        ShipmentDelivered::SUBJECT => {
            let e: ShipmentDelivered = d.decode()?;
            let note = serde_json::json!({ "shipment_id": e.shipment_id });
            let planned = with(
                &e.order_id,
                Trigger::LinesDelivered {
                    lines: uuids(&e.line_ids)?,
                },
                None,
                e.meta,
            );
            planned.map(|p| p.map(|p| Planned { note: Some(note), ..p }))
        }
        // Session created, canceled (a consequence of our own cancel), refund failed, grants
        // revoked: nothing to change on the order.
        _ => Ok(None),
    }
}

fn with_cart(planned: Result<Option<Planned>, HandlerError>, cart: &str) -> Result<Option<Planned>, HandlerError> {
    let mut planned = planned?;
    if let Some(p) = planned.as_mut() {
        p.cart_id = Uuid::parse_str(cart).ok();
    }
    Ok(planned)
}

/// The order an event is about: by id, else by cart (one order per cart), else by PaymentIntent.
async fn resolve(tx: &mut PgConnection, p: &Planned) -> Result<Option<Uuid>, HandlerError> {
    if !p.order_id.is_nil() {
        return Ok(Some(p.order_id));
    }
    if let Some(cart) = p.cart_id
        && let Some(found) = orders::id_by_cart(tx, cart).await?
    {
        return Ok(Some(found));
    }
    if let Some(pi) = &p.payment_intent_id {
        return Ok(orders::id_by_payment_intent(tx, pi).await?);
    }
    Ok(None)
}

/// Whether `pi` paid for a cart that could not become an order (its payment is refunded).
async fn rejected_payment(tx: &mut PgConnection, pi: &str) -> Result<bool, HandlerError> {
    let status = carts::status_by_payment_intent(tx, pi).await?;
    Ok(status.as_deref() == Some(ordo_domain::CartStatus::PaymentRefunded.as_str()))
}

/// A refund request's outcome, recorded on the operator's request.
async fn refund_outcome(tx: &mut PgConnection, d: &Delivery) -> Result<(), HandlerError> {
    let (request, status, failure) = match d.subject.as_str() {
        PaymentRefunded::SUBJECT => {
            let e: PaymentRefunded = d.decode()?;
            (e.refund_request_id, "succeeded", None)
        }
        PaymentRefundFailed::SUBJECT => {
            let e: PaymentRefundFailed = d.decode()?;
            (e.refund_request_id, "failed", Some((e.failure_code, e.failure_message)))
        }
        _ => return Ok(()),
    };
    let Ok(request) = Uuid::parse_str(&request) else {
        return Ok(()); // started in Stripe's dashboard: no request of ours
    };
    let failure = failure.as_ref().map(|(c, m)| (c.as_str(), m.as_str()));
    refund_requests::settle(tx, request, status, failure).await?;
    Ok(())
}

/// Whether a refused trigger is late (the order already moved past it: acknowledge, change
/// nothing) rather than early (retry until its predecessor arrives).
fn is_stale(status: OrderStatus, kind: TriggerKind) -> bool {
    use TriggerKind as K;
    status.is_terminal()
        || match kind {
            K::PaymentProcessing | K::PaymentAuthorized | K::PaymentFailed | K::PaymentSucceeded => {
                status.rank() >= OrderStatus::Paid.rank()
            }
            K::LinesFulfilled => status.rank() >= OrderStatus::Fulfilled.rank(),
            K::LinesDelivered => status == OrderStatus::Delivered,
            _ => false,
        }
}

/// The events the order service acts on; every other one (e.g. `payment.session_created`) is
/// acknowledged unread. Keep in step with [`plan`] and [`refund_outcome`].
pub const HANDLED: &[&str] = &[
    PaymentProcessing::SUBJECT,
    PaymentSucceeded::SUBJECT,
    PaymentFailed::SUBJECT,
    PaymentRefunded::SUBJECT,
    PaymentRefundFailed::SUBJECT,
    GrantsIssued::SUBJECT,
    Downloaded::SUBJECT,
    ShipmentCreated::SUBJECT,
    ShipmentDelivered::SUBJECT,
];

impl Handler for PaymentAndDeliveryEvents {
    fn subjects(&self) -> Option<&'static [&'static str]> {
        Some(HANDLED)
    }

    /// `payment.succeeded` may complete a cart, taking a variant's stock and the tenant's order
    /// counter — rows the customers' own completions wait for: each event commits alone.
    fn shares_transactions(&self) -> bool {
        false
    }

    async fn handle(&self, tx: &mut PgConnection, d: &Delivery) -> Result<(), HandlerError> {
        // Scoped to the tenant as `service` by the consumer's inbox insert.
        let tenant = d.tenant_id.ok_or_else(|| permanent("event without tenant"))?;
        refund_outcome(tx, d).await?;
        let Some(mut p) = plan(d)? else {
            return Ok(());
        };
        let kind = p.trigger.kind();
        match resolve(tx, &p).await? {
            Some(order) => p.order_id = order,
            None => match (kind, p.cart_id) {
                // Paid, but the storefront never completed the cart: complete it now, so that
                // nobody is charged without an order.
                (TriggerKind::PaymentSucceeded, Some(cart)) => {
                    let actor = format!("event:{}", d.subject);
                    match checkout::complete_paid(tx, cart, self.cart_idle_secs, &actor)
                        .await
                        .map_err(handler_error)?
                    {
                        PaidCart::Order(order) => {
                            p.order_id = order;
                            tracing::info!(%cart, %order, "paid cart completed from the payment event");
                        }
                        PaidCart::Rejected {
                            code,
                            message,
                            cart: found,
                        } => {
                            ordo_db::set_scope(tx, &Scope::service(tenant)).await?;
                            let paid: PaymentSucceeded = d.decode()?;
                            return rejected::payment_rejected(
                                tx,
                                &paid,
                                tenant,
                                cart,
                                found.as_deref(),
                                code,
                                &message,
                            )
                            .await
                            .map_err(handler_error);
                        }
                    }
                    ordo_db::set_scope(tx, &Scope::service(tenant)).await?;
                }
                (
                    TriggerKind::PaymentProcessing | TriggerKind::PaymentAuthorized | TriggerKind::PaymentFailed,
                    Some(_),
                ) => {
                    tracing::info!(trigger = %kind, "payment event for a cart not completed yet; nothing to change");
                    return Ok(());
                }
                _ => {
                    if let Some(pi) = &p.payment_intent_id
                        && rejected_payment(tx, pi).await?
                    {
                        // The payment of a cart that became no order (refunded in full).
                        tracing::info!(payment_intent = %pi, trigger = %kind, "event of a rejected payment; nothing to change");
                        return Ok(());
                    }
                    return Err(HandlerError::Transient(format!(
                        "{} before its order exists",
                        d.subject
                    )));
                }
            },
        }
        let actor = format!("event:{}", d.subject);
        let source = lifecycle::Source {
            actor: &actor,
            cause: p.meta.as_ref(),
            payment_intent_id: p.payment_intent_id.as_deref(),
            note: p.note.take(),
        };
        let result = lifecycle::apply(tx, p.order_id, d.event_id, p.trigger, source).await;
        match result {
            Ok(_) => Ok(()),
            Err(app::Error::NotFound { .. }) => {
                Err(HandlerError::Transient(format!("order {} not found (yet)", p.order_id)))
            }
            Err(app::Error::Domain(e)) => {
                let status = app::order::visible_status(tx, p.order_id)
                    .await
                    .map_err(handler_error)?;
                match e {
                    TransitionError::NotAllowed { .. } if is_stale(status, kind) => {
                        tracing::info!(order = %p.order_id, %status, trigger = %kind, "late event ignored");
                        Ok(())
                    }
                    TransitionError::LineAlreadyFulfilled(_) | TransitionError::LineAlreadyDelivered(_) => {
                        tracing::info!(order = %p.order_id, trigger = %kind, "line already handled; ignored");
                        Ok(())
                    }
                    TransitionError::NotAllowed { .. } | TransitionError::LineNotFulfilled(_) => {
                        Err(HandlerError::Transient(format!("{e} (waiting for an earlier event)")))
                    }
                    other => Err(permanent(other)),
                }
            }
            Err(e) => Err(handler_error(e)),
        }
    }
}
