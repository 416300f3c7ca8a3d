//! The orders list: filters for status, payment status, fulfilment status, a date range and a
//! search by e-mail or number, a sort, cursor pages — all in the URL, so a list can be
//! bookmarked, shared and gone back to — and the filtered list as CSV, streamed page by page.

use super::{Nav, money, when, words};
use crate::AppState;
use crate::api::{ApiFailure, Service};
use crate::views::{OrderSummary, PageOf, Res};
use crate::web::{Operator, PageError, PageResult, html};
use actix_web::{HttpResponse, web};
use askama::Template;
use ordo_domain::{FulfillmentStatus, OrderStatus, PaymentStatus};
use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Date, Duration};

/// The list's state, as the page's own query string.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ListQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub payment_status: String,
    #[serde(default)]
    pub fulfillment_status: String,
    /// `YYYY-MM-DD`, inclusive (UTC)
    #[serde(default)]
    pub from: String,
    /// `YYYY-MM-DD`, inclusive (UTC)
    #[serde(default)]
    pub to: String,
    /// An e-mail address or an order number
    #[serde(default)]
    pub q: String,
    /// `-created_at` (default), `created_at`, `-total`, `total`
    #[serde(default)]
    pub sort: String,
    /// The API's cursor
    #[serde(default)]
    pub after: String,
}

/// A filter value that is not one of the allowed ones, or a date that is not a date.
#[derive(Debug)]
pub struct FieldError {
    pub field: &'static str,
    pub text: String,
}

fn day(field: &'static str, v: &str) -> Result<Option<Date>, FieldError> {
    if v.is_empty() {
        return Ok(None);
    }
    Date::parse(v, format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| FieldError {
            field,
            text: "a date as YYYY-MM-DD".into(),
        })
}

fn one_of(field: &'static str, v: &str, allowed: &[&str]) -> Result<(), FieldError> {
    if v.is_empty() || allowed.contains(&v) {
        Ok(())
    } else {
        Err(FieldError {
            field,
            text: format!("one of {}", allowed.join(", ")),
        })
    }
}

pub const SORTS: [(&str, &str); 4] = [
    ("-created_at", "Newest first"),
    ("created_at", "Oldest first"),
    ("-total", "Highest total"),
    ("total", "Lowest total"),
];

impl ListQuery {
    /// The order service's query for this list (`size` per page).
    pub fn api_query(&self, size: u32) -> Result<String, FieldError> {
        let statuses: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
        let pays: Vec<&str> = PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
        let fuls: Vec<&str> = FulfillmentStatus::ALL.iter().map(|s| s.as_str()).collect();
        one_of("status", &self.status, &statuses)?;
        one_of("payment_status", &self.payment_status, &pays)?;
        one_of("fulfillment_status", &self.fulfillment_status, &fuls)?;
        let sorts: Vec<&str> = SORTS.iter().map(|s| s.0).collect();
        one_of("sort", &self.sort, &sorts)?;
        let (from, to) = (day("from", &self.from)?, day("to", &self.to)?);
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            return Err(FieldError {
                field: "to",
                text: "on or after the start date".into(),
            });
        }
        if self.q.chars().count() > 254 {
            return Err(FieldError {
                field: "q",
                text: "at most 254 characters".into(),
            });
        }
        let mut pairs: Vec<(&str, String)> = vec![("page[size]", size.to_string())];
        let sort = if self.sort.is_empty() {
            "-created_at"
        } else {
            &self.sort
        };
        pairs.push(("sort", sort.to_owned()));
        for (k, v) in [
            ("filter[status]", &self.status),
            ("filter[payment_status]", &self.payment_status),
            ("filter[fulfillment_status]", &self.fulfillment_status),
            ("filter[q]", &self.q),
            ("page[after]", &self.after),
        ] {
            if !v.trim().is_empty() {
                pairs.push((k, v.trim().to_owned()));
            }
        }
        if let Some(f) = from {
            pairs.push(("filter[created_from]", format!("{f}T00:00:00Z")));
        }
        if let Some(t) = to {
            pairs.push(("filter[created_to]", format!("{}T00:00:00Z", t + Duration::days(1))));
        }
        Ok(format!("/admin/orders?{}", ordo_http::form_urlencoded(&pairs)))
    }

    /// This page's own URL with `after` replaced.
    pub fn url(&self, path: &str, after: Option<&str>) -> String {
        let mut q = self.clone();
        q.after = after.unwrap_or_default().to_owned();
        let pairs: Vec<(&str, &str)> = [
            ("status", q.status.as_str()),
            ("payment_status", q.payment_status.as_str()),
            ("fulfillment_status", q.fulfillment_status.as_str()),
            ("from", q.from.as_str()),
            ("to", q.to.as_str()),
            ("q", q.q.as_str()),
            ("sort", q.sort.as_str()),
            ("after", q.after.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        if pairs.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", ordo_http::form_urlencoded(&pairs))
        }
    }
}

/// The cursor in an API `links.next`.
fn cursor_of(next: &str) -> Option<String> {
    let (_, query) = next.split_once('?')?;
    crate::web::form_pairs(query.as_bytes())
        .into_iter()
        .find(|(k, _)| k == "page[after]")
        .map(|(_, v)| v)
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    nav: Nav,
    q: ListQuery,
    rows: Vec<Res<OrderSummary>>,
    next: Option<String>,
    first: Option<String>,
    csv: String,
    error: Option<FieldError>,
    statuses: Vec<&'static str>,
    payment_statuses: Vec<&'static str>,
    fulfillment_statuses: Vec<&'static str>,
    sorts: [(&'static str, &'static str); 4],
}

impl OrdersPage {
    fn money(&self, amount: &i64, currency: &str) -> String {
        money(*amount, currency)
    }
    fn when(&self, t: &str) -> String {
        when(t)
    }
    fn words(&self, s: &str) -> String {
        words(s)
    }
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.text.as_str())
    }
}

pub async fn page(state: web::Data<AppState>, op: Operator, q: web::Query<ListQuery>) -> PageResult {
    let q = q.into_inner();
    let mut page = OrdersPage {
        nav: Nav::new(&op.0, "orders"),
        rows: vec![],
        next: None,
        first: (!q.after.is_empty()).then(|| q.url("/orders", None)),
        csv: q.url("/orders.csv", None),
        error: None,
        statuses: OrderStatus::ALL.iter().map(|s| s.as_str()).collect(),
        payment_statuses: PaymentStatus::ALL.iter().map(|s| s.as_str()).collect(),
        fulfillment_statuses: FulfillmentStatus::ALL.iter().map(|s| s.as_str()).collect(),
        sorts: SORTS,
        q,
    };
    match page.q.api_query(50) {
        Err(e) => page.error = Some(e),
        Ok(path) => match state
            .api
            .get::<PageOf<OrderSummary>>(Service::Order, &path, &op.0.token)
            .await
        {
            Ok(list) => {
                page.next = list
                    .links
                    .next
                    .as_deref()
                    .and_then(cursor_of)
                    .map(|c| page.q.url("/orders", Some(&c)));
                page.rows = list.data;
            }
            Err(ApiFailure::Refused { detail, field, .. }) => {
                let field = match field.as_deref() {
                    Some("filter[q]") => "q",
                    Some("page[after]") => "after",
                    _ => "form",
                };
                page.error = Some(FieldError { field, text: detail });
            }
            Err(other) => return Err(other.into()),
        },
    }
    html(&page)
}

/// One CSV field, quoted when it must be; a leading `= + - @` is defused so a spreadsheet
/// does not run a customer's e-mail address as a formula.
fn field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

const CSV_HEADER: &str = "number,created_at,email,status,payment_status,fulfillment_status,items,currency,subtotal,shipping,tax,total,captured,refunded,id\r\n";

fn csv_rows(rows: &[Res<OrderSummary>]) -> String {
    let mut out = String::new();
    for r in rows {
        let o = &r.attributes;
        let minor = |v: i64| ordo_domain::money::plain(v, &o.currency);
        let cells = [
            o.number.to_string(),
            o.created_at.clone(),
            o.email.clone(),
            o.status.clone(),
            o.payment_status.clone(),
            o.fulfillment_status.clone(),
            o.items.to_string(),
            o.currency.clone(),
            minor(o.totals.subtotal),
            minor(o.totals.shipping),
            minor(o.totals.tax),
            minor(o.totals.total),
            o.captured_amount.map(minor).unwrap_or_default(),
            minor(o.refunded_amount),
            r.id.clone(),
        ];
        out.push_str(&cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// The filtered list as CSV (amounts as decimal numbers in the order's currency), fetched and sent a page at a time.
pub async fn csv(state: web::Data<AppState>, op: Operator, q: web::Query<ListQuery>) -> PageResult {
    let mut q = q.into_inner();
    q.after.clear();
    let first = q
        .api_query(100)
        .map_err(|e| PageError::BadRequest(format!("{}: {}", e.field, e.text)))?;
    let token = op.0.token.clone();
    let api = state.api.clone();
    // State: the next API path; None when done.
    let pages = futures::stream::unfold((Some(first), true), move |(path, header)| {
        let (api, token) = (api.clone(), token.clone());
        async move {
            let path = path?;
            match api.get::<PageOf<OrderSummary>>(Service::Order, &path, &token).await {
                Ok(list) => {
                    let mut chunk = if header { CSV_HEADER.to_owned() } else { String::new() };
                    chunk.push_str(&csv_rows(&list.data));
                    let next = list.links.next;
                    Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), (next, false)))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "CSV export stopped");
                    Some((
                        Ok(web::Bytes::from(format!("# export stopped: {e}\r\n"))),
                        (None, false),
                    ))
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("content-disposition", "attachment; filename=\"orders.csv\""))
        .streaming(pages))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_pages_query_becomes_the_apis() {
        let q = ListQuery {
            payment_status: "captured".into(),
            from: "2026-11-01".into(),
            to: "2026-11-30".into(),
            q: "#1001".into(),
            ..Default::default()
        };
        let api = q.api_query(50).unwrap();
        assert!(api.contains("filter%5Bpayment_status%5D=captured"), "{api}");
        assert!(api.contains("filter%5Bcreated_to%5D=2026-12-01T00%3A00%3A00Z"), "{api}");
        assert!(api.contains("filter%5Bq%5D=%231001"), "{api}");
        assert_eq!(
            q.url("/orders", Some("abc")),
            "/orders?payment_status=captured&from=2026-11-01&to=2026-11-30&q=%231001&after=abc"
        );
        let bad = ListQuery {
            status: "lost".into(),
            ..Default::default()
        };
        assert_eq!(bad.api_query(50).unwrap_err().field, "status");
        let backwards = ListQuery {
            from: "2026-11-30".into(),
            to: "2026-11-01".into(),
            ..Default::default()
        };
        assert_eq!(backwards.api_query(50).unwrap_err().field, "to");
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=cmd()"), "'=cmd()");
        assert_eq!(field("plain@shop.test"), "plain@shop.test");
    }
}
