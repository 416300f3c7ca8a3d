//! The sender: takes due messages, renders and sends them, records the outcome.
//!
//! Only the list of tenants with messages due is read across tenants (as `system`, which sees
//! pending messages only); each message is then taken in a transaction scoped to its tenant,
//! locked (`FOR UPDATE SKIP LOCKED`, so replicas never take the same one; up to 16 per
//! transaction), sent, and marked
//! `sent` with `notification.sent` in the outbox — or, when sending failed, given its next attempt
//! after an exponential backoff, and after `max_attempts` marked `failed` with
//! `notification.failed` (the dead letter: it stays in the table with its last error).
//! Within an order, messages go out in the order their events happened (event ids are UUIDv7,
//! ordered by time), whatever order the consumers, which work concurrently, stored them in: a
//! message waits while an earlier one of its order is still pending, and every message but the
//! confirmation waits until the order itself is known (its `order.placed` stored, with the
//! confirmation) — for at most `NOT_YET_FOR_SECS`.
//!
//! A crash after the mail server accepted a message but before the commit sends it again on the
//! next attempt, with the same Message-ID (`<{id}@ordo>`), which mail systems use to drop
//! duplicates; nothing is ever lost.

use crate::compose::{self, LinkView, Sender as From};
use crate::transport::Transport;
use ordo_bus::Bus;
use ordo_bus::outbox::Outbox;
use ordo_config::NotificationConfig;
use ordo_db::Scope;
use ordo_events::delivery::v1::{DownloadLinksReply, DownloadLinksRequest};
use ordo_events::notification::v1::{NotificationFailed, NotificationSent};
use ordo_events::{Event, EventMetadata};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool, Row};
use std::time::Duration;
use uuid::Uuid;

pub const CHANNEL: &str = "ordo_notifications_due";

#[derive(Debug, Clone)]
pub struct Sender {
    pub pool: PgPool,
    pub bus: Bus,
    pub transport: Transport,
    pub cfg: NotificationConfig,
    /// How long to wait for the delivery service's links.
    pub rpc_timeout: Duration,
}

/// Why a message was not sent this time.
enum Failure {
    /// Worth another attempt (transport down, links not ready).
    Retry(String),
    /// No attempt can succeed (a malformed address): failed at once.
    Never(String),
    /// Not an attempt: something the message needs is not there yet (download links a moment
    /// after payment); asked again shortly, for up to `NOT_YET_FOR_SECS`, then a failed attempt.
    NotYet(String),
}

/// The most messages one sender transaction takes (their outcomes commit together).
const BATCH: i64 = 16;

/// How long a message may wait for what it needs before waiting counts as failed attempts.
const NOT_YET_FOR_SECS: f64 = 600.0;

fn meta<E: Event>(tenant: Uuid, order: Uuid) -> EventMetadata {
    EventMetadata::for_event::<E>(&tenant.to_string(), &order.to_string(), 0)
}

/// A message due to be sent.
#[derive(Debug, Clone, Copy)]
struct Due<'a> {
    tenant: Uuid,
    id: Uuid,
    kind: &'a str,
    order: Uuid,
    recipient: &'a str,
    /// The order's customer, once the order is known here.
    customer: &'a Option<String>,
    data: &'a serde_json::Value,
}

/// The messages of a batch that went out: marked `sent`, with their `notification.sent`
/// events, in one statement each.
#[derive(Default)]
struct Sent {
    ids: Vec<Uuid>,
    attempts: Vec<i32>,
    subjects: Vec<String>,
    events: Vec<NotificationSent>,
}

impl Sent {
    fn push(&mut self, due: &Due<'_>, attempts: i32, subject: String) {
        let (id, order, kind) = (due.id, due.order, due.kind);
        metrics::counter!("ordo_notification_messages_sent_total", "kind" => kind.to_owned()).increment(1);
        tracing::info!(message = %id, %kind, %order, attempts, "message sent");
        self.events.push(NotificationSent {
            meta: Some(meta::<NotificationSent>(due.tenant, order)),
            message_id: id.to_string(),
            kind: kind.to_owned(),
            order_id: order.to_string(),
            attempts: attempts as u32,
        });
        self.ids.push(id);
        self.attempts.push(attempts);
        self.subjects.push(subject);
    }

    /// (`m.id = any($1)` lets the planner find the rows by their key; joined with `unnest`
    /// alone it hashed the whole table.)
    async fn record(self, tx: &mut PgConnection) -> anyhow::Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "update notifications.messages m set status = 'sent', attempts = s.attempts, sent_at = now(),
                 subject = s.subject, last_error = null
             from unnest($1::uuid[], $2::int[], $3::text[]) as s(id, attempts, subject)
             where m.id = s.id and m.id = any($1)",
        )
        .bind(&self.ids)
        .bind(&self.attempts)
        .bind(&self.subjects)
        .execute(&mut *tx)
        .await?;
        Outbox::new(crate::SCHEMA).enqueue_all(tx, &self.events).await?;
        Ok(())
    }
}

impl Sender {
    /// Run forever: send what is due, then wait for a NOTIFY (a new message; its payload names
    /// the tenant, so only that tenant is looked at) or the poll interval (backoffs coming due:
    /// every tenant is looked at).
    pub async fn run(self) {
        let poll = Duration::from_millis(self.cfg.poll_interval_ms.max(10));
        let mut listener = listen(&self.pool).await;
        let mut woken: Option<Vec<Uuid>> = None; // None: look at every tenant
        loop {
            let cycle = match woken.take() {
                Some(tenants) => self.drain_tenants(tenants).await,
                None => self.drain().await,
            };
            if let Err(e) = cycle {
                tracing::warn!(error = %e, "notification sender cycle failed");
            }
            match &mut listener {
                Some(l) => match tokio::time::timeout(poll, l.recv()).await {
                    Ok(Ok(first)) => {
                        let mut tenants = vec![first.payload().to_owned()];
                        while let Some(n) = l.next_buffered() {
                            tenants.push(n.payload().to_owned());
                        }
                        let parsed: Option<Vec<Uuid>> = tenants.iter().map(|t| Uuid::parse_str(t).ok()).collect();
                        woken = parsed.map(|mut t| {
                            t.sort();
                            t.dedup();
                            t
                        });
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "listener lost; reconnecting");
                        listener = None;
                    }
                    Err(_) => {}
                },
                None => {
                    tokio::time::sleep(poll).await;
                    listener = listen(&self.pool).await;
                }
            }
        }
    }

    /// Send everything due now; returns how many messages were handled (sent, retried or failed).
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut tx = ordo_db::begin_system(&self.pool).await?;
        let tenants: Vec<Uuid> = sqlx::query_scalar(
            "select distinct tenant_id from notifications.messages where status = 'pending' and next_attempt_at <= now()",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        self.drain_tenants(tenants).await
    }

    /// Send what is due for `tenants`.
    async fn drain_tenants(&self, tenants: Vec<Uuid>) -> anyhow::Result<usize> {
        let mut handled = 0;
        for tenant in tenants {
            loop {
                let (n, more) = self.send_batch(tenant).await?;
                handled += n;
                if !more {
                    break;
                }
            }
        }
        Ok(handled)
    }

    /// Take up to [`BATCH`] due messages of `tenant` and try each, recording every outcome in
    /// one transaction; how many were taken, and whether more may be due now (a full batch, or
    /// a message that waited for one of these to go first).
    async fn send_batch(&self, tenant: Uuid) -> anyhow::Result<(usize, bool)> {
        let mut tx = ordo_db::begin_scoped(&self.pool, &Scope::service(tenant)).await?;
        let rows = sqlx::query(
            "select m.id, m.kind, m.order_id, m.recipient, m.data, m.attempts,
                    extract(epoch from now() - m.created_at)::float8 as age,
                    (select o.customer_id from notifications.orders o where o.order_id = m.order_id) as customer_id,
                    exists (select 1 from notifications.messages n
                            where n.order_id = m.order_id and n.event_id > m.event_id and n.status = 'pending') as has_next
             from notifications.messages m
             where m.status = 'pending' and m.next_attempt_at <= now()
               and not exists (select 1 from notifications.messages e
                               where e.order_id = m.order_id and e.event_id < m.event_id and e.status = 'pending')
               and (m.kind in ('order_confirmation', 'payment_returned') or m.created_at < now() - make_interval(secs => $1)
                    or exists (select 1 from notifications.orders o where o.order_id = m.order_id))
             order by m.event_id limit $2 for update skip locked",
        )
        .bind(NOT_YET_FOR_SECS)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok((0, false));
        }
        let mut more = rows.len() as i64 == BATCH;
        let from = self.sender_of(&mut tx, tenant).await?;
        let mut sent = Sent::default();
        for row in &rows {
            let id: Uuid = row.try_get("id")?;
            let kind: String = row.try_get("kind")?;
            let order: Uuid = row.try_get("order_id")?;
            let recipient: String = row.try_get("recipient")?;
            let data: serde_json::Value = row.try_get("data")?;
            let attempts = row.try_get::<i32, _>("attempts")? + 1;
            let age: f64 = row.try_get("age")?;
            let customer: Option<String> = row.try_get("customer_id")?;
            more |= row.try_get::<bool, _>("has_next")?;
            let due = Due {
                tenant,
                id,
                kind: &kind,
                order,
                recipient: &recipient,
                customer: &customer,
                data: &data,
            };
            match self.attempt(&due, &from).await {
                Ok(subject) => sent.push(&due, attempts, subject),
                Err(failure) => self.settle(&mut tx, &due, attempts, age, failure).await?,
            }
        }
        sent.record(&mut tx).await?;
        tx.commit().await?;
        Ok((rows.len(), more))
    }

    /// Record a failed attempt (inside the batch's transaction).
    async fn settle(
        &self,
        tx: &mut PgConnection,
        due: &Due<'_>,
        attempts: i32,
        age: f64,
        failure: Failure,
    ) -> anyhow::Result<()> {
        let (tenant, id, order, kind) = (due.tenant, due.id, due.order, due.kind.to_owned());
        match failure {
            Failure::NotYet(why) if age < NOT_YET_FOR_SECS => {
                sqlx::query(
                    "update notifications.messages set last_error = $2,
                         next_attempt_at = now() + make_interval(secs => $3) where id = $1",
                )
                .bind(id)
                .bind(&why)
                .bind(self.cfg.backoff_initial_ms.clamp(50, 1000) as f64 / 1000.0)
                .execute(&mut *tx)
                .await?;
                tracing::debug!(message = %id, %kind, %why, "not ready to send; asked again shortly");
            }
            failure => {
                let (error, never) = match failure {
                    Failure::Retry(e) | Failure::NotYet(e) => (e, false),
                    Failure::Never(e) => (e, true),
                };
                if never || attempts >= self.cfg.max_attempts.max(1) as i32 {
                    sqlx::query(
                        "update notifications.messages set status = 'failed', attempts = $2, last_error = $3 where id = $1",
                    )
                    .bind(id)
                    .bind(attempts)
                    .bind(&error)
                    .execute(&mut *tx)
                    .await?;
                    let event = NotificationFailed {
                        meta: Some(meta::<NotificationFailed>(tenant, order)),
                        message_id: id.to_string(),
                        kind: kind.clone(),
                        order_id: order.to_string(),
                        attempts: attempts as u32,
                        error: error.clone(),
                    };
                    Outbox::new(crate::SCHEMA).enqueue(&mut *tx, &event).await?;
                    metrics::counter!("ordo_notification_messages_failed_total", "kind" => kind.clone()).increment(1);
                    tracing::error!(message = %id, %kind, %order, attempts, %error, "message given up");
                } else {
                    let backoff = backoff_ms(&self.cfg, attempts as u32);
                    sqlx::query(
                        "update notifications.messages set attempts = $2, last_error = $3,
                             next_attempt_at = now() + make_interval(secs => $4) where id = $1",
                    )
                    .bind(id)
                    .bind(attempts)
                    .bind(&error)
                    .bind(backoff as f64 / 1000.0)
                    .execute(&mut *tx)
                    .await?;
                    metrics::counter!("ordo_notification_send_failures_total", "kind" => kind.clone()).increment(1);
                    tracing::warn!(message = %id, %kind, attempts, backoff_ms = backoff, %error, "send failed; will retry");
                }
            }
        }
        Ok(())
    }

    async fn sender_of(&self, tx: &mut PgConnection, tenant: Uuid) -> Result<From, sqlx::Error> {
        let row =
            sqlx::query("select store_name, sender, order_page_url from notifications.settings where tenant_id = $1")
                .bind(tenant)
                .fetch_optional(&mut *tx)
                .await?;
        let cfg = &self.cfg;
        Ok(match row {
            Some(r) => From {
                store_name: r.try_get("store_name")?,
                address: r.try_get("sender")?,
                order_page_url: r
                    .try_get::<Option<String>, _>("order_page_url")?
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| cfg.order_page_url.clone()),
            },
            None => From {
                store_name: cfg.default_store_name.clone(),
                address: cfg.default_sender.clone(),
                order_page_url: cfg.order_page_url.clone(),
            },
        })
    }

    /// Render and send one message; the subject when it went out.
    async fn attempt(&self, due: &Due<'_>, from: &From) -> Result<String, Failure> {
        let Due {
            tenant,
            id,
            kind,
            order,
            recipient,
            ..
        } = *due;
        let mut data = due.data.clone();
        let links = if kind == "payment_received" && data["has_digital"].as_bool().unwrap_or(false) {
            self.links(tenant, order, &mut data).await?
        } else {
            vec![]
        };
        let mut view = compose::view(kind, &data, from, &order.to_string(), links);
        // A guest opens the order on another device with a signed link.
        if let Some(customer) = &due.customer {
            let expires =
                time::OffsetDateTime::now_utc().unix_timestamp() + i64::from(self.cfg.order_link_days) * 86_400;
            let query =
                ordo_auth::order_link::query(self.cfg.order_link_secret.expose(), tenant, order, customer, expires);
            view.order_url = ordo_auth::order_link::signed_url(&view.order_url, &query);
        }
        let (text, html) = compose::render(&view).map_err(|e| Failure::Never(format!("template: {e}")))?;
        let to: lettre::message::Mailbox = recipient
            .parse()
            .map_err(|e| Failure::Never(format!("recipient address {recipient:?}: {e}")))?;
        let sender: lettre::Address = from
            .address
            .parse()
            .map_err(|e| Failure::Retry(format!("sender address {:?}: {e}", from.address)))?;
        let message = lettre::Message::builder()
            .from(lettre::message::Mailbox::new(Some(from.store_name.clone()), sender))
            .to(to)
            .subject(view.subject.clone())
            .message_id(Some(format!("<{id}@ordo>")))
            .multipart(lettre::message::MultiPart::alternative_plain_html(text, html))
            .map_err(|e| Failure::Never(format!("building the message: {e}")))?;
        self.transport.send(id, &message).await.map_err(Failure::Retry)?;
        Ok(view.subject)
    }

    /// Fresh download links for the order's digital lines, from the delivery service.
    async fn links(&self, tenant: Uuid, order: Uuid, data: &mut serde_json::Value) -> Result<Vec<LinkView>, Failure> {
        let request = DownloadLinksRequest {
            tenant_id: tenant.to_string(),
            order_id: order.to_string(),
            customer_id: String::new(),
            requester: "service".into(),
        };
        let reply: DownloadLinksReply = ordo_bus::rpc::request(
            &self.bus,
            ordo_events::rpc::DELIVERY_DOWNLOAD_LINKS,
            &request,
            self.rpc_timeout,
        )
        .await
        .map_err(|e| Failure::Retry(format!("download links: {e}")))?;
        if let Some(e) = reply.error {
            return match e.code.as_str() {
                // Refunded or canceled since: the message goes out without links.
                "grants_revoked" => Ok(vec![]),
                "order_unknown" => Err(Failure::NotYet(format!("download links not ready: {}", e.message))),
                _ => Err(Failure::Retry(format!("download links: {}: {}", e.code, e.message))),
            };
        }
        let titles = data["lines"].as_array().cloned().unwrap_or_default();
        let mut expire = None;
        let mut uses = None;
        let links = reply
            .links
            .iter()
            .filter(|l| !l.url.is_empty())
            .map(|l| {
                if let Some(t) = &l.expires_at {
                    expire = Some(t.seconds);
                }
                uses = Some(l.remaining_downloads);
                let title = titles
                    .iter()
                    .find(|t| t["line_id"] == l.line_id.as_str())
                    .and_then(|t| t["title"].as_str())
                    .unwrap_or("your download")
                    .to_owned();
                LinkView {
                    title,
                    url: l.url.clone(),
                }
            })
            .collect();
        if let Some(n) = uses {
            data["links_uses"] = serde_json::json!(n);
        }
        if let Some(secs) = expire
            && let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs)
        {
            data["links_expire"] = serde_json::json!(format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute()
            ));
        }
        Ok(links)
    }
}

/// The wait before attempt `attempts + 1`: initial × 2^(attempts−1), at most the maximum.
pub fn backoff_ms(cfg: &NotificationConfig, attempts: u32) -> u64 {
    cfg.backoff_initial_ms
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(30))
        .min(cfg.backoff_max_ms)
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    ordo_db::listener(pool, CHANNEL).await.ok()
}
