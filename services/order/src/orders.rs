//! Orders: customers read and cancel their own; operators list (filters, sort, cursor
//! pagination), read, cancel, and ask for stats. Row-level security decides what a caller can
//! see: another customer's or tenant's order is simply not found (404).

use crate::idempotency::{self, Reply};
use crate::transitions::{self, Applied, Failure};
use crate::{AppState, db_err};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use ordo_db::Scope;
use ordo_domain::order::{CancelReason, OrderStatus, Trigger};
#[allow(unused_imports)]
use ordo_http::jsonapi::Input;
use ordo_http::jsonapi::respond;
use ordo_http::{AdminOnly, ApiError, Authenticated};
use serde_json::{Value, json};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::collections::HashMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The order document: lines, totals, the three statuses and the state history.
pub async fn document(conn: &mut PgConnection, id: Uuid) -> Result<Value, ApiError> {
    let row = sqlx::query(
        "select o.*, (select coalesce(jsonb_agg(jsonb_build_object('id', l.id, 'variant_id', l.variant_id, 'sku', l.sku,
                    'title', l.title, 'kind', l.kind, 'quantity', l.quantity, 'unit_price', l.unit_price,
                    'subtotal', l.subtotal, 'tax', l.tax, 'fulfilled_at', l.fulfilled_at, 'delivered_at', l.delivered_at)
                    order by l.id), '[]') from orders.order_lines l where l.order_id = o.id) as lines,
                (select coalesce(jsonb_agg(jsonb_build_object('from', h.from_status, 'to', h.to_status,
                    'trigger', h.trigger, 'event_id', h.event_id, 'actor', h.actor, 'payment_status', h.payment_status,
                    'fulfillment_status', h.fulfillment_status, 'detail', h.detail, 'at', h.created_at) order by h.id), '[]')
                 from orders.order_state_history h where h.order_id = o.id) as history
         from orders.orders o where o.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?
    .ok_or_else(|| ApiError::not_found("order", &id.to_string()))?;
    Ok(json!({"data": resource(&row, true)?}))
}

fn resource(row: &sqlx::postgres::PgRow, full: bool) -> Result<Value, ApiError> {
    let g = |c: &str| -> Result<Value, ApiError> {
        Ok(match c {
            "number" | "subtotal" | "shipping_total" | "tax_total" | "total" | "refunded_amount" => {
                json!(row.try_get::<i64, _>(c).map_err(db_err)?)
            }
            "captured_amount" => json!(row.try_get::<Option<i64>, _>(c).map_err(db_err)?),
            "created_at" | "updated_at" => json!(ts(row.try_get(c).map_err(db_err)?)),
            "shipping_address" | "billing_address" | "lines" | "history" => row
                .try_get::<Option<Value>, _>(c)
                .map_err(db_err)?
                .unwrap_or(Value::Null),
            "currency" => json!(row.try_get::<String, _>(c).map_err(db_err)?.trim()),
            "failed_payment_attempts" => json!(row.try_get::<i32, _>(c).map_err(db_err)?),
            _ => json!(row.try_get::<Option<String>, _>(c).map_err(db_err)?),
        })
    };
    let number = row.try_get::<i64, _>("number").map_err(db_err)?;
    let mut attrs = json!({
        "number": number,
        "display_number": format!("#{number}"),
        "email": g("email")?,
        "customer_id": g("customer_id")?,
        "status": g("status")?,
        "payment_status": g("payment_status")?,
        "fulfillment_status": g("fulfillment_status")?,
        "currency": g("currency")?,
        "totals": {"subtotal": g("subtotal")?, "shipping": g("shipping_total")?, "tax": g("tax_total")?, "total": g("total")?},
        "captured_amount": g("captured_amount")?,
        "refunded_amount": g("refunded_amount")?,
        "failed_payment_attempts": g("failed_payment_attempts")?,
        "created_at": g("created_at")?,
        "updated_at": g("updated_at")?,
    });
    if full {
        for k in ["shipping_address", "billing_address", "lines", "history"] {
            attrs[k] = g(k)?;
        }
    }
    Ok(json!({"type": "orders", "id": row.try_get::<Uuid, _>("id").map_err(db_err)?, "attributes": attrs}))
}

// ---- listing ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    CreatedAt,
    Total,
}

struct ListQuery {
    size: i64,
    after: Option<(i64, Uuid)>,
    sort: SortKey,
    descending: bool,
    status: Vec<String>,
    payment_status: Vec<String>,
    fulfillment_status: Vec<String>,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
    q: Option<String>,
}

fn bad_param(param: &str, detail: &str) -> ApiError {
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

fn parse_list_query(req: &HttpRequest, admin: bool) -> Result<ListQuery, ApiError> {
    let params: Vec<(String, String)> = serde_urlencoded_pairs(req.query_string());
    let mut q = ListQuery {
        size: 20,
        after: None,
        sort: SortKey::CreatedAt,
        descending: true,
        status: vec![],
        payment_status: vec![],
        fulfillment_status: vec![],
        from: None,
        to: None,
        q: None,
    };
    let statuses: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
    let pay: Vec<&str> = ordo_domain::PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
    let ful: Vec<&str> = ordo_domain::FulfillmentStatus::ALL.iter().map(|s| s.as_str()).collect();
    for (k, v) in &params {
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
            "filter[created_from]" if admin => {
                q.from = Some(OffsetDateTime::parse(v, &Rfc3339).map_err(|_| bad_param(k, "an RFC 3339 time"))?)
            }
            "filter[created_to]" if admin => {
                q.to = Some(OffsetDateTime::parse(v, &Rfc3339).map_err(|_| bad_param(k, "an RFC 3339 time"))?)
            }
            "filter[q]" if admin => {
                let t = v.trim();
                if t.is_empty() || t.len() > 254 {
                    return Err(bad_param(k, "1 to 254 characters"));
                }
                q.q = Some(t.to_owned());
            }
            _ => return Err(bad_param(k, &format!("unknown parameter {k}"))),
        }
    }
    Ok(q)
}

/// `a=b&c=d` → pairs, percent-decoded.
fn serde_urlencoded_pairs(qs: &str) -> Vec<(String, String)> {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(qs)
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

pub(crate) async fn list(
    state: &AppState,
    req: &HttpRequest,
    who: &ordo_auth::Principal,
    admin: bool,
) -> Result<HttpResponse, ApiError> {
    let q = parse_list_query(req, admin)?;
    let key_sql = match q.sort {
        SortKey::CreatedAt => "(extract(epoch from o.created_at) * 1000000)::bigint",
        SortKey::Total => "o.total",
    };
    let sort_col = match q.sort {
        SortKey::CreatedAt => "o.created_at",
        SortKey::Total => "o.total",
    };
    let mut b: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "select o.*, {key_sql} as sort_key from orders.orders o where o.tenant_id = "
    ));
    b.push_bind(who.tenant_id);
    if !q.status.is_empty() {
        b.push(" and o.status = any(").push_bind(q.status.clone()).push(")");
    }
    if !q.payment_status.is_empty() {
        b.push(" and o.payment_status = any(")
            .push_bind(q.payment_status.clone())
            .push(")");
    }
    if !q.fulfillment_status.is_empty() {
        b.push(" and o.fulfillment_status = any(")
            .push_bind(q.fulfillment_status.clone())
            .push(")");
    }
    if let Some(f) = q.from {
        b.push(" and o.created_at >= ").push_bind(f);
    }
    if let Some(t) = q.to {
        b.push(" and o.created_at < ").push_bind(t);
    }
    if let Some(text) = &q.q {
        match text.trim_start_matches('#').parse::<i64>() {
            Ok(n) => b.push(" and o.number = ").push_bind(n),
            Err(_) => b.push(" and o.email_lc = ").push_bind(text.to_lowercase()),
        };
    }
    if let Some((key, id)) = q.after {
        let op = if q.descending { "<" } else { ">" };
        match q.sort {
            SortKey::CreatedAt => {
                let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(key) * 1000)
                    .map_err(|_| bad_param("page[after]", "bad cursor"))?;
                b.push(format!(" and (o.created_at, o.id) {op} ("))
                    .push_bind(t)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            SortKey::Total => {
                b.push(format!(" and (o.total, o.id) {op} ("))
                    .push_bind(key)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
        }
    }
    let dir = if q.descending { "desc" } else { "asc" };
    b.push(format!(" order by {sort_col} {dir}, o.id {dir} limit "))
        .push_bind(q.size + 1);
    let mut tx = state.begin(who).await?;
    let rows = b.build().fetch_all(&mut *tx).await.map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    let more = rows.len() as i64 > q.size;
    let rows = &rows[..rows.len().min(q.size as usize)];
    let data = rows.iter().map(|r| resource(r, false)).collect::<Result<Vec<_>, _>>()?;
    let next = match (more, rows.last()) {
        (true, Some(last)) => {
            let key: i64 = last.try_get("sort_key").map_err(db_err)?;
            let id: Uuid = last.try_get("id").map_err(db_err)?;
            let mut pairs: Vec<(String, String)> = serde_urlencoded_pairs(req.query_string())
                .into_iter()
                .filter(|(k, _)| k != "page[after]")
                .collect();
            pairs.push(("page[after]".into(), encode_cursor(key, id)));
            let qs = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
                .collect::<Vec<_>>()
                .join("&");
            Value::String(format!("{}?{qs}", req.path()))
        }
        _ => Value::Null,
    };
    Ok(respond(StatusCode::OK, &json!({"data": data, "links": {"next": next}})))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[utoipa::path(
    get,
    path = "/store/orders",
    operation_id = "list_mine",
    tag = "orders",
    summary = "The caller's orders, newest first (cursor pagination: page[size] <= 100, page[after]; sort=created_at|-created_at; filter[status])",
    responses(
        (status = 200, description = "Orders and links.next", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_mine(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    list(&state, &req, &who.0, false).await
}

#[utoipa::path(
    get,
    path = "/admin/orders",
    operation_id = "list_admin",
    tag = "orders",
    summary = "The tenant's orders: filter[status|payment_status|fulfillment_status] (comma lists), filter[created_from|created_to] (RFC 3339), filter[q] (email or #number), sort=created_at|total (- for descending), page[size] <= 100, page[after]",
    responses(
        (status = 200, description = "Orders and links.next", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_admin(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
) -> Result<HttpResponse, ApiError> {
    list(&state, &req, &who.0, true).await
}

pub(crate) async fn get(state: &AppState, who: &ordo_auth::Principal, id: Uuid) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(who).await?;
    let doc = document(&mut tx, id).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(respond(StatusCode::OK, &doc))
}

#[utoipa::path(
    get,
    path = "/store/orders/{id}",
    operation_id = "get_mine",
    tag = "orders",
    summary = "One of the caller's orders with lines, totals, statuses and state history",
    params(
        ("id" = Uuid, Path, description = "the id")
    ),
    responses(
        (status = 200, description = "The order", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn get_mine(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    get(&state, &who.0, path.into_inner()).await
}

#[utoipa::path(
    get,
    path = "/admin/orders/{id}",
    operation_id = "get_admin",
    tag = "orders",
    summary = "Any order of the tenant with history",
    params(
        ("id" = Uuid, Path, description = "the id")
    ),
    responses(
        (status = 200, description = "The order", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn get_admin(
    state: web::Data<AppState>,
    who: AdminOnly,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    get(&state, &who.0, path.into_inner()).await
}

/// The order's status if the caller may see it, else 404 (row-level security hides another
/// customer's or another tenant's order).
pub(crate) async fn visible_status(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<String, ApiError> {
    let status: Option<String> = sqlx::query_scalar("select status from orders.orders where id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
    status.ok_or_else(|| ApiError::not_found("order", &id.to_string()))
}

// ---- cancel ----------------------------------------------------------------------------------

pub(crate) async fn cancel(
    state: &AppState,
    req: &HttpRequest,
    who: &ordo_auth::Principal,
    id: Uuid,
    reason: CancelReason,
) -> Result<HttpResponse, ApiError> {
    let actor = format!("{}:{}", who.role.as_str(), who.subject);
    let tenant = who.tenant_id;
    idempotency::run(&state.pool, req, who, &[], move |tx| {
        Box::pin(async move {
            let status = visible_status(tx, id).await?;
            if reason == CancelReason::Customer && status != "pending" {
                return Err(ApiError::conflict(
                    "order_not_cancelable",
                    &format!("a {status} order cannot be canceled by the customer"),
                ));
            }
            ordo_db::set_scope(tx, &Scope::service(tenant)).await.map_err(db_err)?;
            match transitions::apply(tx, id, Uuid::now_v7(), Trigger::Cancel { reason }, &actor, None, None).await {
                Ok(Applied::Changed(_)) | Ok(Applied::Duplicate) => {}
                Err(Failure::NotFound) => return Err(ApiError::not_found("order", &id.to_string())),
                Err(Failure::Domain(e)) => return Err(ApiError::conflict("order_not_cancelable", &e.to_string())),
                Err(Failure::Store(e)) => return Err(e),
            }
            Ok(Reply::new(StatusCode::OK, document(tx, id).await?))
        })
    })
    .await
}

#[utoipa::path(
    post,
    path = "/store/orders/{id}/cancel",
    operation_id = "cancel_mine",
    tag = "orders",
    summary = "Cancel a pending order (stock released)",
    params(
        ("id" = Uuid, Path, description = "the id"),
        crate::openapi::IdempotencyKey
    ),
    responses(
        (status = 200, description = "The order", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn cancel_mine(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let reason = if who.0.role == ordo_auth::Role::Admin {
        CancelReason::Operator
    } else {
        CancelReason::Customer
    };
    cancel(&state, &req, &who.0, path.into_inner(), reason).await
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/cancel",
    operation_id = "cancel_admin",
    tag = "orders",
    summary = "Cancel a pending or processing order (stock released, PaymentIntent canceled by the payment service)",
    params(
        ("id" = Uuid, Path, description = "the id"),
        crate::openapi::IdempotencyKey
    ),
    responses(
        (status = 200, description = "The order", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn cancel_admin(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    cancel(&state, &req, &who.0, path.into_inner(), CancelReason::Operator).await
}

// ---- stats -----------------------------------------------------------------------------------

/// Orders, revenue (captured minus refunded), average order value and orders awaiting
/// fulfilment over `[from, to)`, per currency, with a per-day series and the change against the
/// previous period of the same length.
#[utoipa::path(
    get,
    path = "/admin/stats",
    operation_id = "stats",
    tag = "orders",
    summary = "Orders, revenue, average order value, orders awaiting fulfilment per currency over filter[created_from]..filter[created_to] (<= 366 days), per day, and against the previous period of the same length",
    responses(
        (status = 200, description = "Stats per currency", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn stats(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
) -> Result<HttpResponse, ApiError> {
    let params: HashMap<String, String> = serde_urlencoded_pairs(req.query_string()).into_iter().collect();
    let time_param = |k: &str| -> Result<OffsetDateTime, ApiError> {
        let v = params.get(k).ok_or_else(|| bad_param(k, &format!("{k} is required")))?;
        OffsetDateTime::parse(v, &Rfc3339).map_err(|_| bad_param(k, "an RFC 3339 time"))
    };
    for k in params.keys() {
        if k != "filter[created_from]" && k != "filter[created_to]" {
            return Err(bad_param(k, &format!("unknown parameter {k}")));
        }
    }
    let (from, to) = (time_param("filter[created_from]")?, time_param("filter[created_to]")?);
    if to <= from || to - from > time::Duration::days(366) {
        return Err(bad_param(
            "filter[created_to]",
            "the range must be positive and at most 366 days",
        ));
    }
    let prev_from = from - (to - from);
    let mut tx = state.begin(&who.0).await?;
    let sql = "select currency,
            count(*) filter (where created_at >= $2) as orders,
            coalesce(sum(coalesce(captured_amount, 0) - refunded_amount) filter (where created_at >= $2), 0)::bigint as revenue,
            count(*) filter (where created_at >= $2 and captured_amount is not null) as paid_orders,
            count(*) filter (where created_at >= $2 and status = 'paid') as awaiting_fulfillment,
            count(*) filter (where created_at < $2) as prev_orders,
            coalesce(sum(coalesce(captured_amount, 0) - refunded_amount) filter (where created_at < $2), 0)::bigint as prev_revenue
         from orders.orders where tenant_id = $4 and created_at >= $1 and created_at < $3 group by currency order by currency";
    let totals = sqlx::query(sql)
        .bind(prev_from)
        .bind(from)
        .bind(to)
        .bind(who.0.tenant_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
    let days = sqlx::query(
        "select currency, date_trunc('day', created_at, 'UTC') as day, count(*) as orders,
                coalesce(sum(coalesce(captured_amount, 0) - refunded_amount), 0)::bigint as revenue
         from orders.orders where tenant_id = $3 and created_at >= $1 and created_at < $2 group by 1, 2 order by 1, 2",
    )
    .bind(from)
    .bind(to)
    .bind(who.0.tenant_id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    let change = |now: i64, prev: i64| {
        if prev == 0 {
            Value::Null
        } else {
            json!(((now - prev) as f64 / prev as f64 * 10_000.0).round() / 100.0)
        }
    };
    let mut out = Vec::new();
    for r in totals {
        let currency: String = r.try_get("currency").map_err(db_err)?;
        let currency = currency.trim().to_owned();
        let orders: i64 = r.try_get("orders").map_err(db_err)?;
        let revenue: i64 = r.try_get("revenue").map_err(db_err)?;
        let paid: i64 = r.try_get("paid_orders").map_err(db_err)?;
        let prev_orders: i64 = r.try_get("prev_orders").map_err(db_err)?;
        let prev_revenue: i64 = r.try_get("prev_revenue").map_err(db_err)?;
        let series = days
            .iter()
            .filter(|d| {
                d.try_get::<String, _>("currency")
                    .map(|c| c.trim() == currency)
                    .unwrap_or(false)
            })
            .map(|d| {
                Ok(json!({"day": ts(d.try_get("day").map_err(db_err)?)[..10].to_owned(),
                          "orders": d.try_get::<i64, _>("orders").map_err(db_err)?,
                          "revenue": d.try_get::<i64, _>("revenue").map_err(db_err)?}))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        out.push(json!({"type": "order-stats", "id": currency, "attributes": {
            "currency": currency, "orders": orders, "revenue": revenue,
            "average_order_value": if paid > 0 { json!(revenue / paid) } else { Value::Null },
            "awaiting_fulfillment": r.try_get::<i64, _>("awaiting_fulfillment").map_err(db_err)?,
            "previous_period": {"orders": prev_orders, "revenue": prev_revenue,
                                "orders_change_percent": change(orders, prev_orders),
                                "revenue_change_percent": change(revenue, prev_revenue)},
            "daily": series}}));
    }
    Ok(respond(
        StatusCode::OK,
        &json!({"data": out, "meta": {"from": ts(from), "to": ts(to)}}),
    ))
}

// ---- refunds -----------------------------------------------------------------------------------

/// An operator's refund request.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// Minor units; at most what was captured minus what is refunded or being refunded.
    pub amount: i64,
    /// Free text for the record (at most 500 characters).
    #[serde(default)]
    pub reason: String,
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/refunds",
    operation_id = "request_refund",
    tag = "orders",
    summary = "Ask for a (partial) refund of a paid order",
    description = "Records the request and publishes ordo.order.v1.refund_requested; the payment service refunds through Stripe and the order follows charge.refunded (refunded when the whole capture is given back, else payment_status partially_refunded). Repeated partial refunds are allowed up to the captured amount minus what is refunded or already requested.",
    params(
        ("id" = Uuid, Path, description = "the order id"),
        crate::openapi::IdempotencyKey
    ),
    request_body(content = ordo_http::jsonapi::Input<RefundInput>, content_type = "application/vnd.api+json"),
    responses(
        (status = 202, description = "The refund request (status requested)", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn request_refund(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = ordo_http::jsonapi::parse_input::<RefundInput>(&body, "refunds")?.attributes;
    if input.amount <= 0 {
        return Err(ApiError::unprocessable(
            "invalid_amount",
            "amount must be a positive number of minor units",
            Some("/data/attributes/amount"),
        ));
    }
    if input.reason.chars().count() > 500 {
        return Err(ApiError::unprocessable(
            "reason_too_long",
            "reason is at most 500 characters",
            Some("/data/attributes/reason"),
        ));
    }
    let id = path.into_inner();
    let actor = format!("admin:{}", who.0.subject);
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let row = sqlx::query(
                "select o.tenant_id, o.customer_id, trim(o.currency) as currency, o.status, o.captured_amount,
                        o.refunded_amount, o.payment_intent_id,
                        (select coalesce(sum(r.amount), 0)::bigint from orders.refund_requests r
                          where r.order_id = o.id and r.status = 'requested') as pending
                 from orders.orders o where o.id = $1 for update",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| ApiError::not_found("order", &id.to_string()))?;
            let captured: Option<i64> = row.try_get("captured_amount").map_err(db_err)?;
            let Some(captured) = captured else {
                return Err(ApiError::conflict("order_not_paid", "only a paid order can be refunded"));
            };
            let refunded: i64 = row.try_get("refunded_amount").map_err(db_err)?;
            let pending: i64 = row.try_get("pending").map_err(db_err)?;
            let remaining = captured - refunded - pending;
            if input.amount > remaining {
                return Err(ApiError::unprocessable(
                    "refund_exceeds_remaining",
                    &format!(
                        "{} requested, but only {remaining} is left to refund (captured {captured}, refunded {refunded}, in progress {pending})",
                        input.amount
                    ),
                    Some("/data/attributes/amount"),
                ));
            }
            let tenant: Uuid = row.try_get("tenant_id").map_err(db_err)?;
            let customer: String = row.try_get("customer_id").map_err(db_err)?;
            let currency: String = row.try_get("currency").map_err(db_err)?;
            let pi: Option<String> = row.try_get("payment_intent_id").map_err(db_err)?;
            let request = Uuid::now_v7();
            sqlx::query(
                "insert into orders.refund_requests (id, tenant_id, customer_id, order_id, amount, reason, status, requested_by)
                 values ($1, $2, $3, $4, $5, $6, 'requested', $7)",
            )
            .bind(request)
            .bind(tenant)
            .bind(&customer)
            .bind(id)
            .bind(input.amount)
            .bind(&input.reason)
            .bind(&actor)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            let event = ordo_events::order::v1::OrderRefundRequested {
                meta: Some(ordo_events::EventMetadata::for_event::<ordo_events::order::v1::OrderRefundRequested>(
                    &tenant.to_string(),
                    &id.to_string(),
                    0,
                )),
                order_id: id.to_string(),
                refund_request_id: request.to_string(),
                amount: Some(ordo_events::money(input.amount, &currency)),
                reason: input.reason.clone(),
                payment_intent_id: pi.unwrap_or_default(),
            };
            ordo_bus::outbox::Outbox::new(crate::SCHEMA)
                .enqueue(tx, &event)
                .await
                .map_err(ApiError::internal)?;
            let doc = json!({"data": {"type": "refunds", "id": request, "attributes": {
                "order_id": id, "amount": input.amount, "currency": currency, "reason": input.reason,
                "status": "requested",
            }}});
            Ok(Reply::new(StatusCode::ACCEPTED, doc))
        })
    })
    .await
}
