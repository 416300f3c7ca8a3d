//! Lost-in-the-broker recovery: a consumer checks that every event its producer published reached
//! it, and has the producer publish again any that did not.
//!
//! JetStream acknowledges a write before it is on disk unless the server runs with
//! `sync_interval: always`, and a stream can lose messages to an operator's mistake or a
//! restored backup. The outbox in PostgreSQL is the record: its published rows are kept
//! `outbox.retention_hours`. Every `consumer.lost_check_interval_secs`, each consumer asks its
//! producer's outbox (through `<schema>.published_events`, the one function of that schema its
//! role may call) for the events of its subjects published in the window since its last check,
//! up to `lost_check_grace_secs` ago, and looks each one up in its own inbox and dead letters.
//! One found in neither never arrived: it is handed to `<schema>.republish_events`, which queues
//! it for the producer's relay again (with a broker id of its own, so JetStream's de-duplication
//! does not drop it). An event merely slow to be handled is republished needlessly at worst: its
//! second copy finds the inbox row and changes nothing.
//!
//! The check waits while the consumer has undelivered messages (it is catching up, so missing
//! inbox rows say nothing yet), and replicas of a service take turns (an advisory lock per
//! consumer), so one check runs at a time.

use crate::BusError;
use crate::consumer::{Consumer, Handler};
use sqlx::{AssertSqlSafe, Row};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostCheck {
    /// Events published in the window that the consumer never saw, now queued again.
    Checked {
        /// The end of the window checked (the start of the next one).
        until: OffsetDateTime,
        republished: Vec<Uuid>,
    },
    /// The consumer is still catching up (undelivered messages), or another replica is checking.
    Deferred,
}

impl<H: Handler> Consumer<H> {
    /// Check forever, every `lost_check_interval_secs` (never when it is 0).
    pub async fn check_lost_forever(self) {
        let every = self.cfg.lost_check_interval_secs;
        if every == 0 {
            return;
        }
        let mut since = None;
        loop {
            tokio::time::sleep(Duration::from_secs(every)).await;
            match self.check_lost(since).await {
                Ok(LostCheck::Checked { until, .. }) => since = Some(until),
                Ok(LostCheck::Deferred) => {}
                Err(e) => tracing::warn!(error = %e, consumer = %self.spec.name, "lost-event check failed"),
            }
        }
    }

    /// One check of the events published from `since` (at start-up: `lost_check_lookback_secs`
    /// ago) to `lost_check_grace_secs` ago.
    #[tracing::instrument(name = "ordo.lost_event_check", skip(self), fields(consumer = %self.spec.name))]
    pub async fn check_lost(&self, since: Option<OffsetDateTime>) -> Result<LostCheck, BusError> {
        let stream = self.stream().await?;
        match stream.consumer_info(&self.spec.name).await {
            Ok(info) if info.num_pending > 0 => return Ok(LostCheck::Deferred),
            Ok(_) => {}
            // NATS unreachable, or the consumer not created yet: the next round tries again.
            Err(e) => return Err(BusError::js(e)),
        }
        let prefix = self.spec.context.subjects().trim_end_matches('>');
        let subjects: Option<Vec<&str>> = self
            .handler
            .subjects()
            .map(|all| all.iter().copied().filter(|s| s.starts_with(prefix)).collect());
        if subjects.as_ref().is_some_and(|s| s.is_empty()) {
            return Ok(LostCheck::Deferred);
        }
        let producer = self.spec.context.schema();
        let schema = &self.spec.schema;
        // Dead letters are under row-level security: the platform reads them as `system`.
        let mut tx = ordo_db::begin_system(&self.pool).await?;
        let turn: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('ordo_lost_check:' || $1))")
            .bind(&self.spec.name)
            .fetch_one(&mut *tx)
            .await?;
        if !turn {
            return Ok(LostCheck::Deferred);
        }
        let window = sqlx::query(
            "select coalesce($1, now() - make_interval(secs => $2)) as since, now() - make_interval(secs => $3) as until",
        )
        .bind(since)
        .bind(self.cfg.lost_check_lookback_secs as f64)
        .bind(self.cfg.lost_check_grace_secs as f64)
        .fetch_one(&mut *tx)
        .await?;
        let (from, until): (OffsetDateTime, OffsetDateTime) = (window.try_get("since")?, window.try_get("until")?);
        if until <= from {
            return Ok(LostCheck::Checked {
                until: from,
                republished: Vec::new(),
            });
        }
        let missing: Vec<Uuid> = sqlx::query_scalar(AssertSqlSafe(format!(
            "select e.id from {producer}.published_events($1, $2, $3) e
             where not exists (select 1 from {schema}.inbox i where i.consumer = $4 and i.event_id = e.id)
               and not exists (select 1 from {schema}.dead_letters d where d.consumer = $4 and d.event_id = e.id)
             order by e.id"
        )))
        .bind(subjects)
        .bind(from)
        .bind(until)
        .bind(&self.spec.name)
        .fetch_all(&mut *tx)
        .await?;
        if !missing.is_empty() {
            let queued: i32 = sqlx::query_scalar(AssertSqlSafe(format!("select {producer}.republish_events($1)")))
                .bind(&missing)
                .fetch_one(&mut *tx)
                .await?;
            tracing::warn!(
                consumer = %self.spec.name,
                missing = missing.len(),
                queued,
                first = %missing[0],
                "events published but never received (lost by the broker?); published again"
            );
            metrics::counter!("ordo_events_republished_total", "consumer" => self.spec.name.clone())
                .increment(missing.len() as u64);
        }
        tx.commit().await?;
        Ok(LostCheck::Checked {
            until,
            republished: missing,
        })
    }
}
