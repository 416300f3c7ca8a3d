//! `/store/orders…` and `/admin/orders…`: customers read and cancel their own orders; operators
//! list (filters, sort, cursor pages), read, cancel, refund, and ask for the numbers of a period.
//! Row-level security decides what a caller can see: another customer's or tenant's order is
//! simply not found (404).

use super::carts::{AddressOut, timestamp};
use super::docs::{ErrorResponses, IdempotencyKey};
use super::idempotency::{self, Key, Reply};
use super::{AppState, endpoints};
use crate::app::order;
use crate::store::orders::{DocHistory, DocLine, ListFilter, OrderDocRow, OrderRow, Search, SortKey};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use ordo_auth::Principal;
use ordo_domain::order::{CancelReason, OrderStatus};
use ordo_domain::{FulfillmentStatus, PaymentStatus};
use ordo_http::jsonapi::{Document, Page, PageLinks, Resource, respond};
use ordo_http::{AdminOnly, ApiError, Authenticated};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

endpoints!(list_mine, get_mine, cancel_mine, list_admin, get_admin, cancel_admin,);

// ---- documents -------------------------------------------------------------------------------

/// An order in a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderSummaryOut {
    /// Per tenant, from 1001.
    pub number: i64,
    /// `#1001`
    pub display_number: String,
    pub email: String,
    pub customer_id: String,
    /// pending, processing, paid, fulfilled, delivered, canceled, refunded
    pub status: String,
    /// awaiting, processing, authorized, failed, captured, partially_refunded, refunded, canceled
    pub payment_status: String,
    /// not_fulfilled, partially_fulfilled, fulfilled, partially_delivered, delivered, canceled
    pub fulfillment_status: String,
    pub currency: String,
    pub totals: OrderTotalsOut,
    /// Units over all lines.
    pub items: i64,
    pub captured_amount: Option<i64>,
    pub refunded_amount: i64,
    pub failed_payment_attempts: i32,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderTotalsOut {
    pub subtotal: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
}

/// An order with addresses, lines and its state history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderOut {
    #[serde(flatten)]
    pub summary: OrderSummaryOut,
    pub shipping_address: Option<AddressOut>,
    pub billing_address: Option<AddressOut>,
    pub lines: Vec<DocLine>,
    /// Every applied trigger, oldest first.
    pub history: Vec<DocHistory>,
}

/// `{"data": order}`
pub type OrderDocument = Document<Resource<OrderOut>>;

fn summary(o: &OrderRow, items: i64) -> OrderSummaryOut {
    OrderSummaryOut {
        number: o.number,
        display_number: format!("#{}", o.number),
        email: o.email.clone(),
        customer_id: o.customer_id.clone(),
        status: o.status.clone(),
        payment_status: o.payment_status.clone(),
        fulfillment_status: o.fulfillment_status.clone(),
        currency: o.currency.trim().to_owned(),
        totals: OrderTotalsOut {
            subtotal: o.subtotal,
            shipping: o.shipping_total,
            tax: o.tax_total,
            total: o.total,
        },
        items,
        captured_amount: o.captured_amount,
        refunded_amount: o.refunded_amount,
        failed_payment_attempts: o.failed_payment_attempts,
        created_at: timestamp(o.created_at),
        updated_at: timestamp(o.updated_at),
    }
}

pub fn order_document(row: OrderDocRow) -> Result<OrderDocument, ApiError> {
    let out = OrderOut {
        summary: summary(&row.order, row.lines.0.iter().map(|l| l.quantity).sum()),
        shipping_address: AddressOut::stored(&row.order.shipping_address)?,
        billing_address: AddressOut::stored(&row.order.billing_address)?,
        lines: row.lines.0,
        history: row.history.0,
    };
    Ok(Document::new(Resource::new("orders", row.order.id, out)))
}

// ---- listing ---------------------------------------------------------------------------------

pub(super) fn bad_param(param: &str, detail: &str) -> ApiError {
    ApiError::bad_request("invalid_parameter", detail).with_parameter(param)
}

fn list_of(param: &str, raw: &str, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
    raw.split(',')
        .map(|s| {
            let s = s.trim();
            if allowed.contains(&s) {
                Ok(s.to_owned())
            } else {
                Err(bad_param(param, &format!("unknown value {s:?}")))
            }
        })
        .collect()
}

/// `a=b&c=d` → pairs, percent-decoded.
pub(super) fn query_pairs(qs: &str) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(qs)
        .map(|q| q.into_inner())
        .unwrap_or_default()
}

fn encode_cursor(key: i64, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{key}:{id}"))
}

fn decode_cursor(c: &str) -> Option<(i64, Uuid)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (k, id) = s.split_once(':')?;
    Some((k.parse().ok()?, Uuid::parse_str(id).ok()?))
}

pub(super) fn rfc3339(param: &str, v: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(v, &Rfc3339).map_err(|_| bad_param(param, "an RFC 3339 time"))
}

fn parse_list_query(req: &HttpRequest, who: &Principal, admin: bool) -> Result<ListFilter, ApiError> {
    let mut q = ListFilter {
        tenant_id: who.tenant_id,
        size: 20,
        after: None,
        sort: SortKey::CreatedAt,
        descending: true,
        status: vec![],
        payment_status: vec![],
        fulfillment_status: vec![],
        from: None,
        to: None,
        search: None,
    };
    let statuses: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
    let pay: Vec<&str> = PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
    let ful: Vec<&str> = FulfillmentStatus::ALL.iter().map(|s| s.as_str()).collect();
    for (k, v) in &query_pairs(req.query_string()) {
        match k.as_str() {
            "page[size]" => {
                q.size = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| bad_param(k, "page[size] is 1 to 100"))?
            }
            "page[after]" => {
                q.after = Some(decode_cursor(v).ok_or_else(|| bad_param(k, "not a cursor from this API"))?)
            }
            "sort" => {
                let (desc, key) = match v.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, v.as_str()),
                };
                q.descending = desc;
                q.sort = match key {
                    "created_at" => SortKey::CreatedAt,
                    "total" if admin => SortKey::Total,
                    _ => return Err(bad_param(k, "sort by created_at or total, - for descending")),
                };
            }
            "filter[status]" => q.status = list_of(k, v, &statuses)?,
            "filter[payment_status]" if admin => q.payment_status = list_of(k, v, &pay)?,
            "filter[fulfillment_status]" if admin => q.fulfillment_status = list_of(k, v, &ful)?,
            "filter[created_from]" if admin => q.from = Some(rfc3339(k, v)?),
            "filter[created_to]" if admin => q.to = Some(rfc3339(k, v)?),
            "filter[q]" if admin => {
                let t = v.trim();
                if t.is_empty() || t.len() > 254 {
                    return Err(bad_param(k, "1 to 254 characters"));
                }
                q.search = Some(match t.trim_start_matches('#').parse::<i64>() {
                    Ok(n) => Search::Number(n),
                    Err(_) => Search::Email(t.to_owned()),
                });
            }
            _ => return Err(bad_param(k, &format!("unknown parameter {k}"))),
        }
    }
    if let (SortKey::CreatedAt, Some((key, _))) = (q.sort, q.after)
        && OffsetDateTime::from_unix_timestamp_nanos(i128::from(key) * 1000).is_err()
    {
        return Err(bad_param("page[after]", "bad cursor"));
    }
    Ok(q)
}

async fn list(state: &AppState, req: &HttpRequest, who: &Principal, admin: bool) -> Result<HttpResponse, ApiError> {
    let filter = parse_list_query(req, who, admin)?;
    let mut tx = state.begin(who).await?;
    let (rows, more) = order::list(&mut tx, &filter).await?;
    tx.commit().await?;
    let next = match (more, rows.last()) {
        (true, Some(last)) => {
            let mut pairs: Vec<(String, String)> = query_pairs(req.query_string())
                .into_iter()
                .filter(|(k, _)| k != "page[after]")
                .collect();
            pairs.push(("page[after]".into(), encode_cursor(last.sort_key, last.order.id)));
            let qs = ordo_http::form_urlencoded(&pairs);
            Some(format!("{}?{qs}", req.path()))
        }
        _ => None,
    };
    let data = rows
        .iter()
        .map(|r| Resource::new("orders", r.order.id, summary(&r.order, r.item_count)))
        .collect();
    Ok(respond(
        StatusCode::OK,
        &Page {
            data,
            links: PageLinks { next },
        },
    ))
}

/// Query parameters of `GET /store/orders` (for the document; parsed by hand).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct MineQuery {
    /// 1 to 100 (default 20)
    #[param(rename = "page[size]", minimum = 1, maximum = 100)]
    page_size: Option<i64>,
    /// The cursor of `links.next`
    #[param(rename = "page[after]")]
    page_after: Option<String>,
    /// `created_at` or `-created_at` (default)
    #[param(pattern = "^-?created_at$")]
    sort: Option<String>,
    /// Comma-separated order statuses
    #[param(rename = "filter[status]")]
    filter_status: Option<String>,
}

/// Query parameters of `GET /admin/orders`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AdminQuery {
    /// 1 to 100 (default 20)
    #[param(rename = "page[size]", minimum = 1, maximum = 100)]
    page_size: Option<i64>,
    /// The cursor of `links.next`
    #[param(rename = "page[after]")]
    page_after: Option<String>,
    /// `created_at` or `total`, `-` for descending (default `-created_at`)
    #[param(pattern = "^-?(created_at|total)$")]
    sort: Option<String>,
    /// Comma-separated order statuses
    #[param(rename = "filter[status]")]
    filter_status: Option<String>,
    /// Comma-separated payment statuses
    #[param(rename = "filter[payment_status]")]
    filter_payment_status: Option<String>,
    /// Comma-separated fulfillment statuses
    #[param(rename = "filter[fulfillment_status]")]
    filter_fulfillment_status: Option<String>,
    /// Created at or after (RFC 3339)
    #[param(rename = "filter[created_from]", format = DateTime)]
    filter_created_from: Option<String>,
    /// Created before (RFC 3339)
    #[param(rename = "filter[created_to]", format = DateTime)]
    filter_created_to: Option<String>,
    /// An e-mail address or an order number (`1001` or `#1001`), 1 to 254 characters
    #[param(rename = "filter[q]", min_length = 1, max_length = 254)]
    filter_q: Option<String>,
}

#[utoipa::path(
    get,
    path = "/store/orders",
    tag = "orders",
    summary = "The caller's orders, newest first (cursor pagination)",
    params(MineQuery),
    responses(
        (status = 200, description = "Orders and links.next", body = Page<OrderSummaryOut>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn list_mine(state: web::Data<AppState>, req: HttpRequest, who: Authenticated) -> Result<HttpResponse, ApiError> {
    list(&state, &req, &who.0, false).await
}

#[utoipa::path(
    get,
    path = "/admin/orders",
    tag = "orders",
    summary = "The tenant's orders: filters, search, sort and cursor pages",
    params(AdminQuery),
    responses(
        (status = 200, description = "Orders and links.next", body = Page<OrderSummaryOut>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn list_admin(state: web::Data<AppState>, req: HttpRequest, who: AdminOnly) -> Result<HttpResponse, ApiError> {
    list(&state, &req, &who.0, true).await
}

async fn get(state: &AppState, who: &Principal, id: Uuid) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(who).await?;
    let row = order::get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(respond(StatusCode::OK, &order_document(row)?))
}

#[utoipa::path(
    get,
    path = "/store/orders/{id}",
    tag = "orders",
    summary = "One of the caller's orders with lines, totals, statuses and state history",
    params(("id" = Uuid, Path, description = "the order id")),
    responses(
        (status = 200, description = "The order", body = Document<Resource<OrderOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn get_mine(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    get(&state, &who.0, path.into_inner()).await
}

#[utoipa::path(
    get,
    path = "/admin/orders/{id}",
    tag = "orders",
    summary = "Any order of the tenant with history",
    params(("id" = Uuid, Path, description = "the order id")),
    responses(
        (status = 200, description = "The order", body = Document<Resource<OrderOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn get_admin(
    state: web::Data<AppState>,
    who: AdminOnly,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    get(&state, &who.0, path.into_inner()).await
}

async fn cancel(
    state: &AppState,
    req: &HttpRequest,
    who: &Principal,
    key: Key,
    id: Uuid,
    reason: CancelReason,
) -> Result<HttpResponse, ApiError> {
    let actor = format!("{}:{}", who.role.as_str(), who.subject);
    let tenant = who.tenant_id;
    idempotency::run(&state.pool, req, who, key, &[], move |tx| {
        Box::pin(async move { Reply::ok(&order_document(order::cancel(tx, tenant, id, reason, &actor).await?)?) })
    })
    .await
}

#[utoipa::path(
    post,
    path = "/store/orders/{id}/cancel",
    tag = "orders",
    summary = "Cancel a pending order (stock released)",
    params(("id" = Uuid, Path, description = "the order id"), IdempotencyKey),
    responses(
        (status = 200, description = "The order", body = Document<Resource<OrderOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn cancel_mine(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    key: Key,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let reason = if who.0.role == ordo_auth::Role::Admin {
        CancelReason::Operator
    } else {
        CancelReason::Customer
    };
    cancel(&state, &req, &who.0, key, path.into_inner(), reason).await
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/cancel",
    tag = "orders",
    summary = "Cancel a pending or processing order (stock released, PaymentIntent canceled by the payment service)",
    params(("id" = Uuid, Path, description = "the order id"), IdempotencyKey),
    responses(
        (status = 200, description = "The order", body = Document<Resource<OrderOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn cancel_admin(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    key: Key,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    cancel(&state, &req, &who.0, key, path.into_inner(), CancelReason::Operator).await
}
