//! JSON:API error documents: the one place errors become HTTP responses.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

pub const JSON_API: &str = "application/vnd.api+json";

/// Every error answer: `{"errors": [{"status", "code", "title", "detail", "source"}]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDocument {
    pub errors: Vec<ErrorObject>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorObject {
    pub status: String,
    pub code: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// An error on its way to the client. Build it with the constructors; for 5xx use
/// [`ApiError::internal`], which logs the cause and keeps it out of the body.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    code: &'static str,
    detail: Option<String>,
    source: Option<ErrorSource>,
    headers: Vec<(&'static str, String)>,
}

/// The one mapping of database errors at the HTTP edge ([`ApiError::database`]), so `?` works.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::database(e)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.status.as_u16(), self.0.code)
    }
}

impl ApiError {
    fn build(status: StatusCode, code: &'static str, detail: Option<String>) -> Self {
        ApiError(Box::new(Inner {
            status,
            code,
            detail,
            source: None,
            headers: vec![],
        }))
    }

    pub fn new(status: StatusCode, code: &'static str, detail: &str) -> Self {
        Self::build(status, code, Some(detail.to_owned()))
    }

    pub fn bad_request(code: &'static str, detail: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 422 naming the offending member of the body (`/data/attributes/email`).
    pub fn unprocessable(code: &'static str, detail: &str, pointer: Option<&str>) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail);
        if let Some(p) = pointer {
            e = e.with_pointer(p);
        }
        e
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("{what} {id} does not exist"),
        )
    }

    pub fn conflict(code: &'static str, detail: &str) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than allowed",
        )
    }

    pub fn unauthorized(e: &ordo_auth::AuthError) -> Self {
        let mut err = Self::new(StatusCode::UNAUTHORIZED, e.code(), &e.to_string());
        if matches!(e, ordo_auth::AuthError::Config(_)) {
            return Self::internal(e);
        }
        err.0.headers.push((
            "www-authenticate",
            format!(
                "Bearer error=\"{}\"",
                if e.code() == "missing_token" {
                    "invalid_request"
                } else {
                    "invalid_token"
                }
            ),
        ));
        err
    }

    pub fn unavailable(code: &'static str) -> Self {
        Self::build(StatusCode::SERVICE_UNAVAILABLE, code, None)
    }

    /// A 500 whose cause is logged (with the request span) and never sent.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::build(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", None)
    }

    /// A database error at the HTTP edge: busy pool → 503 `database_busy`; a deadlock or
    /// serialization failure → 503 `database_conflict`; the connection lost to a restart or
    /// failover → 503 `database_unavailable` (the last two with `Retry-After: 1`: the transaction
    /// rolled back, nothing happened, and a retry with the same Idempotency-Key runs it again);
    /// anything else → 500.
    pub fn database(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut => Self::unavailable("database_busy"),
            sqlx::Error::Database(ref d) if matches!(d.code().as_deref(), Some("40P01" | "40001")) => {
                tracing::warn!(error = %e, "transaction lost a deadlock or serialization conflict; rolled back");
                metrics::counter!("ordo_database_conflicts_total").increment(1);
                Self::unavailable("database_conflict").with_response_header("retry-after", "1".into())
            }
            ref lost if connection_lost(lost) => {
                tracing::warn!(error = %e, "database connection lost (restart or failover); rolled back");
                metrics::counter!("ordo_database_connection_lost_total").increment(1);
                Self::unavailable("database_unavailable").with_response_header("retry-after", "1".into())
            }
            other => Self::internal(other),
        }
    }

    pub fn with_pointer(mut self, pointer: &str) -> Self {
        self.0.source = Some(ErrorSource {
            pointer: Some(pointer.to_owned()),
            parameter: None,
            header: None,
        });
        self
    }

    pub fn with_parameter(mut self, parameter: &str) -> Self {
        self.0.source = Some(ErrorSource {
            pointer: None,
            parameter: Some(parameter.to_owned()),
            header: None,
        });
        self
    }

    pub fn with_header_source(mut self, header: &str) -> Self {
        self.0.source = Some(ErrorSource {
            pointer: None,
            parameter: None,
            header: Some(header.to_owned()),
        });
        self
    }

    pub fn with_response_header(mut self, name: &'static str, value: String) -> Self {
        self.0.headers.push((name, value));
        self
    }

    pub fn code(&self) -> &'static str {
        self.0.code
    }

    pub fn status_code_u16(&self) -> u16 {
        self.0.status.as_u16()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        let opaque = self.0.status.is_server_error();
        let doc = ErrorDocument {
            errors: vec![ErrorObject {
                status: self.0.status.as_u16().to_string(),
                code: self.0.code.to_owned(),
                title: self.0.status.canonical_reason().unwrap_or("Error").to_owned(),
                detail: if opaque { None } else { self.0.detail.clone() },
                source: if opaque {
                    None
                } else {
                    self.0.source.as_ref().map(|s| ErrorSource {
                        pointer: s.pointer.clone(),
                        parameter: s.parameter.clone(),
                        header: s.header.clone(),
                    })
                },
            }],
        };
        let mut res = HttpResponse::build(self.0.status);
        res.content_type(JSON_API);
        for (k, v) in &self.0.headers {
            res.insert_header((*k, v.as_str()));
        }
        res.json(doc)
    }
}

/// Whether `e` is the connection going away under the statement: the server shutting down or
/// restarting (SQLSTATE class 57: `terminating connection due to administrator command`), a
/// connection exception (class 08), or the socket itself failing. The transaction rolled back,
/// and a retry on a new connection can succeed.
pub fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}
