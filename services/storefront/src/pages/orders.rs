//! The order page — the confirmation after paying and the page the e-mails link to: status, a
//! timeline in the customer's words (placed, paid, shipped with the tracking number, delivered,
//! refunded), lines and totals, and a download button per digital line once paid. While the
//! payment is being confirmed it refreshes itself (`/static/order.js` polls `…/status`).

use super::catalog::cart_count;
use crate::AppState;
use crate::shop::{PageError, PageResult, Shopper, money, page};
use crate::views::{Doc, DownloadLink, History, Order, Res};
use actix_web::{HttpResponse, web};
use askama::Template;
use ordo_web::client::ApiFailure;
use serde_json::json;
use uuid::Uuid;

/// One step of the order, in words.
#[derive(Debug)]
pub struct Step {
    pub when: String,
    pub text: String,
}

fn words(h: &History, currency: &str) -> String {
    let d = &h.detail;
    match h.trigger.as_str() {
        "cart_completed" => "Order placed".into(),
        "payment_processing" | "payment_authorized" => "Your payment is being processed".into(),
        "payment_succeeded" if h.to == "canceled" => {
            "A payment arrived for a canceled order: it is refunded in full".into()
        }
        "payment_succeeded" => "Payment received".into(),
        "payment_failed" => match d["reason"].as_str() {
            Some(r) if !r.is_empty() => format!("A payment did not go through: {r}"),
            _ => "A payment did not go through".into(),
        },
        "lines_fulfilled" => match (d["carrier"].as_str(), d["tracking_number"].as_str()) {
            (Some(c), Some(t)) => format!("Shipped with {c}, tracking number {t}"),
            _ => "Your downloads are ready".into(),
        },
        "lines_delivered" if d["shipment_id"].is_string() => "Your parcel was delivered".into(),
        "lines_delivered" => "Downloaded".into(),
        "canceled" => "Order canceled".into(),
        "refunded" => match d["amount"].as_i64() {
            Some(a) => format!("Refunded {}", money(a, currency)),
            None => "Refunded".into(),
        },
        other => other.replace('_', " "),
    }
}

fn when(t: &str) -> String {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map(|t| {
            format!(
                "{} {} {}, {:02}:{:02} UTC",
                t.day(),
                t.month(),
                t.year(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_else(|_| t.to_owned())
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    shop: String,
    cart_count: u32,
    id: String,
    order: Order,
    steps: Vec<Step>,
    /// Paid, not refunded or canceled, with digital lines: they can be downloaded.
    downloadable: bool,
    waiting: bool,
    error: Option<String>,
}

impl OrderPage {
    fn money(&self, amount: &i64) -> String {
        money(*amount, &self.order.summary.currency)
    }
    fn status_words(&self) -> &'static str {
        let physical = self.order.lines.iter().any(|l| l.kind == "physical");
        match self.order.summary.status.as_str() {
            "pending" | "processing" => "We are confirming your payment…",
            "paid" => "Paid — thank you!",
            "fulfilled" if physical => "Paid — on its way",
            "fulfilled" => "Paid — your downloads are ready",
            "delivered" => "Delivered",
            "canceled" => "Canceled",
            "refunded" => "Refunded",
            _ => "",
        }
    }
}

async fn order_page(state: &AppState, mut shopper: Shopper, id: Uuid, error: Option<String>) -> PageResult {
    let doc: Doc<Res<Order>> = state
        .order
        .get(&format!("/store/orders/{id}"), &state.token(&shopper.0))
        .await?;
    let order = doc.data.attributes;
    let currency = order.summary.currency.clone();
    let steps = order
        .history
        .iter()
        .map(|h| Step {
            when: when(&h.at),
            text: words(h, &currency),
        })
        .collect();
    let status = order.summary.status.as_str();
    let cart_count = cart_count(state, &mut shopper).await;
    page(
        state,
        &shopper.0,
        &OrderPage {
            shop: state.config.storefront.shop_name.clone(),
            cart_count,
            id: id.to_string(),
            downloadable: matches!(status, "paid" | "fulfilled" | "delivered")
                && order.lines.iter().any(|l| l.kind == "digital"),
            waiting: matches!(status, "pending" | "processing"),
            steps,
            order,
            error,
        },
    )
}

/// The signature of an order link from an e-mail (`ordo_auth::order_link`).
#[derive(Debug, serde::Deserialize)]
pub struct OrderLink {
    c: Option<String>,
    e: Option<i64>,
    s: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    mut shopper: Shopper,
    path: web::Path<String>,
    link: web::Query<OrderLink>,
) -> PageResult {
    let id = Uuid::parse_str(&path).map_err(|_| PageError::NotFound)?;
    // From the e-mail, perhaps on another device: a valid link makes this browser the order's
    // customer (as the purchase's browser was); an expired or altered one is refused.
    if let (Some(customer), Some(expires), Some(sig)) = (&link.c, link.e, &link.s) {
        let cfg = &state.config.storefront;
        let ok = ordo_auth::order_link::verify(
            cfg.order_link_secret.expose(),
            cfg.tenant_id,
            id,
            customer,
            expires,
            sig,
            crate::identity::now(),
        );
        if !ok {
            metrics::counter!("ordo_storefront_order_links_refused_total").increment(1);
            return Err(PageError::LinkRefused);
        }
        if shopper.0.subject != *customer {
            shopper.0.subject = customer.clone();
            shopper.0.cart = None;
        }
        metrics::counter!("ordo_storefront_order_links_total").increment(1);
    }
    order_page(&state, shopper, id, None).await
}

/// `{"status", "payment_status"}` of one of the guest's orders, for the page's polling.
pub async fn status(state: web::Data<AppState>, shopper: Shopper, path: web::Path<String>) -> PageResult {
    let id = Uuid::parse_str(&path).map_err(|_| PageError::NotFound)?;
    let doc: Doc<Res<Order>> = state
        .order
        .get(&format!("/store/orders/{id}"), &state.token(&shopper.0))
        .await?;
    let s = doc.data.attributes.summary;
    Ok(HttpResponse::Ok().json(json!({"status": s.status, "payment_status": s.payment_status})))
}

/// A fresh link for one digital line, followed at once (links are secrets: never put in a page).
/// A GET (a link, not a form): the answer is a redirect to the delivery service, which a form's
/// `form-action 'self'` policy would block; it changes nothing but issuing a link to the
/// guest's own file, and the file's allowance is counted by downloads, not by links.
pub async fn download(state: web::Data<AppState>, shopper: Shopper, path: web::Path<(String, String)>) -> PageResult {
    let (order, line) = path.into_inner();
    let id = Uuid::parse_str(&order).map_err(|_| PageError::NotFound)?;
    let links = state
        .order
        .get::<Doc<Vec<Res<DownloadLink>>>>(&format!("/store/orders/{id}/download-links"), &state.token(&shopper.0))
        .await;
    match links {
        Ok(doc) => match doc.data.into_iter().find(|l| l.attributes.line_id == line) {
            Some(l) => match l.attributes.url {
                Some(url) => Ok(crate::shop::with_guest(
                    &state,
                    &shopper.0,
                    HttpResponse::SeeOther().insert_header(("location", url)).finish(),
                )),
                None => {
                    order_page(
                        &state,
                        shopper,
                        id,
                        Some("This file has been downloaded as often as allowed.".into()),
                    )
                    .await
                }
            },
            None => Err(PageError::NotFound),
        },
        Err(e @ ApiFailure::Refused { .. }) => order_page(&state, shopper, id, Some(e.to_string())).await,
        Err(e) => Err(e.into()),
    }
}
