//! What every page shares: the signed-in [`Operator`] extractor, posted [`Form`]s (CSRF checked,
//! Idempotency-Key read), one-time flash messages, the page error type and its pages (security
//! headers and helpers: `ordo_web::page`).

use crate::AppState;
use crate::api::ApiFailure;
use crate::session::{Expiring, FLASH_COOKIE, SESSION_COOKIE, Session, now, same};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use std::future::Future;
use std::pin::Pin;

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// Not signed in (or the session ended): to the sign-in page, then back to `return_to`.
    #[error("sign in first")]
    SignIn { return_to: String },
    #[error("not found")]
    NotFound,
    /// A post without this session's CSRF token.
    #[error(
        "this form did not come from your dashboard session (or the session changed); reload the page and try again"
    )]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("the page could not be drawn")]
    Internal(String),
}

impl From<ApiFailure> for PageError {
    fn from(f: ApiFailure) -> Self {
        match f {
            ApiFailure::SignedOut => PageError::SignIn { return_to: "/".into() },
            ApiFailure::NotFound => PageError::NotFound,
            ApiFailure::Refused { .. } => PageError::BadRequest(f.words()),
            ApiFailure::Unavailable { .. } => PageError::Unavailable(f.to_string()),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::Internal(e.to_string())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn { .. } => StatusCode::SEE_OTHER,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::SignIn { return_to } = self {
            return see_other(&format!("/sign-in?return_to={}", ordo_http::urlencode(return_to)));
        }
        if let PageError::Internal(cause) = self {
            tracing::error!(%cause, "page failed");
        }
        let title = match self {
            PageError::NotFound => "Not found",
            PageError::Csrf => "Form refused",
            PageError::BadRequest(_) => "Refused",
            PageError::Unavailable(_) => "Unavailable",
            _ => "Something went wrong",
        };
        let message = match self {
            PageError::NotFound => "There is nothing here for your shop.".to_owned(),
            other => other.to_string(),
        };
        let body = ErrorPage { title, message }
            .render()
            .unwrap_or_else(|_| title.to_owned());
        HttpResponse::build(self.status_code())
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}

pub type PageResult = Result<HttpResponse, PageError>;

pub use ordo_web::page::{form_pairs, local_path, see_other};

/// A rendered template as a page.
pub fn html(t: &impl Template) -> PageResult {
    Ok(ordo_web::page::html(t)?)
}

/// The signed-in operator, from the session cookie; without one, the page sends the browser
/// to the sign-in and back.
#[derive(Debug, Clone)]
pub struct Operator(pub Session);

impl FromRequest for Operator {
    type Error = PageError;
    type Future = std::future::Ready<Result<Operator, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let signed_in = req
            .app_data::<web::Data<AppState>>()
            .and_then(|s| s.signer.read::<Session>(req, SESSION_COOKIE));
        std::future::ready(signed_in.map(Operator).ok_or_else(|| PageError::SignIn {
            return_to: match req.method() {
                &actix_web::http::Method::GET => local_path(&req.uri().to_string()),
                _ => "/".to_owned(),
            },
        }))
    }
}

/// A posted form of a signed-in operator, its CSRF token checked against the session.
#[derive(Debug)]
pub struct Form {
    pub operator: Session,
    pairs: Vec<(String, String)>,
}

impl Form {
    /// The first value of field `name`, trimmed.
    pub fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// Every value of field `name` (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The form's Idempotency-Key (made when the page was drawn: a second click of the same
    /// form is the same request).
    pub fn key(&self) -> Option<&str> {
        let k = self.get("idempotency_key");
        (!k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).then_some(k)
    }

    /// The token the services accept for this operator.
    pub fn token(&self) -> &str {
        &self.operator.token
    }
}

impl FromRequest for Form {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Form, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let operator = Operator::from_request(req, payload).into_inner();
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let Operator(session) = operator?;
            let body = body
                .await
                .map_err(|_| PageError::BadRequest("the form is too large".into()))?;
            let pairs = form_pairs(&body);
            let sent = pairs
                .iter()
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            if !same(sent, &session.csrf) {
                metrics::counter!("ordo_dashboard_csrf_refusals_total").increment(1);
                return Err(PageError::Csrf);
            }
            Ok(Form {
                operator: session,
                pairs,
            })
        })
    }
}

/// Which form a flash message belongs to, and the field at fault.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub ok: bool,
    pub text: String,
    /// e.g. `refund`, `ship`, `create_product`
    pub form: String,
    pub field: Option<String>,
}

/// A notice in its cookie.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Flashed {
    notice: Notice,
    expires_at: i64,
}

impl Expiring for Flashed {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

impl Notice {
    pub fn error_for(&self, form: &str, field: &str) -> Option<&str> {
        (!self.ok && self.form == form && self.field.as_deref() == Some(field)).then_some(self.text.as_str())
    }
}

/// 303 back to `to` with a one-time message about `form`.
pub fn after_post(state: &AppState, to: &str, form: &str, result: Result<String, ApiFailure>) -> PageResult {
    if let Err(ApiFailure::SignedOut) = &result {
        return Err(PageError::SignIn { return_to: to.into() });
    }
    let notice = match result {
        Ok(text) => Notice {
            ok: true,
            text,
            form: form.into(),
            field: None,
        },
        Err(e) => Notice {
            ok: false,
            field: match &e {
                ApiFailure::Refused { field, .. } => field.clone(),
                _ => None,
            },
            text: e.words(),
            form: form.into(),
        },
    };
    let flash = Flashed {
        notice,
        expires_at: now() + 60,
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, local_path(to)))
        .insert_header((
            header::SET_COOKIE,
            state.signer.set_cookie(FLASH_COOKIE, &flash, flash.expires_at),
        ))
        .finish())
}

/// The message left by the last post, if any (read once: the page clears it).
pub fn take_notice(state: &AppState, req: &HttpRequest) -> Option<Notice> {
    state.signer.read::<Flashed>(req, FLASH_COOKIE).map(|f| f.notice)
}

/// A page that showed a notice also removes it.
pub fn shown(state: &AppState, mut res: HttpResponse, notice: &Option<Notice>) -> HttpResponse {
    if notice.is_some()
        && let Ok(v) = HeaderValue::from_str(&state.signer.clear_cookie(FLASH_COOKIE))
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

pub async fn not_found() -> PageResult {
    Err(PageError::NotFound)
}
