//! The transactional outbox: an event row written in the same transaction as the state change.

use crate::BusError;
use ordo_events::{Event, headers};
use serde_json::{Map, Value};
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

/// The outbox of one service schema (e.g. `orders`).
#[derive(Clone, Debug)]
pub struct Outbox {
    insert_sql: String,
    insert_all_sql: String,
}

impl Outbox {
    pub fn new(schema: &str) -> Outbox {
        Outbox {
            insert_sql: format!("insert into {schema}.outbox (id, subject, headers, payload) values ($1, $2, $3, $4)"),
            insert_all_sql: format!(
                "insert into {schema}.outbox (id, subject, headers, payload)
                 select * from unnest($1::uuid[], $2::text[], $3::jsonb[], $4::bytea[])"
            ),
        }
    }

    /// Add several events of one type in one statement; their ids.
    #[tracing::instrument(name = "outbox.enqueue", skip_all, fields(subject = E::SUBJECT, events = events.len()))]
    pub async fn enqueue_all<E: Event>(&self, conn: &mut PgConnection, events: &[E]) -> Result<Vec<Uuid>, BusError> {
        let mut ids = Vec::with_capacity(events.len());
        let mut heads = Vec::with_capacity(events.len());
        let mut payloads = Vec::with_capacity(events.len());
        for event in events {
            let (id, h) = Self::headers_of(event)?;
            ids.push(id);
            heads.push(h);
            payloads.push(event.encode_to_vec());
        }
        if ids.is_empty() {
            return Ok(ids);
        }
        sqlx::query(AssertSqlSafe(self.insert_all_sql.as_str()))
            .bind(&ids)
            .bind(vec![E::SUBJECT; ids.len()])
            .bind(heads)
            .bind(payloads)
            .execute(conn)
            .await?;
        Ok(ids)
    }

    /// An event's id and the headers stored with it.
    fn headers_of<E: Event>(event: &E) -> Result<(Uuid, Value), BusError> {
        let meta = event
            .meta()
            .ok_or_else(|| BusError::Event(format!("{} has no metadata", E::SUBJECT)))?;
        let id = Uuid::parse_str(&meta.event_id)
            .map_err(|_| BusError::Event(format!("{}: event id {:?} is not a UUID", E::SUBJECT, meta.event_id)))?;
        let mut h = Map::new();
        h.insert(headers::EVENT_TYPE.into(), Value::String(E::SUBJECT.into()));
        if !meta.tenant_id.is_empty() {
            h.insert(headers::TENANT.into(), Value::String(meta.tenant_id.clone()));
        }
        for (k, v) in ordo_telemetry::trace_headers(&tracing::Span::current()) {
            h.insert(k, Value::String(v));
        }
        Ok((id, Value::Object(h)))
    }

    /// Add `event` to the outbox inside the caller's transaction. The event must carry its
    /// metadata (id and tenant); the current span's trace context is stored with it.
    #[tracing::instrument(name = "outbox.enqueue", skip_all, fields(subject = E::SUBJECT))]
    pub async fn enqueue<E: Event>(&self, conn: &mut PgConnection, event: &E) -> Result<Uuid, BusError> {
        let (id, h) = Self::headers_of(event)?;
        sqlx::query(AssertSqlSafe(self.insert_sql.as_str()))
            .bind(id)
            .bind(E::SUBJECT)
            .bind(h)
            .bind(event.encode_to_vec())
            .execute(conn)
            .await?;
        Ok(id)
    }
}
