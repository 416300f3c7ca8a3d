//! The expiry sweep: unpaid orders older than the configured time are canceled (stock released,
//! `ordo.order.v1.canceled` published) and expired idempotency records are purged. Safe in any
//! number of replicas: each order is canceled under its row lock; a second attempt is refused
//! by the state machine and skipped.

use crate::transitions::{self, Failure};
use ordo_db::Scope;
use ordo_domain::order::{CancelReason, Trigger};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Run one sweep; returns how many orders it canceled.
pub async fn sweep_once(pool: &PgPool, unpaid_ttl_secs: u64) -> Result<usize, sqlx::Error> {
    let mut tx = ordo_db::begin_system(pool).await?;
    let due: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "select id, tenant_id from orders.orders
         where status in ('pending', 'processing') and created_at < now() - make_interval(secs => $1)
         order by created_at limit 500",
    )
    .bind(unpaid_ttl_secs as f64)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("delete from orders.idempotency_keys where expires_at < now()")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut canceled = 0;
    for (order_id, tenant) in due {
        let mut tx = ordo_db::begin_scoped(pool, &Scope::service(tenant)).await?;
        let trigger = Trigger::Cancel {
            reason: CancelReason::Expired,
        };
        match transitions::apply(&mut tx, order_id, Uuid::now_v7(), trigger, "system:expiry", None, None).await {
            Ok(_) => {
                tx.commit().await?;
                canceled += 1;
            }
            Err(Failure::Domain(e)) => tracing::info!(order = %order_id, error = %e, "not canceled by expiry"),
            Err(e) => tracing::warn!(order = %order_id, error = %e, "expiry cancel failed"),
        }
    }
    if canceled > 0 {
        tracing::info!(canceled, "unpaid orders canceled by expiry");
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
