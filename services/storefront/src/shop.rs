//! What every page shares: the browser's [`Shopper`] (its guest cookie, made on the first visit
//! and refreshed on every answer), posted [`ShopForm`]s (CSRF checked), the page error type and
//! its page, and the calls that every page makes (the shop's region, the open cart).

use crate::AppState;
use crate::identity::{GUEST_COOKIE, Guest, same};
use crate::views::{Cart, Doc, Region, Res};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use ordo_web::client::ApiFailure;
use std::future::Future;
use std::pin::Pin;
use uuid::Uuid;

pub use ordo_web::page::{form_pairs, local_path, see_other};

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    /// A post without this browser's form token.
    #[error("this form has expired; please go back, reload the page and try again")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    /// An order link from an e-mail that expired or was altered.
    #[error(
        "This order link has expired or is not valid. Open the order from the browser you bought with, or use the link in your most recent e-mail from us."
    )]
    LinkRefused,
    #[error("{0}")]
    Unavailable(String),
    #[error("the page could not be shown")]
    Internal(String),
}

impl From<ApiFailure> for PageError {
    fn from(f: ApiFailure) -> Self {
        match f {
            ApiFailure::NotFound => PageError::NotFound,
            ApiFailure::SignedOut => PageError::Internal("the order service refused the storefront's token".into()),
            ApiFailure::Refused { .. } => PageError::BadRequest(f.words()),
            ApiFailure::Unavailable { .. } => {
                PageError::Unavailable("The shop cannot be reached right now. Please try again in a moment.".into())
            }
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
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Csrf | PageError::LinkRefused => StatusCode::FORBIDDEN,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::Internal(cause) = self {
            tracing::error!(%cause, "page failed");
        }
        let title = match self {
            PageError::NotFound => "Not found",
            PageError::Csrf => "Please try again",
            PageError::LinkRefused => "This link no longer works",
            PageError::BadRequest(_) => "That did not work",
            PageError::Unavailable(_) => "One moment",
            PageError::Internal(_) => "Something went wrong",
        };
        let message = match self {
            PageError::NotFound => "We could not find that page.".to_owned(),
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

pub async fn not_found() -> PageResult {
    Err(PageError::NotFound)
}

/// The browser's guest: from its cookie, or a new one.
#[derive(Debug, Clone)]
pub struct Shopper(pub Guest);

impl FromRequest for Shopper {
    type Error = PageError;
    type Future = std::future::Ready<Result<Shopper, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>();
        let guest = state.and_then(|s| s.signer.read::<Guest>(req, GUEST_COOKIE));
        let days = state.map_or(30, |s| s.config.storefront.guest_days);
        std::future::ready(Ok(Shopper(guest.unwrap_or_else(|| Guest::new(days)))))
    }
}

/// A posted form, its token checked against the guest cookie's.
#[derive(Debug)]
pub struct ShopForm {
    pub guest: Guest,
    pairs: Vec<(String, String)>,
}

impl ShopForm {
    /// The first value of field `name`, trimmed.
    pub fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// The form's Idempotency-Key, made when the page was drawn.
    pub fn key(&self) -> Option<&str> {
        let k = self.get("idempotency_key");
        (!k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).then_some(k)
    }
}

impl FromRequest for ShopForm {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<ShopForm, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let guest = state.as_ref().and_then(|s| s.signer.read::<Guest>(req, GUEST_COOKIE));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|_| PageError::BadRequest("the form is too large".into()))?;
            let pairs = form_pairs(&body);
            let sent = pairs
                .iter()
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            match guest {
                Some(g) if same(sent, &g.csrf) => Ok(ShopForm { guest: g, pairs }),
                _ => {
                    metrics::counter!("ordo_storefront_csrf_refusals_total").increment(1);
                    Err(PageError::Csrf)
                }
            }
        })
    }
}

/// `res` with the guest cookie set (made or refreshed: the guest stays for `guest_days` after
/// the last visit).
pub fn with_guest(state: &AppState, guest: &Guest, mut res: HttpResponse) -> HttpResponse {
    let mut g = guest.clone();
    g.expires_at = crate::identity::now() + (state.config.storefront.guest_days * 86_400) as i64;
    if let Ok(v) = HeaderValue::from_str(&state.signer.set_cookie(GUEST_COOKIE, &g, g.expires_at)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// A rendered page for `guest`.
pub fn page(state: &AppState, guest: &Guest, t: &impl Template) -> PageResult {
    Ok(with_guest(state, guest, ordo_web::page::html(t)?))
}

/// 303 to `to` for `guest` (its cookie saved).
pub fn redirect(state: &AppState, guest: &Guest, to: &str) -> HttpResponse {
    with_guest(state, guest, see_other(&local_path(to)))
}

impl AppState {
    /// A customer token for `guest`.
    pub fn token(&self, guest: &Guest) -> String {
        self.minter.token(&guest.subject)
    }

    /// The region carts are made in: the configured one, else the first the shop lists.
    pub async fn region(&self, guest: &Guest) -> Result<&(Uuid, Region), PageError> {
        self.region
            .get_or_try_init(|| async {
                let regions: Doc<Vec<Res<Region>>> = self.order.get("/store/regions", &self.token(guest)).await?;
                let wanted = self.config.storefront.region_id;
                let found = regions
                    .data
                    .into_iter()
                    .find(|r| wanted.is_nil() || r.id == wanted.to_string())
                    .ok_or_else(|| PageError::Unavailable("This shop has no region to sell in yet.".into()))?;
                let id = Uuid::parse_str(&found.id).map_err(|e| PageError::Internal(e.to_string()))?;
                Ok::<_, PageError>((id, found.attributes))
            })
            .await
    }

    /// The guest's open cart, if any (a completed or expired one is forgotten).
    pub async fn open_cart(&self, guest: &mut Guest) -> Result<Option<(Uuid, Cart)>, PageError> {
        let Some(id) = guest.cart else {
            return Ok(None);
        };
        match self
            .order
            .get::<Doc<Res<Cart>>>(&format!("/store/carts/{id}"), &self.token(guest))
            .await
        {
            Ok(doc) if doc.data.attributes.status == "open" => Ok(Some((id, doc.data.attributes))),
            Ok(_) | Err(ApiFailure::NotFound) => {
                guest.cart = None;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Money as customers read it.
pub fn money(amount: i64, currency: &str) -> String {
    ordo_domain::money::human(amount, currency)
}
