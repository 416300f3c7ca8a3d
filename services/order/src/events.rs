//! Payment and delivery events move orders through the state machine. Each event is applied in
//! the consumer's inbox transaction (one history row per real transition, its outbox events in
//! the same commit). Out-of-order events: one that arrives after the order moved past it is
//! acknowledged and changes nothing; one that arrives too early (a download before its grant, a
//! refund before the capture) is retried with backoff until its predecessor has been applied.

use crate::transitions::{self, Failure};
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
pub struct OrderEvents;

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
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
    order_id: Uuid,
    trigger: Trigger,
    payment_intent_id: Option<String>,
    meta: Option<EventMetadata>,
}

fn plan(d: &Delivery) -> Result<Option<Planned>, HandlerError> {
    let with = |order_id: &str,
                trigger,
                pi: Option<&str>,
                meta: Option<EventMetadata>|
     -> Result<Option<Planned>, HandlerError> {
        if order_id.is_empty() {
            return Err(permanent(format!("{} without order id", d.subject)));
        }
        Ok(Some(Planned {
            order_id: uuid(order_id, "order id")?,
            trigger,
            payment_intent_id: pi.filter(|p| !p.is_empty()).map(str::to_owned),
            meta,
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
            with(&e.order_id, t, Some(&e.payment_intent_id), e.meta)
        }
        PaymentSucceeded::SUBJECT => {
            let e: PaymentSucceeded = d.decode()?;
            let t = Trigger::PaymentSucceeded {
                amount: money(e.amount.as_ref())?,
            };
            with(&e.order_id, t, Some(&e.payment_intent_id), e.meta)
        }
        PaymentFailed::SUBJECT => {
            let e: PaymentFailed = d.decode()?;
            let reason = if e.failure_code.is_empty() {
                "payment_failed".to_owned()
            } else {
                e.failure_code.clone()
            };
            with(
                &e.order_id,
                Trigger::PaymentFailed { reason },
                Some(&e.payment_intent_id),
                e.meta,
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
            with(
                &e.order_id,
                Trigger::LinesFulfilled {
                    lines: uuids(&e.line_ids)?,
                },
                None,
                e.meta,
            )
        }
        ShipmentDelivered::SUBJECT => {
            let e: ShipmentDelivered = d.decode()?;
            with(
                &e.order_id,
                Trigger::LinesDelivered {
                    lines: uuids(&e.line_ids)?,
                },
                None,
                e.meta,
            )
        }
        // Session created, canceled (a consequence of our own cancel), refund failed, grants
        // revoked: nothing to change on the order.
        _ => Ok(None),
    }
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

impl Handler for OrderEvents {
    async fn handle(&self, tx: &mut PgConnection, d: &Delivery) -> Result<(), HandlerError> {
        let Some(p) = plan(d)? else {
            return Ok(());
        };
        let tenant = d.tenant_id.ok_or_else(|| permanent("event without tenant"))?;
        ordo_db::set_scope(tx, &Scope::service(tenant)).await?;
        let kind = p.trigger.kind();
        let actor = format!("event:{}", d.subject);
        let result = transitions::apply(
            tx,
            p.order_id,
            d.event_id,
            p.trigger,
            &actor,
            p.meta.as_ref(),
            p.payment_intent_id.as_deref(),
        )
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(Failure::NotFound) => Err(HandlerError::Transient(format!("order {} not found (yet)", p.order_id))),
            Err(Failure::Store(e)) => Err(HandlerError::Transient(e.to_string())),
            Err(Failure::Domain(e)) => {
                let status: String = sqlx::query_scalar("select status from orders.orders where id = $1")
                    .bind(p.order_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let status = OrderStatus::parse(&status).ok_or_else(|| permanent("stored status unknown"))?;
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
        }
    }
}
