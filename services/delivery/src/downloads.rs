//! `GET /downloads/{token}`: the file behind a download link, streamed from object storage.
//!
//! One short transaction decides, with the token and its grant locked: unknown, revoked,
//! expired or used-up tokens get 403 with a code saying which; a missing asset 503; a `Range`
//! header that cannot be satisfied, or asks for more than `max_ranges` (or overlapping) ranges,
//! 416. Otherwise the request joins the token's current download *run* or starts a new one,
//! which costs one use of the grant. A request starts a new run when
//! * it asks for bytes the run already sent completely (`run_done`), or
//! * it asks for any byte that a request of the run still sending has claimed (each request's
//!   claim is its own row in `download_claims`, removed when that request ends — so N parallel
//!   requests for the same bytes cost N uses, and one ending never drops another's claim); or
//! * it asks for more than a slack (a quarter of the file, at most 16 MiB) of bytes that the run
//!   sent in requests that broke off (`run_partial`) — the slack lets a resumed download ask
//!   again for what was lost in socket buffers when its connection broke; or
//! * the run has been silent for `resume_window_secs`.
//!
//! So a download resumed in several range requests (or fetched in parallel, disjoint pieces)
//! counts once, while fetching the file again counts again — also when the copies run in
//! parallel or each breaks off just before its last byte. The transaction commits before the
//! first byte is sent.
//!
//! The body is streamed (never buffered whole). When it has been sent completely, its ranges
//! join the run; a body that breaks off records the bytes it did send (for several ranges, the
//! ranges its bytes covered); either way its claim is released. When the run has covered every
//! byte of the file, the download is complete: the grant's first completed download publishes
//! `delivery.downloaded`. A claim left by a crash (never released) can make a resume within the
//! window count once more; never fewer.
//!
//! The token never reaches a log or a trace: the request span records a redacted path (see
//! `ordo_http`), and nothing here logs it.

use crate::AppState;
use crate::links::hash;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::{GetOptions, GetResultPayload, ObjectStore as _};
use ordo_bus::outbox::Outbox;
use ordo_db::Scope;
use ordo_events::delivery::v1::Downloaded;
use ordo_http::ApiError;
use sqlx::{PgPool, Row};
use std::pin::Pin;
use std::task::{Context, Poll};
use uuid::Uuid;

/// Chunk size for reading local files.
const CHUNK: usize = 256 * 1024;

/// How many bytes a request may ask again, of those its run sent partly or is sending, without
/// starting a new run: what a broken connection may have lost in buffers on the way.
fn resume_slack(size: u64) -> u64 {
    (size / 4).min(16 << 20)
}

/// What a `Range` header asks for, against a file of a known size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// No (usable) Range header: the whole file.
    Whole,
    /// These half-open byte ranges, sorted, disjoint, within the file.
    Ranges(Vec<(u64, u64)>),
    /// 416: nothing satisfiable.
    Unsatisfiable,
    /// 416: more ranges than allowed, or overlapping ones.
    Refused,
}

/// Parse `Range` (RFC 9110 §14): `bytes=a-b, c-, -n`. A header in another unit or with a
/// syntax error is ignored (the whole file), as the RFC allows.
pub fn parse_range(header: Option<&str>, size: u64, max_ranges: usize) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    if parts.len() > max_ranges.max(1) {
        return Wanted::Refused;
    }
    let mut ranges = Vec::new();
    for p in parts {
        let Some((a, b)) = p.split_once('-') else {
            return Wanted::Whole;
        };
        let num = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                None
            } else {
                s.parse().ok()
            }
        };
        let range = match (a.is_empty(), b.is_empty()) {
            // -n: the last n bytes
            (true, false) => match num(b) {
                Some(0) => None,
                Some(n) => (size > 0).then(|| (size.saturating_sub(n), size)),
                None => return Wanted::Whole,
            },
            // a-: from a to the end
            (false, true) => match num(a) {
                Some(a) => (a < size).then_some((a, size)),
                None => return Wanted::Whole,
            },
            (false, false) => match (num(a), num(b)) {
                (Some(a), Some(b)) if a <= b => (a < size).then(|| (a, (b + 1).min(size))),
                _ => return Wanted::Whole,
            },
            (true, true) => return Wanted::Whole,
        };
        if let Some(r) = range {
            ranges.push(r);
        }
    }
    if ranges.is_empty() {
        return Wanted::Unsatisfiable;
    }
    ranges.sort_unstable();
    if ranges.windows(2).any(|w| w[1].0 < w[0].1) {
        return Wanted::Refused;
    }
    Wanted::Ranges(ranges)
}

/// The ranges as a PostgreSQL int8multirange literal.
fn multirange(ranges: &[(u64, u64)]) -> String {
    let inner: Vec<String> = ranges.iter().map(|(a, b)| format!("[{a},{b})")).collect();
    format!("{{{}}}", inner.join(","))
}

fn refuse(status: StatusCode, code: &'static str, detail: &str) -> ApiError {
    ApiError::new(status, code, detail)
        .with_response_header("cache-control", "no-store".into())
        .with_response_header("referrer-policy", "no-referrer".into())
}

fn forbidden(code: &'static str, detail: &str) -> ApiError {
    metrics::counter!("ordo_delivery_downloads_refused_total", "code" => code).increment(1);
    refuse(StatusCode::FORBIDDEN, code, detail)
}

/// A download that was let through: what the finishing step needs.
#[derive(Debug, Clone)]
struct Run {
    pool: PgPool,
    tenant: Uuid,
    token_hash: [u8; 32],
    run_number: i32,
    /// This request's claim on its ranges (removed when it ends).
    claim: Uuid,
    size: u64,
    /// The ranges this request sends (the whole file: `[(0, size)]`), each after a part header
    /// of the given length (multipart) or none: the body's layout, to map bytes sent to ranges.
    layout: Vec<(u64, (u64, u64))>,
}

impl Run {
    fn ranges(&self) -> Vec<(u64, u64)> {
        self.layout.iter().map(|(_, r)| *r).collect()
    }
}

/// The file ranges covered by the first `sent` bytes of a body laid out as `layout`.
fn sent_ranges(layout: &[(u64, (u64, u64))], mut sent: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(head, (a, b)) in layout {
        if sent <= head {
            break;
        }
        sent -= head;
        let take = sent.min(b - a);
        if take > 0 {
            out.push((a, a + take));
        }
        sent -= take;
        if take < b - a {
            break;
        }
    }
    out
}

ordo_http::endpoints!(download);

/// The error answer of a download.
#[derive(Debug, utoipa::IntoResponses)]
pub enum DownloadErrors {
    /// token_unknown | token_revoked | token_expired | download_limit_reached (a page in words
    /// for `Accept: text/html`)
    #[response(status = 403, content_type = "application/vnd.api+json")]
    Refused(ordo_http::ErrorDocument),
    /// range_not_satisfiable | too_many_ranges (`Content-Range: bytes */size`)
    #[response(status = 416, content_type = "application/vnd.api+json")]
    Range(ordo_http::ErrorDocument),
    /// Other client errors
    #[response(status = "4XX", content_type = "application/vnd.api+json")]
    Other(ordo_http::ErrorDocument),
    /// asset_unavailable (no use counted)
    #[response(status = 503, content_type = "application/vnd.api+json")]
    Unavailable(ordo_http::ErrorDocument),
}

/// `Range: bytes=…` (RFC 9110).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // documentation only
struct RangeHeader {
    /// `bytes=…`, at most `delivery.max_ranges` disjoint ranges
    #[param(rename = "Range")]
    range: Option<String>,
}

#[utoipa::path(
    get,
    path = "/downloads/{token}",
    tag = "downloads",
    summary = "Download the file behind a link",
    description = "No authentication: the token is the credential. Streams the file; `Range` gives 206 \
        (several ranges → multipart/byteranges). A download resumed over several range requests counts as \
        one use; a request counts a new use when it asks for bytes already sent completely in the current \
        run, or after the resume window. Responses carry Content-Disposition: attachment, \
        X-Content-Type-Options: nosniff, Cache-Control: no-store, Referrer-Policy: no-referrer. \
        A refusal is a JSON:API error, or a page in words when the client asks for `text/html` (a browser \
        following the link): expired, used up, revoked, not valid.",
    params(
        ("token" = String, Path, description = "43 characters of base64url (32 random bytes)"),
        RangeHeader,
    ),
    responses(
        (status = 200, description = "The whole file, with the asset's content type", content_type = "*/*"),
        (status = 206, description = "The requested range (with the asset's content type) or ranges (multipart/byteranges)", content_type = "*/*"),
        DownloadErrors,
    ),
)]
async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let browser = crate::refusal_page::wants_html(&req);
    match serve(state, req, token).await {
        Err(e) if browser => Ok(crate::refusal_page::page(&e)),
        other => other,
    }
}

async fn serve(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = token.into_inner();
    // A real token is 43 base64url characters; anything else cannot be one.
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(forbidden("token_unknown", "this download link is not valid"));
    }
    let digest = hash(&token);
    drop(token);
    // The one cross-tenant read: which tenant's token is this (row-level security lets the
    // `system` actor read token_tenants, nothing else)?
    let mut lookup = ordo_db::begin_system(&state.pool).await?;
    let tenant: Option<Uuid> = sqlx::query_scalar("select tenant_id from delivery.token_tenants where token_hash = $1")
        .bind(&digest[..])
        .fetch_optional(&mut *lookup)
        .await?;
    lookup.commit().await?;
    let Some(tenant) = tenant else {
        return Err(forbidden("token_unknown", "this download link is not valid"));
    };
    let cfg = &state.config;
    let mut tx = ordo_db::begin_scoped(&state.pool, &Scope::service(tenant)).await?;
    let row = sqlx::query(
        "select g.id as grant_id, g.asset_key, g.revoked_at is not null as revoked,
                t.expires_at <= now() as expired, g.downloads_used, g.max_downloads, t.run_number,
                t.run_last_at is null or t.run_last_at < now() - make_interval(secs => $2) as idle,
                t.run_done::text as run_done, t.run_partial::text as run_partial
         from delivery.tokens t join delivery.grants g on g.id = t.grant_id
         where t.token_hash = $1
         for update of t, g",
    )
    .bind(&digest[..])
    .bind(cfg.resume_window_secs as f64)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(forbidden("token_unknown", "this download link is not valid"));
    };
    if row.try_get::<bool, _>("revoked")? {
        return Err(forbidden(
            "token_revoked",
            "this download was revoked (the order was refunded or canceled)",
        ));
    }
    if row.try_get::<bool, _>("expired")? {
        return Err(forbidden(
            "token_expired",
            "this download link has expired; ask for a new one",
        ));
    }
    let asset_key: String = row.try_get("asset_key")?;
    let asset = sqlx::query("select size, content_type from delivery.assets where key = $1")
        .bind(&asset_key)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(asset) = asset else {
        tracing::error!(asset = %asset_key, %tenant, "a granted asset is missing");
        return Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "asset_unavailable",
            "the file is not available right now; no download was counted",
        ));
    };
    let size = asset.try_get::<i64, _>("size")?.max(0) as u64;
    let content_type: String = asset.try_get("content_type")?;
    let range_header = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let wanted = parse_range(range_header, size, cfg.max_ranges as usize);
    let ranges = match &wanted {
        Wanted::Whole => vec![(0, size)],
        Wanted::Ranges(r) => r.clone(),
        Wanted::Unsatisfiable | Wanted::Refused => {
            let (code, detail) = if wanted == Wanted::Refused {
                ("too_many_ranges", "ask for at most a few disjoint ranges")
            } else {
                ("range_not_satisfiable", "the requested range lies outside the file")
            };
            return Err(refuse(StatusCode::RANGE_NOT_SATISFIABLE, code, detail)
                .with_response_header("content-range", format!("bytes */{size}")));
        }
    };
    // Does this request continue the current run, or start a new one (one more use)?
    let mut run_number: i32 = row.try_get("run_number")?;
    let (again_done, again_partial, in_flight): (bool, i64, bool) = sqlx::query_as(
        "select $1::text::int8multirange && $3::text::int8multirange,
                coalesce((select sum(upper(r) - lower(r)) from unnest($2::text::int8multirange * $3::text::int8multirange) r), 0)::int8,
                exists (select 1 from delivery.download_claims c
                        where c.token_hash = $4 and c.run_number = $5 and c.ranges && $3::text::int8multirange)",
    )
    .bind(row.try_get::<String, _>("run_done")?)
    .bind(row.try_get::<String, _>("run_partial")?)
    .bind(multirange(&ranges))
    .bind(&digest[..])
    .bind(run_number)
    .fetch_one(&mut *tx)
    .await
    ?;
    let idle: bool = row.try_get("idle")?;
    if idle || again_done || in_flight || again_partial as u64 > resume_slack(size) {
        let used: i32 = row.try_get("downloads_used")?;
        let max: i32 = row.try_get("max_downloads")?;
        if used >= max {
            return Err(forbidden(
                "download_limit_reached",
                &format!("this file may be downloaded {max} times; that many downloads were made"),
            ));
        }
        let grant: Uuid = row.try_get("grant_id")?;
        sqlx::query("update delivery.grants set downloads_used = downloads_used + 1 where id = $1")
            .bind(grant)
            .execute(&mut *tx)
            .await?;
        run_number += 1;
        sqlx::query(
            "update delivery.tokens set run_number = $2, run_done = '{}', run_partial = '{}', run_completed = false
             where token_hash = $1",
        )
        .bind(&digest[..])
        .bind(run_number)
        .execute(&mut *tx)
        .await?;
        // The earlier run's requests were paid for by it; their claims no longer matter.
        sqlx::query("delete from delivery.download_claims where token_hash = $1 and run_number < $2")
            .bind(&digest[..])
            .bind(run_number)
            .execute(&mut *tx)
            .await?;
        metrics::counter!("ordo_delivery_downloads_total").increment(1);
    }
    let ranges = if size == 0 { vec![] } else { ranges };
    sqlx::query("update delivery.tokens set run_last_at = now(), requests = requests + 1 where token_hash = $1")
        .bind(&digest[..])
        .execute(&mut *tx)
        .await?;
    let claim = Uuid::now_v7();
    sqlx::query(
        "insert into delivery.download_claims (id, tenant_id, token_hash, run_number, ranges)
         values ($1, $2, $3, $4, $5::text::int8multirange)",
    )
    .bind(claim)
    .bind(tenant)
    .bind(&digest[..])
    .bind(run_number)
    .bind(multirange(&ranges))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut run = Run {
        pool: state.pool.clone(),
        tenant,
        token_hash: digest,
        run_number,
        claim,
        size,
        layout: ranges.iter().map(|r| (0, *r)).collect(),
    };
    let location = crate::storage::location(tenant, &asset_key);
    let filename = asset_key.rsplit('/').next().unwrap_or("download").to_owned();
    let mut res = match wanted {
        Wanted::Ranges(r) if r.len() > 1 => {
            let boundary = Uuid::new_v4().simple().to_string();
            let heads: Vec<Bytes> = r
                .iter()
                .map(|(a, b)| {
                    Bytes::from(format!(
                        "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {a}-{}/{size}\r\n\r\n",
                        b - 1
                    ))
                })
                .collect();
            run.layout = heads.iter().map(|h| h.len() as u64).zip(r.iter().copied()).collect();
            let tail = Bytes::from(format!("\r\n--{boundary}--\r\n"));
            let len = heads.iter().map(|h| h.len() as u64).sum::<u64>()
                + r.iter().map(|(a, b)| b - a).sum::<u64>()
                + tail.len() as u64;
            let store = state.store.clone();
            let parts = heads.into_iter().zip(r).map(move |(head, range)| {
                let store = store.clone();
                let location = location.clone();
                stream::once(async move { Ok(head) })
                    .chain(stream::once(async move { object(&store, &location, range).await }).flatten())
                    .boxed()
            });
            let body = stream::iter(parts)
                .flatten()
                .chain(stream::once(async move { Ok(tail) }));
            HttpResponse::build(StatusCode::PARTIAL_CONTENT)
                .insert_header((
                    header::CONTENT_TYPE,
                    format!("multipart/byteranges; boundary={boundary}"),
                ))
                .no_chunking(len)
                .streaming(Tracked::new(body.boxed(), run))
        }
        Wanted::Ranges(r) => {
            let (a, b) = r[0];
            let body = object(&state.store, &location, (a, b)).await;
            HttpResponse::build(StatusCode::PARTIAL_CONTENT)
                .insert_header((header::CONTENT_TYPE, content_type))
                .insert_header((header::CONTENT_RANGE, format!("bytes {a}-{}/{size}", b - 1)))
                .no_chunking(b - a)
                .streaming(Tracked::new(body, run))
        }
        _ => {
            let body = if size == 0 {
                stream::empty().boxed()
            } else {
                object(&state.store, &location, (0, size)).await
            };
            HttpResponse::build(StatusCode::OK)
                .insert_header((header::CONTENT_TYPE, content_type))
                .no_chunking(size)
                .streaming(Tracked::new(body, run))
        }
    };
    let h = res.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(res)
}

type Body = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// The bytes `[a, b)` of the object, as a stream. Local files are read in 256 KiB chunks.
async fn object(store: &crate::storage::Store, location: &object_store::path::Path, (a, b): (u64, u64)) -> Body {
    let opts = GetOptions::new().with_range(Some(a..b));
    let got = match store.get_opts(location, opts).await {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error = %e, "asset read failed");
            return stream::once(async move { Err(std::io::Error::other(e)) }).boxed();
        }
    };
    match got.payload {
        GetResultPayload::File(file, _) => file_chunks(file, a, b),
        GetResultPayload::Stream(s) => s.map(|r| r.map_err(std::io::Error::other)).boxed(),
    }
}

fn file_chunks(file: std::fs::File, start: u64, end: u64) -> Body {
    use std::io::{Read, Seek, SeekFrom};
    stream::try_unfold((Some(file), start), move |(file, pos)| async move {
        let Some(mut file) = file else {
            return Ok(None);
        };
        if pos >= end {
            return Ok(None);
        }
        let want = (end - pos).min(CHUNK as u64) as usize;
        let (file, buf) = tokio::task::spawn_blocking(move || -> std::io::Result<(std::fs::File, Vec<u8>)> {
            file.seek(SeekFrom::Start(pos))?;
            let mut buf = vec![0u8; want];
            file.read_exact(&mut buf)?;
            Ok((file, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        let next = pos + buf.len() as u64;
        Ok(Some((Bytes::from(buf), (Some(file), next))))
    })
    .boxed()
}

/// The response body, counting what it sent; when it ends (or is dropped because the client
/// went away) the run is brought up to date in the background.
struct Tracked {
    inner: Body,
    run: Option<Run>,
    /// Body bytes sent so far (for a broken-off download's progress).
    sent: u64,
}

impl Tracked {
    fn new(inner: Body, run: Run) -> Tracked {
        Tracked {
            inner,
            run: Some(run),
            sent: 0,
        }
    }

    fn finish(&mut self, complete: bool) {
        if let Some(run) = self.run.take() {
            let progress = if complete {
                Progress::Complete
            } else {
                Progress::Partial(sent_ranges(&run.layout, self.sent))
            };
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                // Retried (it is idempotent: ranges are a union, the completion and the first
                // download are marked once), so a database restart just after the last byte
                // does not lose the download: the order would never be delivered.
                handle.spawn(async move {
                    let mut pause = std::time::Duration::from_millis(250);
                    for attempt in 1..=RECORD_ATTEMPTS {
                        match record(&run, progress.clone()).await {
                            Ok(()) => return,
                            Err(e) if attempt < RECORD_ATTEMPTS => {
                                tracing::warn!(error = %e, attempt, "recording download progress failed; retrying");
                                tokio::time::sleep(pause).await;
                                pause = (pause * 2).min(std::time::Duration::from_secs(5));
                            }
                            Err(e) => tracing::error!(error = %e, "recording download progress failed"),
                        }
                    }
                });
            }
        }
    }
}

impl futures::Stream for Tracked {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => self.sent += chunk.len() as u64,
            Poll::Ready(Some(Err(_))) => self.finish(false),
            Poll::Ready(None) => self.finish(true),
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// Attempts to record a download's progress (250 ms doubling to 5 s between them: ~25 s).
const RECORD_ATTEMPTS: u32 = 8;

#[derive(Debug, Clone)]
enum Progress {
    Complete,
    /// The ranges (possibly none) a broken-off body did send.
    Partial(Vec<(u64, u64)>),
}

/// Add what was sent to the run; if the run now covers the whole file, it is a completed
/// download, and the grant's first one publishes `delivery.downloaded`.
async fn record(run: &Run, progress: Progress) -> Result<(), sqlx::Error> {
    let (done, partial) = match progress {
        Progress::Complete => (run.ranges(), vec![]),
        Progress::Partial(r) => (vec![], r),
    };
    let mut tx = ordo_db::begin_scoped(&run.pool, &Scope::service(run.tenant)).await?;
    sqlx::query(
        "update delivery.tokens set run_done = run_done + $3::text::int8multirange,
             run_partial = run_partial + $4::text::int8multirange
         where token_hash = $1 and run_number = $2",
    )
    .bind(&run.token_hash[..])
    .bind(run.run_number)
    .bind(multirange(&done))
    .bind(multirange(&partial))
    .execute(&mut *tx)
    .await?;
    // Only this request's claim: a parallel request's claim on the same bytes stays.
    sqlx::query("delete from delivery.download_claims where id = $1")
        .bind(run.claim)
        .execute(&mut *tx)
        .await?;
    let grant: Option<Uuid> = sqlx::query_scalar(
        "update delivery.tokens set run_completed = true
         where token_hash = $1 and run_number = $2 and not run_completed
           and (run_done + run_partial) @> int8range(0, $3)
         returning grant_id",
    )
    .bind(&run.token_hash[..])
    .bind(run.run_number)
    .bind(run.size as i64)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(grant) = grant {
        metrics::counter!("ordo_delivery_downloads_completed_total").increment(1);
        let first = sqlx::query(
            "update delivery.grants set first_downloaded_at = now()
             where id = $1 and first_downloaded_at is null returning order_id, line_id",
        )
        .bind(grant)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(first) = first {
            let order: Uuid = first.try_get("order_id")?;
            let line: Uuid = first.try_get("line_id")?;
            let event = Downloaded {
                meta: Some(crate::order_events::meta::<Downloaded>(run.tenant, order, None)),
                order_id: order.to_string(),
                grant_id: grant.to_string(),
                line_id: line.to_string(),
            };
            Outbox::new(crate::SCHEMA)
                .enqueue(&mut tx, &event)
                .await
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
            tracing::info!(%order, %grant, "first completed download");
        }
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_as_rfc_9110_says() {
        let p = |h: &str| parse_range(Some(h), 1000, 4);
        assert_eq!(parse_range(None, 1000, 4), Wanted::Whole);
        assert_eq!(p("bytes=0-99"), Wanted::Ranges(vec![(0, 100)]));
        assert_eq!(p("bytes=900-"), Wanted::Ranges(vec![(900, 1000)]));
        assert_eq!(p("bytes=-100"), Wanted::Ranges(vec![(900, 1000)]));
        assert_eq!(p("bytes=-5000"), Wanted::Ranges(vec![(0, 1000)]));
        assert_eq!(p("bytes=990-5000"), Wanted::Ranges(vec![(990, 1000)]));
        assert_eq!(p("bytes=500-599, 0-99"), Wanted::Ranges(vec![(0, 100), (500, 600)]));
        assert_eq!(p("bytes=1000-"), Wanted::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Wanted::Unsatisfiable);
        assert_eq!(p("bytes=2000-3000, 1500-"), Wanted::Unsatisfiable);
        assert_eq!(
            p("bytes=0-1,2-3,4-5,6-7,8-9"),
            Wanted::Refused,
            "five ranges, four allowed"
        );
        assert_eq!(p("bytes=0-499,400-599"), Wanted::Refused, "overlapping");
        // Syntax errors and other units: the header is ignored.
        for h in [
            "items=0-1",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=1",
            "bytes=+1-2",
        ] {
            assert_eq!(p(h), Wanted::Whole, "{h}");
        }
        assert_eq!(
            parse_range(Some("bytes=0-"), 0, 4),
            Wanted::Unsatisfiable,
            "an empty file has no bytes"
        );
    }

    #[test]
    fn bytes_sent_map_to_ranges_past_part_headers() {
        let single = [(0, (100, 200))];
        assert_eq!(sent_ranges(&single, 0), vec![]);
        assert_eq!(sent_ranges(&single, 30), vec![(100, 130)]);
        assert_eq!(sent_ranges(&single, 100), vec![(100, 200)]);
        let multi = [(10, (0, 50)), (12, (100, 150))];
        assert_eq!(sent_ranges(&multi, 10), vec![], "only the first part's header");
        assert_eq!(sent_ranges(&multi, 35), vec![(0, 25)]);
        assert_eq!(sent_ranges(&multi, 65), vec![(0, 50)], "into the second header");
        assert_eq!(sent_ranges(&multi, 80), vec![(0, 50), (100, 108)]);
        assert_eq!(sent_ranges(&multi, 500), vec![(0, 50), (100, 150)]);
    }

    #[test]
    fn the_resume_slack_is_a_quarter_of_the_file_at_most_16_mib() {
        assert_eq!(resume_slack(10_000), 2_500);
        assert_eq!(resume_slack(1 << 30), 16 << 20);
    }

    #[test]
    fn multirange_literals() {
        assert_eq!(multirange(&[]), "{}");
        assert_eq!(multirange(&[(0, 10), (20, 30)]), "{[0,10),[20,30)}");
    }
}
