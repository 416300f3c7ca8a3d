//! `Idempotency-Key` on every unsafe request.
//!
//! One transaction per request, whose `BEGIN` batch claims the key (`orders.idempotency_claim`,
//! same round trip): it takes a transaction-level advisory lock on (caller, key) — if another
//! request holds it, answer 409 at once — and checks that no response is stored under the key.
//! If one is (a retry), it is read in a transaction of its own: same request hash: replay it
//! (`Idempotent-Replayed: true`); other hash: 422. Otherwise the handler runs and its response is
//! stored in the same transaction as its effect. A 4xx answer is stored
//! too (in its own transaction, the effect having rolled back); a 5xx is not, so a retry runs
//! again. Records live 24 h.

use crate::store::idempotency::{self as store, Caller, Response};
use actix_web::body::MessageBody as _;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use ordo_auth::Principal;
use ordo_db::{Role, Scope};
use ordo_http::{ApiError, JSON_API};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use std::future::Future;
use std::pin::Pin;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";

/// A handler's answer before it becomes an HTTP response (so it can be stored and replayed).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: serde_json::Value,
    pub location: Option<String>,
}

impl Reply {
    /// `body` serialised (a typed document).
    pub fn new(status: StatusCode, body: &impl Serialize) -> Result<Self, ApiError> {
        Ok(Reply {
            status,
            body: serde_json::to_value(body).map_err(ApiError::internal)?,
            location: None,
        })
    }

    pub fn ok(body: &impl Serialize) -> Result<Self, ApiError> {
        Reply::new(StatusCode::OK, body)
    }

    /// 201 with a `Location`.
    pub fn created(body: &impl Serialize, location: String) -> Result<Self, ApiError> {
        let mut r = Reply::new(StatusCode::CREATED, body)?;
        r.location = Some(location);
        Ok(r)
    }
}

pub type TxFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, ApiError>> + 'a>>;

/// The caller's database scope.
pub fn scope_of(p: &Principal) -> Scope {
    let role = match p.role {
        ordo_auth::Role::Admin => Role::Admin,
        ordo_auth::Role::Customer => Role::Customer,
    };
    Scope::new(p.tenant_id, Some(p.subject.clone()), role)
}

/// A valid `Idempotency-Key` header (1 to 255 characters), extracted before the body is read,
/// so a request without one is answered 400 whatever its body.
#[derive(Debug, Clone)]
pub struct Key(String);

/// The namespace of ids derived from Idempotency-Keys (UUIDv5).
const REQUEST_IDS: uuid::Uuid = uuid::Uuid::from_u128(0x6f72_646f_6964_656d_706f_7465_6e63_7901);

impl Key {
    /// An id for `what` this request asks another service to do, the same on every retry of
    /// the request (same caller, same key), so that service can tell a retry from a new request
    /// when the first attempt's answer was lost after it did the work.
    pub fn request_id(&self, who: &Principal, what: &str) -> uuid::Uuid {
        uuid::Uuid::new_v5(
            &REQUEST_IDS,
            format!("{}/{}/{what}/{}", who.tenant_id, who.subject, self.0).as_bytes(),
        )
    }
}

impl actix_web::FromRequest for Key {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Key, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(key_of(req).map(Key))
    }
}

fn key_of(req: &HttpRequest) -> Result<String, ApiError> {
    let missing = || {
        ApiError::bad_request(
            "missing_idempotency_key",
            "unsafe requests need an Idempotency-Key header",
        )
        .with_header_source("Idempotency-Key")
    };
    let v = req.headers().get(HEADER).ok_or_else(missing)?;
    let v = v.to_str().map_err(|_| missing())?.trim();
    if v.is_empty() || v.len() > 255 {
        return Err(
            ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters")
                .with_header_source("Idempotency-Key"),
        );
    }
    Ok(v.to_owned())
}

fn request_hash(req: &HttpRequest, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(req.method().as_str().as_bytes());
    h.update(b" ");
    h.update(req.path().as_bytes());
    h.update(b"\n");
    h.update(body);
    format!("{:x}", h.finalize())
}

fn to_response(status: u16, body: Vec<u8>, location: Option<String>, replayed: bool) -> HttpResponse {
    let mut res = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    res.content_type(JSON_API);
    if let Some(l) = location {
        res.insert_header(("location", l));
    }
    if replayed {
        res.insert_header((REPLAYED, "true"));
    }
    res.body(body)
}

fn error_body(e: &ApiError) -> (u16, Vec<u8>) {
    let res = actix_web::ResponseError::error_response(e);
    let status = res.status().as_u16();
    // The body of an ApiError is a small JSON document built in memory.
    let body = match res.into_body().try_into_bytes() {
        Ok(b) => b.to_vec(),
        Err(_) => Vec::new(),
    };
    (status, body)
}

/// SQLSTATEs `orders.idempotency_claim` raises (migration order/0007).
const CLAIM_IN_PROGRESS: &str = "OI409";
const CLAIM_STORED: &str = "OI200";

/// Whether `e` is the error `orders.idempotency_claim` raises with `code`.
fn raised(e: &sqlx::Error, code: &str) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == code)
}

fn in_progress() -> ApiError {
    ApiError::conflict(
        "idempotency_in_progress",
        "a request with this Idempotency-Key is still running",
    )
    .with_response_header("retry-after", "1".into())
}

/// Answer with a stored response: the same request's is replayed; another request is refused.
async fn replay(
    tx: Transaction<'static, Postgres>,
    stored: store::Stored,
    hash: &str,
) -> Result<HttpResponse, ApiError> {
    if stored.request_hash != hash {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
            None,
        )
        .with_header_source("Idempotency-Key"));
    }
    let location = stored
        .response_headers
        .as_ref()
        .and_then(|h| h.get("location"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    tx.commit().await?;
    let status = stored
        .response_status
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    Ok(to_response(
        status,
        stored.response_body.unwrap_or_default(),
        location,
        true,
    ))
}

/// The request's transaction, its key claimed — or the answer when the key is taken: 409 while
/// another request holds it, the stored response (or 422) when one is stored.
async fn claimed(
    pool: &PgPool,
    scope: &ordo_db::Scope,
    claim: &str,
    caller: Caller<'_>,
    key: &str,
    hash: &str,
) -> Result<Transaction<'static, Postgres>, Result<HttpResponse, ApiError>> {
    // Twice at most: a stored record that expired (or was purged) just after the claim saw it
    // is gone for the second claim.
    for _ in 0..2 {
        match ordo_db::begin_scoped_claimed(pool, scope, claim).await {
            Ok(tx) => return Ok(tx),
            Err(e) if raised(&e, CLAIM_IN_PROGRESS) => return Err(Err(in_progress())),
            Err(e) if raised(&e, CLAIM_STORED) => {
                // A retry: stored responses never change, so it is read without the key's lock.
                let mut tx = ordo_db::begin_scoped(pool, scope).await.map_err(|e| Err(e.into()))?;
                match store::find(&mut tx, caller, key).await.map_err(|e| Err(e.into()))? {
                    Some(stored) if !stored.expired => return Err(replay(tx, stored, hash).await),
                    _ => continue,
                }
            }
            Err(e) => return Err(Err(e.into())),
        }
    }
    Err(Err(in_progress()))
}

/// Run `work` exactly once per (caller, Idempotency-Key), in one transaction with the caller's
/// scope, and answer with its (possibly replayed) response.
pub async fn run<F>(
    pool: &PgPool,
    req: &HttpRequest,
    who: &Principal,
    Key(key): Key,
    body: &[u8],
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: for<'t> FnOnce(&'t mut Transaction<'static, Postgres>) -> TxFuture<'t>,
{
    let hash = request_hash(req, body);
    let scope = scope_of(who);
    let caller = Caller {
        tenant_id: who.tenant_id,
        subject: &who.subject,
    };
    let claim = store::claim(caller, &key)?;
    let mut tx = match claimed(pool, &scope, &claim, caller, &key, &hash).await {
        Ok(tx) => tx,
        Err(answer) => return answer,
    };
    match work(&mut tx).await {
        Ok(reply) => {
            let body = serde_json::to_vec(&reply.body).map_err(ApiError::internal)?;
            let response = Response {
                request_hash: &hash,
                status: reply.status.as_u16(),
                location: reply.location.as_deref(),
                body: &body,
            };
            store::insert(&mut tx, caller, &key, &response).await?;
            tx.commit().await?;
            Ok(to_response(reply.status.as_u16(), body, reply.location, false))
        }
        Err(e) if e.status_code_u16() >= 500 => Err(e),
        Err(e) => {
            drop(tx); // roll the effect back
            let (status, body) = error_body(&e);
            let response = Response {
                request_hash: &hash,
                status,
                location: None,
                body: &body,
            };
            let mut tx = ordo_db::begin_scoped(pool, &scope).await?;
            store::insert(&mut tx, caller, &key, &response).await?;
            tx.commit().await?;
            Err(e)
        }
    }
}
