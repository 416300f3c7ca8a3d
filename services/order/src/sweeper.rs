//! The expiry sweep: unpaid orders older than the configured time are canceled (stock released,
//! `ordo.order.v1.canceled` with reason `expired` published) — except those whose asynchronous
//! payment is still in flight at Stripe (payment_status `processing`): the payment service's
//! reconciler settles those, and a failure brings them back to `pending`, which expires — and expired idempotency records are purged. Safe in any
//! number of replicas: each order is canceled under its row lock; a second attempt is refused
//! by the state machine and skipped.
//!
//! Only the tenant list is read across tenants (as `system`); each tenant is then swept in a
//! transaction scoped to it, so the big tables keep a plain tenant predicate.

use crate::app::{self, lifecycle};
use crate::store::{idempotency, orders};
use ordo_db::Scope;
use ordo_domain::order::{CancelReason, Trigger};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Run one sweep over every tenant; returns how many orders it canceled.
pub async fn sweep_once(pool: &PgPool, unpaid_ttl_secs: u64) -> Result<usize, sqlx::Error> {
    let mut tx = ordo_db::begin_system(pool).await?;
    let tenants = orders::tenants(&mut tx).await?;
    tx.commit().await?;
    let mut canceled = 0;
    for tenant in tenants {
        canceled += sweep_tenant(pool, tenant, unpaid_ttl_secs).await?;
    }
    if canceled > 0 {
        tracing::info!(canceled, "unpaid orders canceled by expiry");
    }
    Ok(canceled)
}

async fn sweep_tenant(pool: &PgPool, tenant: Uuid, unpaid_ttl_secs: u64) -> Result<usize, sqlx::Error> {
    let mut tx = ordo_db::begin_scoped(pool, &Scope::service(tenant)).await?;
    let due = orders::unpaid_older_than(&mut tx, tenant, unpaid_ttl_secs).await?;
    idempotency::purge_expired(&mut tx, tenant).await?;
    tx.commit().await?;
    let mut canceled = 0;
    for order_id in due {
        let mut tx = ordo_db::begin_scoped(pool, &Scope::service(tenant)).await?;
        let trigger = Trigger::Cancel {
            reason: CancelReason::Expired,
        };
        match lifecycle::apply(
            &mut tx,
            order_id,
            Uuid::now_v7(),
            trigger,
            lifecycle::Source::actor("system:expiry"),
        )
        .await
        {
            Ok(_) => {
                tx.commit().await?;
                canceled += 1;
            }
            Err(app::Error::Domain(e)) => tracing::info!(order = %order_id, error = %e, "not canceled by expiry"),
            Err(e) => tracing::warn!(order = %order_id, error = %e, "expiry cancel failed"),
        }
    }
    Ok(canceled)
}

pub async fn run(pool: PgPool, unpaid_ttl_secs: u64, every: Duration) {
    loop {
        if let Err(e) = sweep_once(&pool, unpaid_ttl_secs).await {
            tracing::warn!(error = %e, "expiry sweep failed");
        }
        tokio::time::sleep(every).await;
    }
}
