//! The purge of expired download links. A link stays in the database for
//! `purge_expired_after_secs` after it expired (so it answers `token_expired`, which tells a
//! customer to ask for a new one), then it and its entry in the hash → tenant index are deleted
//! (afterwards it answers `token_unknown`, like any made-up token). Grants, and so the count of
//! downloads made, stay.
//!
//! Only the list of tenants with such links is read across tenants (as `system`, which sees
//! expired links only); each tenant is then purged in transactions scoped to it, 1,000 links at
//! a time, so a large backlog never holds long locks. Safe in any number of replicas.

use ordo_db::Scope;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

const BATCH: i64 = 1000;

/// Purge every tenant's links expired more than `after` ago; returns how many were deleted.
pub async fn purge_once(pool: &PgPool, after: Duration) -> Result<u64, sqlx::Error> {
    let secs = after.as_secs_f64();
    let mut tx = ordo_db::begin_system(pool).await?;
    let tenants: Vec<Uuid> = sqlx::query_scalar(
        "select distinct tenant_id from delivery.tokens where expires_at < now() - make_interval(secs => $1)",
    )
    .bind(secs)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut purged = 0;
    for tenant in tenants {
        loop {
            let mut tx = ordo_db::begin_scoped(pool, &Scope::service(tenant)).await?;
            let n: i64 = sqlx::query_scalar(
                "with gone as (
                     delete from delivery.tokens where token_hash in (
                         select token_hash from delivery.tokens
                         where expires_at < now() - make_interval(secs => $1)
                         order by expires_at limit $2 for update skip locked)
                     returning token_hash),
                 unindexed as (
                     delete from delivery.token_tenants where token_hash in (select token_hash from gone)),
                 unclaimed as (
                     delete from delivery.download_claims where token_hash in (select token_hash from gone))
                 select count(*) from gone",
            )
            .bind(secs)
            .bind(BATCH)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            purged += n as u64;
            if n < BATCH {
                break;
            }
        }
    }
    if purged > 0 {
        metrics::counter!("ordo_delivery_links_purged_total").increment(purged);
        tracing::info!(purged, "expired download links purged");
    }
    Ok(purged)
}

/// Purge every `every`, for as long as the service runs.
pub async fn run(pool: PgPool, after: Duration, every: Duration) {
    loop {
        if let Err(e) = purge_once(&pool, after).await {
            tracing::warn!(error = %e, "purge of expired links failed");
        }
        tokio::time::sleep(every).await;
    }
}
