//! The outbox relay: publishes committed outbox rows to JetStream.
//!
//! One cycle marks up to `batch_size` unpublished rows published and reads them in one statement
//! (`FOR UPDATE SKIP LOCKED`, so replicas never take the same rows), sends them all (several
//! publishes in flight, order kept on the one connection), waits for JetStream's acks, unmarks any
//! row JetStream did not acknowledge, and commits. If the relay dies mid-cycle its transaction
//! rolls back and the rows are published again later; the
//! `Nats-Msg-Id` header lets JetStream drop the duplicate and consumers' inboxes drop any rest.
//! The relay sleeps until a commit NOTIFYs it, polling only as a fallback; cycles are at least
//! `linger_ms` apart, so under load one cycle carries the events of many commits.

use crate::{Bus, BusError};
use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use futures::FutureExt as _;
use futures::future::join_all;
use ordo_config::OutboxConfig;
use ordo_events::headers;
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, PgPool, Row};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Relay {
    pool: PgPool,
    bus: Bus,
    schema: String,
    batch_size: i64,
    poll: Duration,
    linger: Duration,
    take_sql: String,
    unmark_sql: String,
    purge_sql: String,
}

/// Read every notification that has already arrived, without waiting.
fn drain(listener: &mut Option<PgListener>) {
    if let Some(l) = listener {
        while let Some(Ok(_)) = l.recv().now_or_never() {}
    }
}

impl Relay {
    pub fn new(pool: PgPool, bus: Bus, schema: &str, cfg: &OutboxConfig) -> Relay {
        Relay {
            pool,
            bus,
            schema: schema.to_owned(),
            batch_size: i64::from(cfg.batch_size.max(1)),
            poll: Duration::from_millis(cfg.poll_interval_ms.max(10)),
            linger: Duration::from_millis(cfg.linger_ms),
            take_sql: format!(
                "update {schema}.outbox o set published_at = now()
                 from (select id from {schema}.outbox where published_at is null
                       order by id limit $1 for update skip locked) batch
                 where o.id = batch.id
                 returning o.id, o.subject, o.headers, o.payload, o.republished,
                           extract(epoch from now() - o.created_at)::float8 as lag"
            ),
            unmark_sql: format!("update {schema}.outbox set published_at = null where id = any($1)"),
            // Published rows are kept `retention_hours`, so a consumer can still find and have
            // re-published an event the broker lost (see `consumer::Consumer::check_lost`).
            purge_sql: format!(
                "delete from {schema}.outbox where id in (select id from {schema}.outbox
                 where published_at < now() - make_interval(hours => {hours}) limit 10000)",
                hours = cfg.retention_hours.max(1)
            ),
        }
    }

    pub fn channel(&self) -> String {
        format!("ordo_outbox_{}", self.schema)
    }

    /// Run forever: drain, then wait for a NOTIFY or the poll interval.
    pub async fn run(self) {
        let mut listener = self.listen().await;
        let mut last_purge = Instant::now();
        let mut last_cycle: Option<Instant> = None;
        loop {
            let mut failures = 0u32;
            loop {
                // Events committed close together go out in one cycle.
                if let Some(at) = last_cycle
                    && let Some(rest) = self.linger.checked_sub(at.elapsed())
                {
                    tokio::time::sleep(rest).await;
                }
                last_cycle = Some(Instant::now());
                // Commits notified so far are visible to this cycle's statement: their wake-ups
                // are spent (else each would start a cycle that finds its rows already sent).
                drain(&mut listener);
                match self.publish_batch().await {
                    Ok(n) if (n as i64) < self.batch_size => break,
                    Ok(_) => failures = 0,
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(error = %e, schema = %self.schema, "outbox relay cycle failed");
                        let backoff = Duration::from_millis(100u64 << failures.min(6));
                        tokio::time::sleep(backoff.min(self.poll)).await;
                        if failures > 3 {
                            break;
                        }
                    }
                }
            }
            if last_purge.elapsed() > Duration::from_secs(60) {
                last_purge = Instant::now();
                if let Err(e) = sqlx::query(AssertSqlSafe(self.purge_sql.clone()))
                    .execute(&self.pool)
                    .await
                {
                    tracing::warn!(error = %e, "outbox purge failed");
                }
            }
            self.wait(&mut listener).await;
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        match ordo_db::listener(&self.pool, &self.channel()).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "no LISTEN connection; the relay polls");
                None
            }
        }
    }

    async fn wait(&self, listener: &mut Option<PgListener>) {
        match listener {
            Some(l) => {
                match tokio::time::timeout(self.poll, l.recv()).await {
                    Ok(Ok(_)) => while l.next_buffered().is_some() {},
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "listener lost; reconnecting");
                        *listener = None;
                    }
                    Err(_) => {} // poll interval elapsed
                }
            }
            None => {
                tokio::time::sleep(self.poll).await;
                *listener = self.listen().await;
            }
        }
    }

    /// One cycle; returns how many rows it published.
    #[tracing::instrument(name = "outbox.relay_batch", skip(self), fields(schema = %self.schema, published))]
    pub async fn publish_batch(&self) -> Result<usize, BusError> {
        let mut tx = self.pool.begin().await?;
        let mut rows = Vec::new();
        for row in sqlx::query(AssertSqlSafe(self.take_sql.clone()))
            .bind(self.batch_size)
            .fetch_all(&mut *tx)
            .await?
        {
            rows.push((row.try_get::<Uuid, _>("id")?, row));
        }
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        // `returning` keeps no order; events go out in the order they were written.
        rows.sort_unstable_by_key(|(id, _)| *id);
        let js = self.bus.jetstream();
        let mut pending = Vec::with_capacity(rows.len());
        let mut max_lag = 0f64;
        for (id, row) in &rows {
            let id = *id;
            let subject: String = row.try_get("subject")?;
            let stored: serde_json::Value = row.try_get("headers")?;
            let payload: Vec<u8> = row.try_get("payload")?;
            max_lag = max_lag.max(row.try_get::<f64, _>("lag").unwrap_or(0.0));
            let mut h = HeaderMap::new();
            let id_text = id.to_string();
            // A re-publish (the broker lost the first copy) needs a broker id of its own, or
            // JetStream drops it as a duplicate within its window; the event id stays.
            let republished: i32 = row.try_get("republished")?;
            let msg_id = if republished == 0 {
                id_text.clone()
            } else {
                format!("{id_text}.r{republished}")
            };
            h.insert(headers::MSG_ID, msg_id.as_str());
            h.insert(headers::EVENT_ID, id_text.as_str());
            if let Some(map) = stored.as_object() {
                for (k, v) in map {
                    if let Some(v) = v.as_str() {
                        h.insert(k.as_str(), v);
                    }
                }
            }
            let msg = PublishMessage::build().payload(payload.into()).headers(h);
            match js.send_publish(self.bus.subject(&subject), msg).await {
                Ok(ack) => pending.push((id, ack)),
                Err(e) => {
                    // Stop sending; what was sent is still awaited and marked.
                    tracing::warn!(error = %e, %subject, "publish failed");
                    break;
                }
            }
        }
        let (ids, acks): (Vec<Uuid>, Vec<_>) = pending.into_iter().unzip();
        let results = join_all(acks.into_iter().map(|a| a.into_future())).await;
        let mut acked = std::collections::HashSet::with_capacity(ids.len());
        for (id, r) in ids.into_iter().zip(results) {
            match r {
                Ok(_) => {
                    acked.insert(id);
                }
                Err(e) => tracing::warn!(error = %e, event_id = %id, "no JetStream ack; will retry"),
            }
        }
        // Rows not sent or not acknowledged stay unpublished, for a later cycle.
        let unacked: Vec<Uuid> = rows
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !acked.contains(id))
            .collect();
        if !unacked.is_empty() {
            sqlx::query(AssertSqlSafe(self.unmark_sql.clone()))
                .bind(&unacked)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        metrics::counter!("ordo_outbox_published_total", "schema" => self.schema.clone()).increment(acked.len() as u64);
        metrics::histogram!("ordo_outbox_lag_seconds", "schema" => self.schema.clone()).record(max_lag);
        tracing::Span::current().record("published", acked.len());
        if acked.len() < rows.len() {
            return Err(BusError::JetStream(format!(
                "{} of {} events not acknowledged",
                rows.len() - acked.len(),
                rows.len()
            )));
        }
        Ok(acked.len())
    }
}
