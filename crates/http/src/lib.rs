//! The HTTP edge shared by every ordo service (actix-web).
//!
//! * [`ApiError`] is the one place where errors become responses: JSON:API error documents
//!   (`{"errors":[{"status","code","title","detail","source"}]}`) with stable codes; 5xx bodies
//!   say nothing internal and the cause is logged with the request id.
//! * [`observe`] middleware: request id (`X-Request-Id`, taken if sane, else a UUIDv7), one span
//!   per request (parent taken from `traceparent`), request metrics.
//! * [`json_config`] / [`payload_config`]: body size limit (413) and JSON errors as JSON:API.
//! * [`Authenticated`] / [`AdminOnly`] extractors over [`ordo_auth::Authenticator`].
//! * [`configure_ops`]: `/health/live`, `/health/ready` (database and NATS), `/metrics`.
//!
//! ```no_run
//! use actix_web::{App, web, middleware::from_fn};
//! # fn f(readiness: ordo_http::Readiness) {
//! let app = App::new()
//!     .wrap(from_fn(ordo_http::observe))
//!     .app_data(ordo_http::json_config(256 * 1024))
//!     .app_data(web::Data::new(readiness))
//!     .configure(ordo_http::configure_ops)
//!     .default_service(web::to(ordo_http::not_found));
//! # }
//! ```

mod error;
mod extract;
pub mod jsonapi;
mod ops;
pub mod routes;

pub use error::{ApiError, ErrorDocument, ErrorObject, ErrorSource, JSON_API, connection_lost};
pub use extract::{AdminOnly, Authenticated, RequestId};
pub use ops::{Readiness, configure_ops, metrics_handle};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

fn sane_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Path segments after these prefixes are secrets (download tokens): logs, traces and error
/// bodies show `[redacted]` instead.
const SECRET_PATHS: &[&str] = &["/downloads/"];

/// The request path as it may appear in logs and traces.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in SECRET_PATHS {
        if path.starts_with(prefix) {
            return format!("{prefix}[redacted]").into();
        }
    }
    path.into()
}

/// Middleware: request id, request span, metrics, and `X-Request-Id` on every response.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let span = tracing::info_span!(
        "http.request",
        method = %req.method(),
        path = %loggable_path(req.path()),
        request_id = %request_id,
        status = tracing::field::Empty,
    );
    let trace: Vec<(String, String)> = ["traceparent", "tracestate"]
        .iter()
        .filter_map(|h| {
            req.headers()
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .map(|v| ((*h).to_owned(), v.to_owned()))
        })
        .collect();
    ordo_telemetry::set_parent_from_pairs(&span, &trace);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().to_string();
    let start = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let mut res = match result {
        Ok(res) => res.map_into_boxed_body(),
        Err(e) => return Err(e),
    };
    // Errors produced by actix itself (payload limits, unparsable path segments, 405) are plain
    // text: give them the JSON:API shape too, so every error a client sees looks the same.
    if res.status().as_u16() >= 400 && is_framework_error(&res) {
        let (code, detail) = framework_error(res.status());
        let api = ApiError::new(res.status(), code, detail);
        res = res.into_response(actix_web::ResponseError::error_response(&api));
    }
    let status = res.status().as_u16();
    span.record("status", status);
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    metrics::counter!("ordo_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("ordo_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(HeaderName::from_static(REQUEST_ID), v);
    }
    Ok(res)
}

/// Actix's own errors carry plain text or no body type; ours are JSON (JSON:API, or the
/// readiness report).
fn is_framework_error<B>(res: &ServiceResponse<B>) -> bool {
    match res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        // actix's own errors are plain text; a page a handler chose to send is left alone.
        Some(ct) => ct.starts_with("text/plain"),
    }
}

fn framework_error(status: actix_web::http::StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        404 => ("not_found", "no such resource"),
        405 => ("method_not_allowed", "this method is not allowed here"),
        413 => ("payload_too_large", "the request body is larger than allowed"),
        415 => ("unsupported_media_type", "unsupported content type"),
        400 => ("bad_request", "the request could not be read"),
        s if s >= 500 => ("internal_error", "internal error"),
        _ => ("request_refused", "the request was refused"),
    }
}

/// JSON bodies: size limit and JSON:API errors.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(|err, _req| {
        let api = match &err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError::payload_too_large()
            }
            JsonPayloadError::ContentType => ApiError::new(
                actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send application/json or application/vnd.api+json",
            ),
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                ApiError::unprocessable("invalid_body", &e.to_string(), None)
            }
            JsonPayloadError::Deserialize(e) => ApiError::bad_request("malformed_json", &e.to_string()),
            JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::payload_too_large(),
            _ => ApiError::bad_request("unreadable_body", "the request body could not be read"),
        };
        api.into()
    })
}

/// Raw bodies (`web::Bytes`): size limit.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

/// Default service: a JSON:API 404 for unknown routes.
/// The default service of a resource: any method it does not answer gets 405 with `Allow`
/// (e.g. `"GET, POST"`), as a JSON:API error.
pub fn method_not_allowed(allow: impl Into<String>) -> actix_web::Route {
    let allow: String = allow.into();
    actix_web::web::to(move || {
        let allow = allow.clone();
        async move {
            Err::<HttpResponse, _>(
                ApiError::new(
                    actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    &format!("this resource answers {allow}"),
                )
                .with_response_header("allow", allow),
            )
        }
    })
}

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::not_found("route", &loggable_path(req.path())))
}

/// Percent-encoding of a query or form value (everything but RFC 3986's unreserved characters).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `k=v&k=v`, each part percent-encoded: a query string or an
/// `application/x-www-form-urlencoded` body.
pub fn form_urlencoded<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k.as_ref()), urlencode(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod redaction_tests {
    #[test]
    fn download_tokens_never_reach_a_log() {
        assert_eq!(super::loggable_path("/downloads/abcDEF_-123"), "/downloads/[redacted]");
        assert_eq!(super::loggable_path("/downloads/a/b"), "/downloads/[redacted]");
        assert_eq!(super::loggable_path("/store/orders"), "/store/orders");
    }
}
