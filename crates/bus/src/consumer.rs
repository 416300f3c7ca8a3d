//! Durable JetStream pull consumers with an inbox and dead letters.
//!
//! For each message: one transaction inserts `(consumer, event_id)` into the inbox (`ON CONFLICT
//! DO NOTHING`) and runs the handler; commit, then ack. Messages that arrive together (up to
//! `transaction_batch`) share one transaction and one commit; if any of them fails, the batch
//! rolls back and each is handled alone. A redelivered event finds its inbox row
//! and changes nothing. A failing handler rolls back and the message is NAKed with exponential
//! backoff; after `max_attempts` deliveries (or at once for a permanent error) it is written to
//! the dead-letter table and acknowledged, so the consumer keeps going. [`Consumer::replay`]
//! runs a dead letter through the same path once the cause is fixed.

use crate::{Bus, BusError};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use bytes::Bytes;
use futures::StreamExt;
use ordo_config::ConsumerConfig;
use ordo_events::{Context, headers};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

/// The most messages one transaction applies: each handler may open subtransactions, and
/// PostgreSQL slows every snapshot once a transaction has more than 64 of them.
const MAX_BATCH: u32 = 32;

/// An event as a handler sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Subject without namespace, e.g. `ordo.payment.v1.succeeded`.
    pub subject: String,
    pub event_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub headers: HeaderMap,
    pub payload: Bytes,
    /// 1 for the first delivery.
    pub attempt: u32,
}

impl Delivery {
    pub fn decode<E: ordo_events::Event>(&self) -> Result<E, HandlerError> {
        E::decode(self.payload.as_ref()).map_err(|e| HandlerError::Permanent(format!("decode {}: {e}", self.subject)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying (database busy, another service not ready, out-of-order event).
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (undecodable payload): dead-letter at once.
    #[error("{0}")]
    Permanent(String),
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        HandlerError::Transient(format!("database: {e}"))
    }
}

/// The effect of an event. Runs inside the inbox transaction: write only through `tx`. The
/// transaction is scoped to the event's tenant as the service's own worker
/// (`Scope::service(tenant)`, set by the inbox insert's statement) — or to nothing, when the
/// event names no tenant.
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Delivery,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;

    /// The subjects (without the namespace) this handler acts on; `None`: every subject its
    /// consumer receives. Others are acknowledged unread — no transaction, no inbox row — since
    /// applying them changes nothing; the lost-event check looks only for these.
    fn subjects(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Whether this handler acts on events of `subject` (see [`Handler::subjects`]).
    fn handles(&self, subject: &str) -> bool {
        self.subjects().is_none_or(|s| s.contains(&subject))
    }

    /// Whether events waiting together may share one transaction. A handler that locks rows
    /// requests also contend for (a popular variant's stock) answers false: in a batch it would
    /// hold them until the last event of the batch is applied.
    fn shares_transactions(&self) -> bool {
        true
    }
}

/// What to consume and how.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Durable name, unique per service and purpose, e.g. `order_payment_events`.
    pub name: String,
    /// The context whose stream holds the events.
    pub context: Context,
    /// Subject filter without namespace, e.g. `ordo.payment.v1.>`.
    pub filter: String,
    /// The service schema holding inbox and dead letters.
    pub schema: String,
}

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    /// Of a subject the handler does not act on: acknowledged unread.
    Skipped,
    Retrying,
    DeadLettered,
}

pub struct Consumer<H> {
    pub(crate) spec: ConsumerSpec,
    pub(crate) cfg: ConsumerConfig,
    pub(crate) pool: PgPool,
    pub(crate) bus: Bus,
    pub(crate) handler: Arc<H>,
    /// The inbox insert of an event applied in a batch (see [`Consumer::new`]).
    inbox_sql: Arc<str>,
}

impl<H> Clone for Consumer<H> {
    fn clone(&self) -> Self {
        Consumer {
            spec: self.spec.clone(),
            cfg: self.cfg.clone(),
            pool: self.pool.clone(),
            bus: self.bus.clone(),
            handler: self.handler.clone(),
            inbox_sql: self.inbox_sql.clone(),
        }
    }
}

impl<H> std::fmt::Debug for Consumer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Consumer<H> {
    pub fn new(spec: ConsumerSpec, cfg: ConsumerConfig, pool: PgPool, bus: Bus, handler: H) -> Self {
        // The event's scope is set by its inbox insert: the tenant it names, as `service` (a
        // batch's previous event, of another tenant, must leave nothing behind).
        let inbox_sql = format!(
            "with scoped as (select set_config('ordo.tenant_id', $4, true), set_config('ordo.user_id', '', true),
                                    set_config('ordo.role', $5, true))
             insert into {}.inbox (consumer, event_id, subject) select $1, $2, $3 from scoped
             on conflict do nothing",
            spec.schema
        )
        .into();
        Consumer {
            inbox_sql,
            spec,
            cfg,
            pool,
            bus,
            handler: Arc::new(handler),
        }
    }

    /// The stream of the context this consumer reads.
    pub(crate) async fn stream(&self) -> Result<jetstream::stream::Stream, BusError> {
        self.bus
            .jetstream()
            .get_stream(self.bus.stream_name(self.spec.context))
            .await
            .map_err(BusError::js)
    }

    async fn pull_consumer(&self) -> Result<jetstream::consumer::Consumer<pull::Config>, BusError> {
        let stream = self.stream().await?;
        let config = pull::Config {
            durable_name: Some(self.spec.name.clone()),
            filter_subject: self.bus.subject(&self.spec.filter),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            // Above the slowest handler (a Stripe call with its retries), so a message still being
            // handled is never delivered to a second worker.
            ack_wait: Duration::from_secs(self.cfg.ack_wait_secs.max(1)),
            // Unlimited on the server: this runner dead-letters after `max_attempts` itself, so a
            // crash loop never silently drops an event.
            max_deliver: -1,
            max_ack_pending: 10_000,
            ..Default::default()
        };
        stream
            .get_or_create_consumer(&self.spec.name, config)
            .await
            .map_err(BusError::js)
    }

    /// Consume forever (re-subscribing after errors).
    pub async fn run(self) {
        let concurrency = self.cfg.concurrency.max(1) as usize;
        loop {
            let consumer = match self.pull_consumer().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, consumer = %self.spec.name, "cannot bind consumer; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let messages = consumer
                .stream()
                .max_messages_per_batch(self.cfg.batch_size.max(1) as usize)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await;
            let messages = match messages {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, consumer = %self.spec.name, "cannot pull; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let batch = if self.handler.shares_transactions() {
                self.cfg.transaction_batch.clamp(1, MAX_BATCH) as usize
            } else {
                1
            };
            messages
                .ready_chunks(batch)
                .for_each_concurrent(concurrency, |chunk| async {
                    let mut msgs = Vec::with_capacity(chunk.len());
                    for m in chunk {
                        match m {
                            Ok(msg) => msgs.push(msg),
                            Err(e) => {
                                tracing::warn!(error = %e, consumer = %self.spec.name, "pull error")
                            }
                        }
                    }
                    self.process_all(msgs).await;
                })
                .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Handle the messages that were waiting together: all in one transaction (one commit) when
    /// every one of them applies; if any fails, that transaction rolls back and each is handled
    /// on its own ([`Consumer::process`]), so one bad event costs only a retry of its batch.
    pub async fn process_all(&self, msgs: Vec<jetstream::Message>) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(msgs.len());
        let mut wanted = Vec::with_capacity(msgs.len());
        for m in msgs {
            if self.handler.handles(self.bus.local_subject(m.subject.as_str())) {
                wanted.push(m);
            } else {
                out.push(self.skip(&m).await);
            }
        }
        out.extend(self.process_wanted(wanted).await);
        out
    }

    /// Acknowledge a message of a subject the handler does not act on.
    async fn skip(&self, msg: &jetstream::Message) -> Outcome {
        if let Err(e) = msg.ack().await {
            tracing::warn!(error = %e, consumer = %self.spec.name, "ack failed");
        }
        metrics::counter!("ordo_consumer_events_total", "consumer" => self.spec.name.clone(), "outcome" => "Skipped")
            .increment(1);
        Outcome::Skipped
    }

    async fn process_wanted(&self, msgs: Vec<jetstream::Message>) -> Vec<Outcome> {
        if msgs.len() < 2 {
            let mut out = Vec::new();
            for m in msgs {
                out.push(self.process(m).await);
            }
            return out;
        }
        let deliveries: Option<Vec<Delivery>> = msgs
            .iter()
            .map(|m| delivery_from(m, self.bus.local_subject(m.subject.as_str()).to_owned(), attempt_of(m)).ok())
            .collect();
        let batch = match deliveries {
            Some(d) => self.apply_batch(&d).await,
            None => Err((None, HandlerError::Transient("undecodable message in the batch".into()))),
        };
        let applied = match batch {
            Ok(applied) => applied,
            Err((failed, error)) => {
                // The batch rolled back. The event that failed takes its outcome from that failure
                // (one attempt, as if alone); the others are applied one by one.
                metrics::counter!("ordo_consumer_batches_total", "consumer" => self.spec.name.clone(), "outcome" => "split")
                    .increment(1);
                let mut error = Some(error);
                let mut out = Vec::new();
                for (i, m) in msgs.into_iter().enumerate() {
                    let known = if failed == Some(i) { error.take() } else { None };
                    out.push(self.process_known(m, known).await);
                }
                return out;
            }
        };
        metrics::counter!("ordo_consumer_batches_total", "consumer" => self.spec.name.clone(), "outcome" => "committed")
            .increment(1);
        let mut out = Vec::with_capacity(msgs.len());
        for (msg, fresh) in msgs.iter().zip(applied) {
            if let Err(e) = msg.ack().await {
                // The effect is committed; a redelivery will be a no-op.
                tracing::warn!(error = %e, consumer = %self.spec.name, "ack failed");
            }
            let outcome = if fresh { Outcome::Applied } else { Outcome::Duplicate };
            metrics::counter!("ordo_consumer_events_total", "consumer" => self.spec.name.clone(), "outcome" => format!("{outcome:?}")).increment(1);
            out.push(outcome);
        }
        out
    }

    /// Apply several deliveries in one transaction, each through the inbox with the scope reset
    /// before it (a handler scopes the transaction to its event's tenant; the next one must not
    /// inherit that). Any failure fails the whole batch: the error names the position of the
    /// event whose handler failed (none when the transaction itself failed) and why.
    async fn apply_batch(&self, batch: &[Delivery]) -> Result<Vec<bool>, (Option<usize>, HandlerError)> {
        let span = tracing::info_span!("ordo.consume_batch", consumer = %self.spec.name, events = batch.len());
        let whole = |e: sqlx::Error| (None, HandlerError::from(e));
        async {
            let mut tx = self.pool.begin().await.map_err(whole)?;
            let mut applied = Vec::with_capacity(batch.len());
            for (i, d) in batch.iter().enumerate() {
                let inserted = self.inbox(&mut tx, d).await.map_err(whole)?;
                if inserted == 1 {
                    self.handler.handle(&mut tx, d).await.map_err(|e| (Some(i), e))?;
                }
                applied.push(inserted == 1);
            }
            tx.commit().await.map_err(whole)?;
            Ok(applied)
        }
        .instrument(span)
        .await
    }

    /// Record `d` in the inbox (rows affected: 0 for an event seen before) and scope the
    /// transaction to its tenant for the handler.
    async fn inbox(&self, tx: &mut PgConnection, d: &Delivery) -> Result<u64, sqlx::Error> {
        let (tenant, role) = match d.tenant_id {
            Some(t) => (t.to_string(), ordo_db::Role::Service.as_str()),
            None => (String::new(), ""),
        };
        Ok(sqlx::query(AssertSqlSafe(self.inbox_sql.as_ref()))
            .bind(&self.spec.name)
            .bind(d.event_id)
            .bind(&d.subject)
            .bind(tenant)
            .bind(role)
            .execute(tx)
            .await?
            .rows_affected())
    }

    /// Handle one JetStream message end to end (inbox, handler, ack/nak/dead letter).
    pub async fn process(&self, msg: jetstream::Message) -> Outcome {
        self.process_known(msg, None).await
    }

    /// [`Consumer::process`], or, with `known`, settle the message by that handler failure
    /// (already seen in a batch that rolled back) without running the handler again.
    async fn process_known(&self, msg: jetstream::Message, known: Option<HandlerError>) -> Outcome {
        if !self.handler.handles(self.bus.local_subject(msg.subject.as_str())) {
            return self.skip(&msg).await;
        }
        let attempt = attempt_of(&msg);
        let subject = self.bus.local_subject(msg.subject.as_str()).to_owned();
        let span = tracing::info_span!(
            "ordo.consume",
            consumer = %self.spec.name,
            subject = %subject,
            event_id = tracing::field::Empty,
            attempt,
            outcome = tracing::field::Empty
        );
        ordo_telemetry::set_parent_from_nats(&span, msg.headers.as_ref());
        let outcome = async {
            let delivery = match delivery_from(&msg, subject, attempt) {
                Ok(d) => d,
                Err(reason) => {
                    let raw = Delivery {
                        subject: self.bus.local_subject(msg.subject.as_str()).to_owned(),
                        event_id: Uuid::nil(),
                        tenant_id: None,
                        headers: msg.headers.clone().unwrap_or_default(),
                        payload: msg.payload.clone(),
                        attempt,
                    };
                    return self.dead_letter(&msg, &raw, &reason).await;
                }
            };
            tracing::Span::current().record("event_id", tracing::field::display(delivery.event_id));
            let result = match known {
                Some(failure) => Err(failure),
                None => self.apply(&delivery, None).await,
            };
            match result {
                Ok(applied) => {
                    if let Err(e) = msg.ack().await {
                        // The effect is committed; a redelivery will be a no-op.
                        tracing::warn!(error = %e, "ack failed");
                    }
                    if applied { Outcome::Applied } else { Outcome::Duplicate }
                }
                Err(HandlerError::Permanent(reason)) => self.dead_letter(&msg, &delivery, &reason).await,
                Err(HandlerError::Transient(reason)) if attempt >= self.cfg.max_attempts => {
                    self.dead_letter(&msg, &delivery, &reason).await
                }
                Err(HandlerError::Transient(reason)) => {
                    let delay = self.backoff(attempt);
                    tracing::info!(%reason, delay_ms = delay.as_millis() as u64, "handler failed; will retry");
                    if let Err(e) = msg.ack_with(AckKind::Nak(Some(delay))).await {
                        tracing::warn!(error = %e, "nak failed");
                    }
                    Outcome::Retrying
                }
            }
        }
        .instrument(span.clone())
        .await;
        span.record("outcome", tracing::field::debug(outcome));
        metrics::counter!("ordo_consumer_events_total", "consumer" => self.spec.name.clone(), "outcome" => format!("{outcome:?}")).increment(1);
        outcome
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let ms = self
            .cfg
            .backoff_initial_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        Duration::from_millis(ms.min(self.cfg.backoff_max_ms))
    }

    /// The inbox transaction: Ok(true) applied, Ok(false) duplicate. With `replayed` set, the
    /// dead letter is marked replayed in the same transaction.
    async fn apply(&self, d: &Delivery, replayed: Option<Uuid>) -> Result<bool, HandlerError> {
        let mut tx = self.pool.begin().await?;
        let inserted = self.inbox(&mut tx, d).await?;
        if inserted == 1 {
            self.handler.handle(&mut tx, d).await?;
        }
        if let Some(id) = replayed {
            // The handler may have scoped the transaction to a tenant; dead letters are the
            // platform's to mark.
            ordo_db::set_system(&mut tx).await?;
            sqlx::query(AssertSqlSafe(format!(
                "update {}.dead_letters set replayed_at = now(), replay_error = null where id = $1",
                self.spec.schema
            )))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn dead_letter(&self, msg: &jetstream::Message, d: &Delivery, reason: &str) -> Outcome {
        let result = self.write_dead_letter(d, reason).await;
        match result {
            Ok(id) => {
                tracing::error!(
                    %reason,
                    attempts = d.attempt,
                    dead_letter = %id,
                    tenant = ?d.tenant_id,
                    "event dead-lettered; an operator can replay it (POST /admin/dead-letters/{{id}}/replay)"
                );
                metrics::counter!("ordo_dead_letters_total", "consumer" => self.spec.name.clone(), "subject" => d.subject.clone())
                    .increment(1);
                if let Err(e) = msg.ack().await {
                    tracing::warn!(error = %e, "ack after dead letter failed");
                }
                Outcome::DeadLettered
            }
            Err(e) => {
                // Not recorded: leave it to JetStream to redeliver rather than lose it.
                tracing::error!(error = %e, "dead letter not written; the event will be redelivered");
                let _ = msg.ack_with(AckKind::Nak(Some(self.backoff(d.attempt)))).await;
                Outcome::Retrying
            }
        }
    }

    async fn write_dead_letter(&self, d: &Delivery, reason: &str) -> Result<Uuid, sqlx::Error> {
        let id = Uuid::now_v7();
        let mut tx = ordo_db::begin_system(&self.pool).await?;
        sqlx::query(AssertSqlSafe(format!(
            "insert into {}.dead_letters (id, consumer, subject, event_id, headers, payload, error, attempts, tenant_id)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            self.spec.schema
        )))
        .bind(id)
        .bind(&self.spec.name)
        .bind(&d.subject)
        .bind((!d.event_id.is_nil()).then_some(d.event_id))
        .bind(headers_to_json(&d.headers))
        .bind(d.payload.as_ref())
        .bind(reason)
        .bind(i32::try_from(d.attempt).unwrap_or(i32::MAX))
        .bind(d.tenant_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Run a dead letter through the handler again (inbox semantics kept). On success it is
    /// marked replayed in the same transaction; on failure the error is recorded.
    #[tracing::instrument(name = "ordo.replay_dead_letter", skip(self), fields(consumer = %self.spec.name))]
    pub async fn replay(&self, dead_letter_id: Uuid) -> Result<Outcome, BusError> {
        let mut tx = ordo_db::begin_system(&self.pool).await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "select subject, event_id, headers, payload, attempts from {}.dead_letters
             where id = $1 and consumer = $2 and replayed_at is null",
            self.spec.schema
        )))
        .bind(dead_letter_id)
        .bind(&self.spec.name)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| BusError::Event(format!("no pending dead letter {dead_letter_id}")))?;
        let headers_json: serde_json::Value = row.try_get("headers")?;
        let headers = headers_from_json(&headers_json);
        let event_id: Option<Uuid> = row.try_get("event_id")?;
        let event_id = event_id.ok_or_else(|| BusError::Event("dead letter has no event id".into()))?;
        let payload: Vec<u8> = row.try_get("payload")?;
        tx.commit().await?;
        let d = Delivery {
            subject: row.try_get("subject")?,
            event_id,
            tenant_id: header_uuid(&headers, headers::TENANT),
            headers,
            payload: payload.into(),
            attempt: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0) + 1,
        };
        match self.apply(&d, Some(dead_letter_id)).await {
            Ok(true) => Ok(Outcome::Applied),
            Ok(false) => Ok(Outcome::Duplicate),
            Err(e) => {
                let mut tx = ordo_db::begin_system(&self.pool).await?;
                sqlx::query(AssertSqlSafe(format!(
                    "update {}.dead_letters set replay_error = $2 where id = $1",
                    self.spec.schema
                )))
                .bind(dead_letter_id)
                .bind(e.to_string())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Err(BusError::Event(format!("replay failed: {e}")))
            }
        }
    }
}

/// Which delivery of its message this is (1 for the first).
fn attempt_of(msg: &jetstream::Message) -> u32 {
    msg.info()
        .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

fn header_uuid(h: &HeaderMap, name: &str) -> Option<Uuid> {
    h.get(name).and_then(|v| Uuid::parse_str(v.as_str()).ok())
}

fn delivery_from(msg: &jetstream::Message, subject: String, attempt: u32) -> Result<Delivery, String> {
    let h = msg.headers.clone().unwrap_or_default();
    let event_id = header_uuid(&h, headers::EVENT_ID)
        .or_else(|| header_uuid(&h, headers::MSG_ID))
        .ok_or_else(|| format!("{subject}: no event id in {} or {}", headers::EVENT_ID, headers::MSG_ID))?;
    Ok(Delivery {
        subject,
        event_id,
        tenant_id: header_uuid(&h, headers::TENANT),
        headers: h,
        payload: msg.payload.clone(),
        attempt,
    })
}

fn headers_to_json(h: &HeaderMap) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, values) in h.iter() {
        if let Some(v) = values.first() {
            map.insert(k.to_string(), serde_json::Value::String(v.as_str().to_owned()));
        }
    }
    serde_json::Value::Object(map)
}

fn headers_from_json(v: &serde_json::Value) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(map) = v.as_object() {
        for (k, v) in map {
            if let Some(s) = v.as_str() {
                h.insert(k.as_str(), s);
            }
        }
    }
    h
}

/// A consumer as the dead-letter endpoints see it: its name, the schema of its dead letters,
/// and a way to replay one (object-safe, so a service's consumers of different handler types
/// sit in one registry).
pub trait Replayer: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &str;
    fn schema(&self) -> &str;
    fn replay_boxed(&self, id: Uuid) -> std::pin::Pin<Box<dyn Future<Output = Result<Outcome, BusError>> + Send + '_>>;
}

impl<H: Handler> Replayer for Consumer<H> {
    fn name(&self) -> &str {
        &self.spec.name
    }
    fn schema(&self) -> &str {
        &self.spec.schema
    }
    fn replay_boxed(&self, id: Uuid) -> std::pin::Pin<Box<dyn Future<Output = Result<Outcome, BusError>> + Send + '_>> {
        Box::pin(self.replay(id))
    }
}
