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

/// The advisory lock that serialises requests with one key: (caller, key), taken with the
/// transaction's `BEGIN` ([`ordo_db::begin_scoped_try_lock`]).
pub fn lock_keys(who: Caller<'_>, key: &str) -> (String, String) {
    (format!("{}/{}", who.tenant_id, who.subject), key.to_owned())
}

#[derive(Debug, sqlx::FromRow)]
pub struct Stored {
    pub request_hash: String,
    pub response_status: Option<i32>,
    pub response_headers: Option<Value>,
    pub response_body: Option<Vec<u8>>,
    pub expired: bool,
}

#[derive(Debug, sqlx::FromRow)]
struct Found {
    locked: bool,
    request_hash: Option<String>,
    response_status: Option<i32>,
    response_headers: Option<Value>,
    response_body: Option<Vec<u8>>,
    expired: Option<bool>,
}

/// Whether this transaction holds the key's lock (taken with its `BEGIN`), and the stored
/// response, in one round trip. Read after the lock was taken, so a response committed by the
/// lock's previous holder is seen.
pub async fn find_locked(
    conn: &mut PgConnection,
    who: Caller<'_>,
    key: &str,
) -> Result<(bool, Option<Stored>), sqlx::Error> {
    let f: Found = sqlx::query_as(
        "select current_setting('ordo.locked')::bool as locked, k.request_hash, k.response_status,
                k.response_headers, k.response_body, k.expires_at < now() as expired
         from (select 1) one
         left join orders.idempotency_keys k on k.tenant_id = $1 and k.caller = $2 and k.key = $3",
    )
    .bind(who.tenant_id)
    .bind(who.subject)
    .bind(key)
    .fetch_one(conn)
    .await?;
    let stored = f.request_hash.map(|request_hash| Stored {
        request_hash,
        response_status: f.response_status,
        response_headers: f.response_headers,
        response_body: f.response_body,
        expired: f.expired.unwrap_or(false),
    });
    Ok((f.locked, stored))
}

pub async fn delete(conn: &mut PgConnection, who: Caller<'_>, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("delete from orders.idempotency_keys where tenant_id = $1 and caller = $2 and key = $3")
        .bind(who.tenant_id)
        .bind(who.subject)
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
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
