//! The reconciliation sweep: reads from Stripe what webhooks could not settle.
//! * Stripe events left unprocessed (a doubt, see [`crate::stripe_events`]): the intent is read
//!   and what Stripe says now is applied; woken at once by the webhook, and every interval.
//!   A refund event is settled by listing the intent's refunds and counting each by its id.
//!   An event that cannot be settled now waits with a backoff while the others go on; one that
//!   never can (unknown PaymentIntent) is recorded with its outcome, not retried for ever.
//! * Payments still `processing` after `reconcile_after_secs` (a webhook lost for good), and
//!   refunds still unsettled after as long: read and applied. The sweep lists tenants as the
//!   `system` role and works per tenant.

use crate::AppState;
use crate::store;
use crate::stripe_events::{self, Observation, StripeEvent};
use ordo_db::Scope;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub async fn run(state: Arc<AppState>) {
    let interval = Duration::from_secs(state.stripe_config.reconcile_interval_secs.max(1));
    loop {
        match sweep(&state).await {
            Ok(n) if n > 0 => tracing::info!(settled = n, "reconciliation sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reconciliation sweep failed"),
        }
        tokio::select! {
            () = state.doubts.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// One pass; returns how many events and payments were settled.
pub async fn sweep(state: &AppState) -> anyhow::Result<usize> {
    let mut settled = 0;
    loop {
        let n = doubtful_events(state).await?;
        settled += n;
        if n == 0 {
            break;
        }
    }
    settled += stale_processing(state).await?;
    Ok(settled)
}

/// Why an event could not be settled now.
enum Unsettled {
    /// Worth another try later (Stripe or the database unreachable).
    Later(String),
    /// Never settleable (unknown PaymentIntent at Stripe, unreadable payload): recorded.
    Never(String),
}

impl From<sqlx::Error> for Unsettled {
    fn from(e: sqlx::Error) -> Self {
        Unsettled::Later(format!("database: {e}"))
    }
}

impl From<ordo_stripe::CallError> for Unsettled {
    fn from(e: ordo_stripe::CallError) -> Self {
        match &e {
            ordo_stripe::CallError::Refused { status: 404, .. } => Unsettled::Never(format!("unknown at Stripe: {e}")),
            _ if e.is_transient() => Unsettled::Later(e.to_string()),
            _ => Unsettled::Never(e.to_string()),
        }
    }
}

/// Attempts at an event before it is recorded as given up (backoff 1 s · 2ⁿ, at most 10 min:
/// about two and a half hours in all).
const MAX_EVENT_ATTEMPTS: i32 = 24;

/// Settle the doubtful events that are due, one at a time; an event that cannot be settled now
/// is put back with a backoff and the sweep goes on with the next (one bad event never blocks
/// reconciliation).
async fn doubtful_events(state: &AppState) -> anyhow::Result<usize> {
    let mut done = 0;
    for _ in 0..100 {
        let mut tx = state.pool.begin().await?;
        let row = store::stripe_events::next_due(&mut tx).await?;
        let Some((id, payload, attempts)) = row else {
            break;
        };
        let result = settle(state, &mut tx, payload).await;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(Unsettled::Never(why)) => {
                // Roll back whatever was half done; record the event as settled without effect.
                drop(tx);
                tx = state.pool.begin().await?;
                metrics::counter!("ordo_stripe_events_unresolved_total").increment(1);
                tracing::error!(event = %id, reason = %why, "Stripe event cannot be resolved; recorded");
                format!("unresolved: {why}")
            }
            Err(Unsettled::Later(why)) => {
                drop(tx);
                let attempts = attempts + 1;
                let give_up = attempts >= MAX_EVENT_ATTEMPTS;
                let delay = 1i64 << attempts.clamp(0, 10);
                let mut conn = state.pool.acquire().await?;
                store::stripe_events::retry_later(&mut conn, &id, attempts, &why, delay.min(600), give_up).await?;
                if give_up {
                    metrics::counter!("ordo_stripe_events_unresolved_total").increment(1);
                    tracing::error!(event = %id, attempts, reason = %why, "Stripe event given up");
                } else {
                    tracing::warn!(event = %id, attempts, reason = %why, "Stripe event not settled; will retry");
                }
                continue;
            }
        };
        store::stripe_events::processed(&mut tx, &id, &outcome).await?;
        tx.commit().await?;
        tracing::info!(event = %id, %outcome, "doubtful Stripe event settled");
        done += 1;
    }
    Ok(done)
}

/// Read from Stripe what the event left in doubt and apply it, in `tx`.
async fn settle(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    payload: serde_json::Value,
) -> Result<String, Unsettled> {
    let event =
        serde_json::from_value::<StripeEvent>(payload).map_err(|e| Unsettled::Never(format!("unreadable: {e}")))?;
    let Some(pi) = event.payment_intent_id() else {
        return Ok("no PaymentIntent".to_owned());
    };
    let intent = state.stripe.retrieve_intent(&pi).await?;
    let metadata = json!(intent.metadata);
    let Some(meta) = stripe_events::metadata_of(&metadata) else {
        return Ok("not an ordo payment".to_owned());
    };
    let mut p = stripe_events::payment_for(tx, &pi, &meta, intent.amount, &intent.currency).await?;
    let now = Observation {
        seen: stripe_events::seen_on(&intent),
        created: event.created,
        authoritative: true,
    };
    let mut outcome = format!("read from Stripe: {:?}", stripe_events::apply(tx, &mut p, &now).await?);
    if event.kind == "charge.refunded" || stripe_events::is_refund_event(&event.kind) {
        // Which refunds there are, by id: each counted once whatever order events came in.
        let mut counted = 0;
        for r in state.stripe.list_refunds(&pi).await?.iter().rev() {
            let seen = crate::refunds::SeenRefund::from_stripe(r);
            if crate::refunds::apply(tx, &mut p, &seen).await? == stripe_events::Outcome::Applied {
                counted += 1;
            }
        }
        outcome.push_str(&format!("; refunds applied: {counted}"));
    }
    Ok(outcome)
}

/// Refunds ordo asked for that Stripe has not reported settled after `reconcile_after_secs`:
/// read and applied, so no request stays `requested` for ever.
async fn stale_refunds(state: &AppState, tenant: Uuid, after: i64) -> anyhow::Result<usize> {
    let mut tx = ordo_db::begin_scoped(&state.pool, &Scope::service(tenant)).await?;
    let stale = store::refunds::unsettled_longer_than(&mut tx, tenant, after).await?;
    tx.commit().await?;
    let mut done = 0;
    for (refund_id, pi) in stale {
        let r = match state.stripe.retrieve_refund(&refund_id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(refund = %refund_id, error = %e, "stale refund not readable now");
                continue;
            }
        };
        let mut tx = ordo_db::begin_scoped(&state.pool, &Scope::service(tenant)).await?;
        let Some(mut p) = store::by_intent(&mut tx, &pi).await? else {
            continue;
        };
        let outcome = crate::refunds::apply(&mut tx, &mut p, &crate::refunds::SeenRefund::from_stripe(&r)).await?;
        store::refunds::looked_at(&mut tx, &refund_id).await?;
        tx.commit().await?;
        tracing::info!(refund = %refund_id, status = %r.status, ?outcome, "stale refund re-read");
        done += 1;
    }
    Ok(done)
}

async fn stale_processing(state: &AppState) -> anyhow::Result<usize> {
    let mut tx = ordo_db::begin_system(&state.pool).await?;
    let tenants = store::payments::tenants(&mut tx).await?;
    tx.commit().await?;
    let after = i64::try_from(state.stripe_config.reconcile_after_secs).unwrap_or(i64::MAX);
    let mut done = 0;
    for tenant in tenants {
        done += stale_refunds(state, tenant, after).await?;
        let mut tx = ordo_db::begin_scoped(&state.pool, &Scope::service(tenant)).await?;
        let stale = store::payments::processing_longer_than(&mut tx, tenant, after).await?;
        tx.commit().await?;
        for pi in stale {
            let mut tx = ordo_db::begin_scoped(&state.pool, &Scope::service(tenant)).await?;
            let Some(mut p) = store::by_intent(&mut tx, &pi).await? else {
                continue;
            };
            if p.status != crate::state::PaymentState::Processing {
                continue;
            }
            let intent = match state.stripe.retrieve_intent(&pi).await {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(payment = %p.id, error = %e, "processing payment not readable now");
                    continue;
                }
            };
            let now = Observation {
                seen: stripe_events::seen_on(&intent),
                created: time::OffsetDateTime::now_utc().unix_timestamp(),
                authoritative: true,
            };
            let outcome = stripe_events::apply(&mut tx, &mut p, &now).await?;
            if outcome == stripe_events::Outcome::Ignored("nothing to apply") || intent.status == "processing" {
                // still processing at Stripe: look again after another period
                store::payments::restart_status_period(&mut tx, p.id).await?;
            }
            tx.commit().await?;
            tracing::info!(payment = %p.id, stripe_status = %intent.status, ?outcome, "stale processing payment re-read");
            done += 1;
        }
    }
    Ok(done)
}
