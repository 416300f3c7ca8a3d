//! `orders.idempotency_keys`: one stored response per (tenant, caller, Idempotency-Key), kept 24 h.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// Who sent a key: tenant and subject.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub tenant_id: Uuid,
    pub subject: &'a str,
}

/// The statement that claims `key` for a request of `who`, for the transaction's `BEGIN` batch
/// ([`ordo_db::begin_scoped_claimed`]): `orders.idempotency_claim` takes the advisory lock that
/// serialises requests with one key — (caller, key) — and checks that no response is stored
/// under it (migration order/0007 lists what it raises).
pub fn claim(who: Caller<'_>, key: &str) -> Result<String, sqlx::Error> {
    Ok(format!(
        "SELECT orders.idempotency_claim({}, {}, '{}', {}, {})",
        ordo_db::literal(&format!("{}/{}", who.tenant_id, who.subject), "lock key")?,
        ordo_db::literal(key, "lock key")?,
        who.tenant_id,
        ordo_db::literal(who.subject, "subject")?,
        ordo_db::literal(key, "Idempotency-Key")?,
    ))
}

#[derive(Debug, sqlx::FromRow)]
pub struct Stored {
    pub request_hash: String,
    pub response_status: Option<i32>,
    pub response_headers: Option<Value>,
    pub response_body: Option<Vec<u8>>,
    pub expired: bool,
}

/// The response stored under `key`, if any.
pub async fn find(conn: &mut PgConnection, who: Caller<'_>, key: &str) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as(
        "select request_hash, response_status, response_headers, response_body, expires_at < now() as expired
         from orders.idempotency_keys where tenant_id = $1 and caller = $2 and key = $3",
    )
    .bind(who.tenant_id)
    .bind(who.subject)
    .bind(key)
    .fetch_optional(conn)
    .await
}

/// A response to replay.
#[derive(Debug)]
pub struct Response<'a> {
    pub request_hash: &'a str,
    pub status: u16,
    pub location: Option<&'a str>,
    pub body: &'a [u8],
}

pub async fn insert(conn: &mut PgConnection, who: Caller<'_>, key: &str, r: &Response<'_>) -> Result<(), sqlx::Error> {
    let headers = match r.location {
        Some(l) => serde_json::json!({ "location": l }),
        None => serde_json::json!({}),
    };
    sqlx::query(
        "insert into orders.idempotency_keys
           (tenant_id, caller, key, request_hash, state, response_status, response_headers, response_body, expires_at)
         values ($1, $2, $3, $4, 'done', $5, $6, $7, now() + interval '24 hours')
         on conflict (tenant_id, caller, key) do nothing",
    )
    .bind(who.tenant_id)
    .bind(who.subject)
    .bind(key)
    .bind(r.request_hash)
    .bind(i32::from(r.status))
    .bind(headers)
    .bind(r.body)
    .execute(conn)
    .await?;
    Ok(())
}

/// Drop a tenant's expired records.
pub async fn purge_expired(conn: &mut PgConnection, tenant: Uuid) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from orders.idempotency_keys where tenant_id = $1 and expires_at < now()")
            .bind(tenant)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
