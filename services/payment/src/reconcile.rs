//! The reconciliation sweep: reads from Stripe what webhooks could not settle.
//! * Stripe events left unprocessed (a doubt, see [`crate::stripe_events`]): the intent is read
//!   and what Stripe says now is applied; woken at once by the webhook, and every interval.
//! * Payments still `processing` after `reconcile_after_secs` (a webhook lost for good): read
//!   and applied. The sweep lists tenants as the `system` role and works per tenant.

use crate::AppState;
use crate::store;
use crate::stripe_events::{self, Observation, Seen, StripeEvent};
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

async fn doubtful_events(state: &AppState) -> anyhow::Result<usize> {
    let mut done = 0;
    for _ in 0..100 {
        let mut tx = state.pool.begin().await?;
        let row: Option<(String, serde_json::Value)> = sqlx::query_as(
            "select id, payload from payments.stripe_events where processed_at is null
             order by received_at limit 1 for update skip locked",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, payload)) = row else {
            break;
        };
        let outcome = match serde_json::from_value::<StripeEvent>(payload) {
            Err(_) => "unreadable".to_owned(),
            Ok(event) => match event.payment_intent_id() {
                None => "no PaymentIntent".to_owned(),
                Some(pi) => {
                    let intent = state.stripe.retrieve_intent(&pi).await?;
                    let metadata = json!(intent.metadata);
                    match stripe_events::metadata_of(&metadata) {
                        None => "not an ordo payment".to_owned(),
                        Some(meta) => {
                            let mut p =
                                stripe_events::payment_for(&mut tx, &pi, &meta, intent.amount, &intent.currency)
                                    .await?;
                            let now = Observation {
                                seen: stripe_events::seen_on(&intent),
                                created: event.created,
                                authoritative: true,
                            };
                            let mut outcome = format!(
                                "read from Stripe: {:?}",
                                stripe_events::apply(&mut tx, &mut p, &now).await?
                            );
                            if let Seen::Refunded { .. } = stripe_events::seen_in(&event) {
                                let refund = Observation {
                                    seen: stripe_events::seen_in(&event),
                                    created: event.created,
                                    authoritative: false,
                                };
                                let r = stripe_events::apply(&mut tx, &mut p, &refund).await?;
                                outcome.push_str(&format!("; refund: {r:?}"));
                            }
                            outcome
                        }
                    }
                }
            },
        };
        sqlx::query("update payments.stripe_events set processed_at = now(), outcome = $2 where id = $1")
            .bind(&id)
            .bind(&outcome)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(event = %id, %outcome, "doubtful Stripe event settled");
        done += 1;
    }
    Ok(done)
}

async fn stale_processing(state: &AppState) -> anyhow::Result<usize> {
    let mut tx = ordo_db::begin_system(&state.pool).await?;
    let tenants: Vec<Uuid> = sqlx::query_scalar("select tenant_id from payments.tenants")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let after = i64::try_from(state.stripe_config.reconcile_after_secs).unwrap_or(i64::MAX);
    let mut done = 0;
    for tenant in tenants {
        let mut tx = ordo_db::begin_scoped(&state.pool, &Scope::service(tenant)).await?;
        let stale: Vec<String> = sqlx::query_scalar(
            "select payment_intent_id from payments.payments
             where tenant_id = $1 and status = 'processing' and status_since < now() - make_interval(secs => $2)
             order by status_since limit 100",
        )
        .bind(tenant)
        .bind(after as f64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        for pi in stale {
            let mut tx = ordo_db::begin_scoped(&state.pool, &Scope::service(tenant)).await?;
            let Some(mut p) = store::by_intent(&mut tx, &pi).await? else {
                continue;
            };
            if p.status != "processing" {
                continue;
            }
            let intent = state.stripe.retrieve_intent(&pi).await?;
            let now = Observation {
                seen: stripe_events::seen_on(&intent),
                created: time::OffsetDateTime::now_utc().unix_timestamp(),
                authoritative: true,
            };
            let outcome = stripe_events::apply(&mut tx, &mut p, &now).await?;
            if outcome == stripe_events::Outcome::Ignored("nothing to apply") || intent.status == "processing" {
                // still processing at Stripe: look again after another period
                sqlx::query("update payments.payments set status_since = now() where id = $1")
                    .bind(p.id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            tracing::info!(payment = %p.id, stripe_status = %intent.status, ?outcome, "stale processing payment re-read");
            done += 1;
        }
    }
    Ok(done)
}
