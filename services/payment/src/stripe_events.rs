//! Stripe events → payment state and `ordo.payment.v1.*` events.
//!
//! Handled: `payment_intent.processing`, `.amount_capturable_updated`, `.succeeded`,
//! `.payment_failed`, `.canceled`, `charge.refunded` (proof of capture; more refunded than
//! counted → the reconciler lists the refunds) and the refund events (`refund.created`,
//! `.updated`, `.failed`, `charge.refund.updated`: counted by refund id, [`crate::refunds`]);
//! every other type is acknowledged by the webhook without being stored. A payment never moves backwards ([`PaymentState::may_become`]): an event older than what
//! was applied is acknowledged and changes nothing. Where the order cannot be told from the
//! events alone — a failure and a new attempt within the same second, an event whose
//! PaymentIntent carries no ordo metadata — the event is left unprocessed and the reconciler
//! reads the PaymentIntent from Stripe and applies what Stripe says now.

use crate::events;
use crate::state::PaymentState;
use crate::store::{self, Payment};
use ordo_db::Scope;
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// The envelope of a Stripe event (the object stays JSON).
#[derive(Debug, Clone, Deserialize)]
pub struct StripeEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: Value,
}

pub const HANDLED: &[&str] = &[
    "payment_intent.processing",
    "payment_intent.amount_capturable_updated",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "refund.failed",
];

/// Event types whose object is a refund.
pub fn is_refund_event(kind: &str) -> bool {
    matches!(
        kind,
        "charge.refund.updated" | "refund.created" | "refund.updated" | "refund.failed"
    )
}

impl StripeEvent {
    /// The PaymentIntent the event is about.
    pub fn payment_intent_id(&self) -> Option<String> {
        let o = &self.data.object;
        match o["object"].as_str() {
            Some("payment_intent") => o["id"].as_str().map(str::to_owned),
            _ => o["payment_intent"].as_str().map(str::to_owned),
        }
    }
}

/// What Stripe says about an intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Processing,
    Authorized {
        capturable: i64,
    },
    Succeeded {
        received: i64,
        /// The currency Stripe captured in (lower case), when the observation says.
        currency: Option<String>,
    },
    Failed {
        code: String,
        message: String,
    },
    Canceled,
    /// `amount_refunded` so far (cumulative) of a charge that captured `captured`.
    Refunded {
        refunded: i64,
        captured: i64,
    },
    Nothing,
}

/// An observation: what was seen, when (the event's `created`), and whether it is a read from
/// Stripe just now (authoritative: applied whenever it differs).
#[derive(Debug, Clone)]
pub struct Observation {
    pub seen: Seen,
    pub created: i64,
    pub authoritative: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Ignored(&'static str),
    /// Cannot be decided from the event: read the intent from Stripe.
    Doubt,
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn error_of(o: &Value) -> (String, String) {
    let e = &o["last_payment_error"];
    (
        e["code"].as_str().unwrap_or("payment_failed").to_owned(),
        e["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// What an event says.
pub fn seen_in(event: &StripeEvent) -> Seen {
    let o = &event.data.object;
    match event.kind.as_str() {
        "payment_intent.processing" => Seen::Processing,
        "payment_intent.amount_capturable_updated" => Seen::Authorized {
            capturable: int(&o["amount_capturable"]),
        },
        "payment_intent.succeeded" => Seen::Succeeded {
            received: int(&o["amount_received"]),
            currency: o["currency"].as_str().map(str::to_owned),
        },
        "payment_intent.payment_failed" => {
            let (code, message) = error_of(o);
            Seen::Failed { code, message }
        }
        "payment_intent.canceled" => Seen::Canceled,
        "charge.refunded" => Seen::Refunded {
            refunded: int(&o["amount_refunded"]),
            captured: int(&o["amount_captured"]),
        },
        _ => Seen::Nothing,
    }
}

/// What a PaymentIntent read from Stripe says now.
pub fn seen_on(intent: &ordo_stripe::Intent) -> Seen {
    match intent.status.as_str() {
        "processing" => Seen::Processing,
        "requires_capture" => Seen::Authorized {
            capturable: intent.amount_capturable,
        },
        "succeeded" => Seen::Succeeded {
            received: intent.amount_received,
            currency: Some(intent.currency.clone()),
        },
        "canceled" => Seen::Canceled,
        "requires_payment_method" => match &intent.last_error {
            Some((code, message)) => Seen::Failed {
                code: code.clone(),
                message: message.clone(),
            },
            None => Seen::Nothing,
        },
        _ => Seen::Nothing,
    }
}

/// Decide by time between a failure and a (new) attempt: newer applies, older is stale, the
/// same second is a doubt (unless the observation is a read from Stripe).
fn by_time(p: &Payment, o: &Observation) -> Option<Outcome> {
    if o.authoritative || o.created > p.last_event_created {
        None
    } else if o.created < p.last_event_created {
        Some(Outcome::Ignored("older than the applied status"))
    } else {
        Some(Outcome::Doubt)
    }
}

/// Apply `o` to `p` (locked), publishing the resulting events; in the caller's transaction.
pub async fn apply(conn: &mut PgConnection, p: &mut Payment, o: &Observation) -> Result<Outcome, sqlx::Error> {
    let last = p.last_event_created.max(o.created);
    match &o.seen {
        Seen::Nothing => Ok(Outcome::Ignored("nothing to apply")),
        Seen::Succeeded { received, currency } => {
            if !p.status.may_become(PaymentState::Succeeded) {
                return Ok(Outcome::Ignored("already final"));
            }
            if let Some(c) = currency.as_deref().filter(|c| !c.eq_ignore_ascii_case(&p.currency)) {
                // Captured in another currency than the session's: say so as it is (the order
                // service cancels the order and the payment is refunded in full).
                tracing::error!(payment = %p.id, session = %p.currency, captured = %c, "payment captured in another currency");
                p.currency = c.to_ascii_uppercase();
                store::payments::set_currency(conn, p.id, &p.currency).await?;
            }
            succeed(conn, p, *received, last).await?;
            Ok(Outcome::Applied)
        }
        Seen::Canceled => {
            if !p.status.may_become(PaymentState::Canceled) {
                return Ok(Outcome::Ignored("already final"));
            }
            p.status = PaymentState::Canceled;
            p.last_event_created = last;
            store::save(conn, p, true).await?;
            events::publish(conn, &events::canceled(p)).await?;
            Ok(Outcome::Applied)
        }
        Seen::Authorized { capturable } => {
            if !p.status.may_become(PaymentState::RequiresCapture) {
                return Ok(Outcome::Ignored("already authorized or final"));
            }
            p.status = PaymentState::RequiresCapture;
            p.last_event_created = last;
            store::save(conn, p, true).await?;
            events::publish(conn, &events::processing(p, true, *capturable)).await?;
            Ok(Outcome::Applied)
        }
        Seen::Processing => {
            if !p.status.may_become(PaymentState::Processing) {
                return Ok(Outcome::Ignored("already processing or further"));
            }
            if p.status == PaymentState::Failed
                && let Some(decided) = by_time(p, o)
            {
                return Ok(decided);
            }
            p.status = PaymentState::Processing;
            p.last_event_created = last;
            store::save(conn, p, true).await?;
            events::publish(conn, &events::processing(p, false, p.amount)).await?;
            Ok(Outcome::Applied)
        }
        Seen::Failed { code, message } => {
            if !p.status.may_become(PaymentState::Failed) {
                return Ok(Outcome::Ignored("already authorized or final"));
            }
            if o.authoritative && p.status == PaymentState::Failed {
                return Ok(Outcome::Ignored("already failed"));
            }
            if matches!(p.status, PaymentState::Processing | PaymentState::Failed)
                && let Some(decided) = by_time(p, o)
            {
                return Ok(decided);
            }
            p.status = PaymentState::Failed;
            p.failed_attempts += 1;
            p.last_event_created = last;
            store::save(conn, p, true).await?;
            store::payments::set_failure(conn, p.id, code, message).await?;
            events::publish(conn, &events::failed(p, code, message)).await?;
            Ok(Outcome::Applied)
        }
        Seen::Refunded { refunded, captured } => {
            if p.status == PaymentState::Canceled {
                return Ok(Outcome::Ignored("refund of a canceled intent"));
            }
            if p.status != PaymentState::Succeeded {
                // A refund proves the capture: apply the success first.
                succeed(conn, p, *captured, p.last_event_created).await?;
            }
            if *refunded <= p.refunded_amount {
                return Ok(Outcome::Ignored("every refund already counted"));
            }
            // More was refunded than the refunds counted so far: which refunds, is told by
            // their ids (their own events, or the list the reconciler reads) — never by the
            // difference, which events arriving out of order would misattribute.
            Ok(Outcome::Doubt)
        }
    }
}

async fn succeed(conn: &mut PgConnection, p: &mut Payment, received: i64, last: i64) -> Result<(), sqlx::Error> {
    p.status = PaymentState::Succeeded;
    p.captured_amount = received;
    p.last_event_created = last;
    store::save(conn, p, true).await?;
    events::publish(conn, &events::succeeded(p)).await
}

/// ordo's metadata on an intent (and on the charges it creates).
#[derive(Debug, Clone)]
pub struct OrdoMetadata {
    pub tenant: Uuid,
    pub cart: Uuid,
    pub customer: String,
    pub payment: Uuid,
}

pub fn metadata_of(m: &Value) -> Option<OrdoMetadata> {
    let uuid = |k: &str| m[k].as_str().and_then(|s| Uuid::parse_str(s).ok());
    Some(OrdoMetadata {
        tenant: uuid("ordo_tenant_id")?,
        cart: uuid("ordo_cart_id")?,
        customer: m["ordo_customer_id"].as_str()?.to_owned(),
        payment: uuid("ordo_payment_id")?,
    })
}

/// Find the payment for `pi` in the metadata's tenant (scoping the transaction to it), or record
/// it from the metadata when it is not known yet (the session's own commit was lost).
pub async fn payment_for(
    conn: &mut PgConnection,
    pi: &str,
    meta: &OrdoMetadata,
    amount: i64,
    currency: &str,
) -> Result<Payment, sqlx::Error> {
    ordo_db::set_scope(conn, &Scope::service(meta.tenant)).await?;
    if let Some(p) = store::by_intent(conn, pi).await? {
        return Ok(p);
    }
    let fresh = Payment::unpaid(
        meta.payment,
        meta.tenant,
        meta.cart,
        &meta.customer,
        pi,
        currency,
        amount.max(1),
    );
    store::insert(conn, &fresh).await
}

/// Apply a stored event from its own content; `Doubt` when that is not enough.
pub async fn apply_event(conn: &mut PgConnection, event: &StripeEvent) -> Result<Outcome, sqlx::Error> {
    if !HANDLED.contains(&event.kind.as_str()) {
        return Ok(Outcome::Ignored("event type not used by ordo"));
    }
    let Some(pi) = event.payment_intent_id() else {
        return Ok(Outcome::Ignored("no PaymentIntent"));
    };
    let o = &event.data.object;
    if is_refund_event(&event.kind) {
        // A refund object carries the tenant in ordo's metadata (refunds ordo asked for); one
        // started in the dashboard does not: the reconciler finds it through the intent.
        let Some(tenant) = o["metadata"]["ordo_tenant_id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            return Ok(Outcome::Doubt);
        };
        let Some(refund) = crate::refunds::SeenRefund::from_json(o) else {
            return Ok(Outcome::Ignored("unreadable refund"));
        };
        ordo_db::set_scope(conn, &Scope::service(tenant)).await?;
        let Some(mut p) = store::by_intent(conn, &pi).await? else {
            return Ok(Outcome::Doubt);
        };
        return crate::refunds::apply(conn, &mut p, &refund).await;
    }
    let Some(meta) = metadata_of(&o["metadata"]) else {
        return Ok(Outcome::Doubt);
    };
    let mut p = payment_for(
        conn,
        &pi,
        &meta,
        int(&o["amount"]),
        o["currency"].as_str().unwrap_or("usd"),
    )
    .await?;
    let observation = Observation {
        seen: seen_in(event),
        created: event.created,
        authoritative: false,
    };
    apply(conn, &mut p, &observation).await
}
