//! Refunds, reconciled by Stripe's refund id — never by amount deltas.
//!
//! Every refund Stripe reports (a `refund.*` webhook, or the list the reconciler reads when
//! `charge.refunded` says more was refunded than we have counted) is matched to our
//! `payments.refunds` row by its Stripe id, or by the request id ordo put in its metadata, and
//! counted once: `succeeded` adds its amount to the payment's refunded total and publishes
//! `payment.refunded` (with the order's request id when it was ours), `failed`/`canceled`
//! closes our request with `payment.refund_failed`. Events may arrive in any order — two refunds
//! of 300 and 200 whose cumulative `charge.refunded` events arrive 500-first end up as exactly
//! 300 + 200, each request closed.

use crate::events;
use crate::store::{self, Payment};
use crate::stripe_events::Outcome;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// A refund as Stripe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRefund {
    pub id: String,
    pub amount: i64,
    pub status: String,
    /// `ordo_refund_request_id` from its metadata (refunds ordo asked for).
    pub request: Option<Uuid>,
}

impl SeenRefund {
    /// From a refund object in a webhook.
    pub fn from_json(o: &Value) -> Option<SeenRefund> {
        Some(SeenRefund {
            id: o["id"].as_str()?.to_owned(),
            amount: o["amount"].as_i64()?,
            status: o["status"].as_str().unwrap_or("pending").to_owned(),
            request: o["metadata"]["ordo_refund_request_id"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok()),
        })
    }

    /// From a refund read from Stripe.
    pub fn from_stripe(r: &ordo_stripe::Refund) -> SeenRefund {
        SeenRefund {
            id: r.id.clone(),
            amount: r.amount,
            status: r.status.clone(),
            request: r
                .metadata
                .get("ordo_refund_request_id")
                .and_then(|s| Uuid::parse_str(s).ok()),
        }
    }
}

/// Count refund `r` of payment `p` (locked) once; in the caller's transaction.
pub async fn apply(conn: &mut PgConnection, p: &mut Payment, r: &SeenRefund) -> Result<Outcome, sqlx::Error> {
    if p.status != crate::state::PaymentState::Succeeded {
        // The capture is not known yet: the reconciler reads the intent first.
        return Ok(Outcome::Doubt);
    }
    let row = store::refunds::lock_seen(conn, p.id, &r.id, r.request).await?;
    match r.status.as_str() {
        "succeeded" => {
            if row.as_ref().is_some_and(|x| x.reflected) {
                return Ok(Outcome::Ignored("refund already counted"));
            }
            let (id, ours) = match row {
                Some(x) => {
                    store::refunds::counted(conn, x.id, &r.id, r.amount).await?;
                    (x.id, x.source == "order")
                }
                None => (
                    insert_from_stripe(conn, p, r, "succeeded", true).await?,
                    r.request.is_some(),
                ),
            };
            let room = p.captured_amount - p.refunded_amount;
            if r.amount > room {
                tracing::error!(payment = %p.id, refund = %r.id, amount = r.amount, room, "Stripe refunded more than we count as captured");
            }
            p.refunded_amount += r.amount.min(room);
            store::save(conn, p, false).await?;
            events::publish(conn, &events::refunded(p, &r.id, r.amount, ours.then_some(id))).await?;
            metrics::counter!("ordo_refunds_succeeded_total").increment(1);
            Ok(Outcome::Applied)
        }
        "failed" | "canceled" => match row {
            Some(x) if x.reflected => {
                tracing::error!(payment = %p.id, refund = %r.id, "a counted refund failed afterwards; an operator must look at it");
                metrics::counter!("ordo_refunds_reversed_total").increment(1);
                Ok(Outcome::Ignored("refund failed after it was counted"))
            }
            Some(x) if x.status == "failed" => Ok(Outcome::Ignored("refund failure already recorded")),
            Some(x) => {
                store::refunds::failed_at_stripe(conn, x.id, &r.id, &r.status).await?;
                if x.source == "order" {
                    let message = format!("Stripe reports refund {} as {}", r.id, r.status);
                    events::publish(
                        conn,
                        &events::refund_failed(p, x.id, r.amount, "refund_failed", &message),
                    )
                    .await?;
                }
                Ok(Outcome::Applied)
            }
            None => Ok(Outcome::Ignored("failed refund we never counted")),
        },
        _ => {
            // pending / requires_action: keep track of it until it settles.
            if row.is_none() {
                insert_from_stripe(conn, p, r, "requested", false).await?;
            }
            Ok(Outcome::Ignored("refund not settled yet"))
        }
    }
}

/// A refund Stripe reports that has no row here yet. Ours when its metadata names our request
/// (the request asked Stripe, then died before its row committed; the redelivered request
/// finds this row and stops): recorded under the request's id. Otherwise one from Stripe's
/// dashboard: recorded under an id derived from Stripe's, so reading it twice records it once.
async fn insert_from_stripe(
    conn: &mut PgConnection,
    p: &Payment,
    r: &SeenRefund,
    status: &str,
    reflected: bool,
) -> Result<Uuid, sqlx::Error> {
    let (id, source) = match r.request {
        Some(request) => (request, "order"),
        None => (Uuid::new_v5(&p.id, r.id.as_bytes()), "stripe"),
    };
    store::refunds::insert_from_stripe(conn, id, p, r, status, reflected, source).await?;
    Ok(id)
}
