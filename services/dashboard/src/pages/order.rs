//! One order: lines, totals, addresses; the state machine with the path the order took; one
//! timeline of its state history, payment attempts, refunds, shipments and e-mails; the payment
//! panel; and the actions that fit its state (refund, cancel, ship, mark delivered, reissue
//! download links). The order comes from the order service (404 there is 404 here: another
//! tenant's order does not exist for this operator); each side panel from its owner, and a
//! panel whose service is down says so without taking the page with it.

use super::{Nav, money, when, words};
use crate::AppState;
use crate::api::{ApiFailure, Service};
use crate::views::{DownloadLink, Line, Notification, Order, PageOf, Payment, RefundRequest, Res, Shipment};
use crate::web::{Notice, Operator, PageError, PageResult, html, shown, take_notice};
use actix_web::{HttpRequest, web};
use askama::Template;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// One entry of the timeline.
#[derive(Debug)]
pub struct Entry {
    at: Option<OffsetDateTime>,
    pub when: String,
    /// `status`, `payment`, `refund`, `shipment`, `mail`
    pub kind: &'static str,
    pub title: String,
    pub detail: String,
}

fn entry(at: &str, kind: &'static str, title: String, detail: String) -> Entry {
    Entry {
        at: OffsetDateTime::parse(at, &Rfc3339).ok(),
        when: when(at),
        kind,
        title,
        detail,
    }
}

/// A side panel's content, or why it is missing.
pub type Panel<T> = Result<T, String>;

fn panel<T>(r: Result<T, ApiFailure>) -> Result<Panel<T>, ApiFailure> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(ApiFailure::SignedOut) => Err(ApiFailure::SignedOut),
        Err(e) => Ok(Err(e.to_string())),
    }
}

#[derive(Debug, Template)]
#[template(path = "order.html")]
pub struct OrderPage {
    pub nav: Nav,
    pub id: String,
    pub order: Order,
    pub diagram: String,
    pub timeline: Vec<Entry>,
    pub payments: Panel<Vec<Payment>>,
    pub refund_requests: Panel<Vec<RefundRequest>>,
    pub shipments: Panel<Vec<Res<Shipment>>>,
    pub mails: Panel<Vec<Notification>>,
    /// What a new refund may still take: captured − refunded − requested and not settled.
    pub refundable: i64,
    pub refundable_text: String,
    pub can_refund: bool,
    pub can_cancel: bool,
    /// Physical lines not in a shipment yet.
    pub unshipped: Vec<Line>,
    pub has_digital: bool,
    pub links: Option<Vec<DownloadLink>>,
    pub notice: Option<Notice>,
    /// Something is still settling (a payment, a refund): the page refreshes itself.
    pub live: bool,
}

impl OrderPage {
    fn money(&self, amount: &i64) -> String {
        money(*amount, &self.order.summary.currency)
    }
    fn when(&self, t: &str) -> String {
        when(t)
    }
    fn words(&self, s: &str) -> String {
        words(s)
    }
    fn major(&self, amount: &i64) -> String {
        ordo_domain::money::plain(*amount, &self.order.summary.currency)
    }
    fn line_title(&self, id: &str) -> String {
        self.order
            .lines
            .iter()
            .find(|l| l.id == id)
            .map(|l| format!("{} × {}", l.quantity, l.title))
            .unwrap_or_else(|| id.to_owned())
    }
    fn error_for(&self, form: &str, field: &str) -> Option<&str> {
        self.notice.as_ref().and_then(|n| n.error_for(form, field))
    }
}

/// Load everything the page shows.
pub async fn load(state: &AppState, op: &Operator, id: Uuid) -> Result<OrderPage, ApiFailure> {
    let token = &op.0.token;
    let api = &state.api;
    let order_path = format!("/admin/orders/{id}");
    let payments_path = format!("/admin/orders/{id}/payments");
    let refunds_path = format!("/admin/orders/{id}/refunds");
    let shipments_path = format!("/admin/orders/{id}/shipments");
    let mail_path = format!("/admin/notifications?filter[order_id]={id}&page[size]=100");
    let (order, payments, refunds, shipments, mails) = futures::join!(
        api.get::<crate::views::Doc<Res<Order>>>(Service::Order, &order_path, token),
        api.get::<crate::views::Doc<Vec<Res<Payment>>>>(Service::Payment, &payments_path, token),
        api.get::<crate::views::Doc<Vec<Res<RefundRequest>>>>(Service::Order, &refunds_path, token),
        api.get::<crate::views::Doc<Vec<Res<Shipment>>>>(Service::Delivery, &shipments_path, token),
        api.get::<PageOf<Notification>>(Service::Notification, &mail_path, token),
    );
    let order = order?.data.attributes;
    let payments = panel(payments.map(|d| d.data.into_iter().map(|r| r.attributes).collect::<Vec<_>>()))?;
    let refund_requests = panel(refunds.map(|d| d.data.into_iter().map(|r| r.attributes).collect::<Vec<_>>()))?;
    let shipments = panel(shipments.map(|d| d.data))?;
    let mails = panel(mails.map(|p| p.data.into_iter().map(|r| r.attributes).collect::<Vec<_>>()))?;

    let s = &order.summary;
    let taken: Vec<(String, String)> = order
        .history
        .iter()
        .filter_map(|h| {
            h.from
                .as_ref()
                .filter(|f| **f != h.to)
                .map(|f| (f.clone(), h.to.clone()))
        })
        .collect();
    let diagram = crate::draw::state_diagram(&s.status, &taken);
    let timeline = timeline(&order, &payments, &shipments, &mails);

    let pending_requests: i64 = refund_requests
        .as_ref()
        .map(|rs| rs.iter().filter(|r| r.status == "requested").map(|r| r.amount).sum())
        .unwrap_or(0);
    let refundable = (s.captured_amount.unwrap_or(0) - s.refunded_amount - pending_requests).max(0);
    let paid_like = matches!(s.status.as_str(), "paid" | "fulfilled" | "delivered");
    let shipped: Vec<&String> = shipments
        .as_ref()
        .map(|v| v.iter().flat_map(|r| r.attributes.line_ids.iter()).collect())
        .unwrap_or_default();
    let unshipped = order
        .lines
        .iter()
        .filter(|l| l.kind == "physical" && l.fulfilled_at.is_none() && !shipped.contains(&&l.id))
        .cloned()
        .collect();
    let live = pending_requests > 0 || matches!(s.status.as_str(), "processing");
    Ok(OrderPage {
        nav: Nav::new(&op.0, "orders"),
        id: id.to_string(),
        diagram,
        timeline,
        refundable,
        refundable_text: money(refundable, &s.currency),
        can_refund: paid_like && refundable > 0,
        can_cancel: matches!(s.status.as_str(), "pending" | "processing"),
        unshipped: if s.status == "paid" { unshipped } else { vec![] },
        has_digital: paid_like && order.lines.iter().any(|l| l.kind == "digital"),
        links: None,
        notice: None,
        live,
        payments,
        refund_requests,
        shipments,
        mails,
        order,
    })
}

/// State history, payment attempts, refunds, shipments and e-mails, oldest first.
fn timeline(
    order: &Order,
    payments: &Panel<Vec<Payment>>,
    shipments: &Panel<Vec<Res<Shipment>>>,
    mails: &Panel<Vec<Notification>>,
) -> Vec<Entry> {
    let cur = &order.summary.currency;
    let mut out: Vec<Entry> = order
        .history
        .iter()
        .map(|h| {
            let title = match &h.from {
                Some(f) if *f != h.to => format!("{} → {}", f, h.to),
                Some(_) => format!(
                    "{} (payment {}, fulfilment {})",
                    h.to,
                    words(&h.payment_status),
                    words(&h.fulfillment_status)
                ),
                None => format!("placed as {}", h.to),
            };
            let amount = h.detail["amount"]
                .as_i64()
                .map(|a| format!(", {}", money(a, cur)))
                .unwrap_or_default();
            entry(
                &h.at,
                "status",
                title,
                format!("{}{amount} — by {} — event {}", words(&h.trigger), h.actor, h.event_id),
            )
        })
        .collect();
    for p in payments.iter().flatten() {
        out.push(entry(
            &p.created_at,
            "payment",
            format!(
                "Payment {} started for {}",
                p.payment_intent_id,
                money(p.amount, &p.currency)
            ),
            format!("now {}", words(&p.status)),
        ));
        if p.failed_attempts > 0 {
            let why = p
                .last_failure
                .as_ref()
                .and_then(|f| f.message.clone().or(f.code.clone()))
                .unwrap_or_else(|| "no reason given".into());
            out.push(entry(
                &p.updated_at,
                "payment",
                format!("{} failed payment attempt(s)", p.failed_attempts),
                format!("last: {why}"),
            ));
        }
        for r in &p.refunds {
            out.push(entry(
                &r.created_at,
                "refund",
                format!("Refund of {} {}", money(r.amount, &p.currency), words(&r.status)),
                format!(
                    "{} — from {}{}",
                    if r.reason.is_empty() {
                        "no reason given"
                    } else {
                        &r.reason
                    },
                    words(&r.source),
                    r.failure_message
                        .as_deref()
                        .map(|m| format!(" — {m}"))
                        .unwrap_or_default()
                ),
            ));
        }
    }
    for s in shipments.iter().flatten() {
        let a = &s.attributes;
        out.push(entry(
            &a.created_at,
            "shipment",
            format!("Shipped with {} ({})", a.carrier, a.tracking_number),
            format!("{} line(s)", a.line_ids.len()),
        ));
        if let Some(d) = &a.delivered_at {
            out.push(entry(
                d,
                "shipment",
                format!("Delivered by {}", a.carrier),
                a.tracking_number.clone(),
            ));
        }
    }
    for m in mails.iter().flatten() {
        let at = m.sent_at.as_deref().or(m.created_at.as_deref()).unwrap_or_default();
        out.push(entry(
            at,
            "mail",
            format!(
                "E-mail “{}” to {}",
                m.subject.as_deref().unwrap_or(&words(&m.kind)),
                m.recipient
            ),
            format!(
                "{} after {} attempt(s){}",
                m.status,
                m.attempts,
                m.last_error.as_deref().map(|e| format!(" — {e}")).unwrap_or_default()
            ),
        ));
    }
    out.sort_by_key(|e| e.at);
    out
}

/// The id (a UUID) in a path; anything else is a page that does not exist.
pub fn path_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError::NotFound)
}

pub async fn page(state: web::Data<AppState>, req: HttpRequest, op: Operator, path: web::Path<String>) -> PageResult {
    let mut page = load(&state, &op, path_id(&path)?).await?;
    page.notice = take_notice(&state, &req);
    let notice = page.notice.clone();
    Ok(shown(&state, html(&page)?, &notice))
}
