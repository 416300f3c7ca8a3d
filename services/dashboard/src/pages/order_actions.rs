//! The order page's forms: refund (full or partial, with a reason), cancel, ship physical lines,
//! mark a shipment delivered, reissue download links. Each posts to the owning API with the
//! form's Idempotency-Key (a double click is one refund) and returns to the order page with the
//! result or the API's error in words.

use super::order::{load, path_id};
use crate::AppState;
use crate::api::{ApiFailure, Service};
use crate::views::{Doc, DownloadLink, Res};
use crate::web::{Form, Operator, PageResult, after_post, html};
use actix_web::web;
use reqwest::Method;
use serde_json::json;

fn back(id: &uuid::Uuid) -> String {
    format!("/orders/{id}")
}

/// A refund of `amount` (major units, e.g. `12.50`) with a reason.
pub async fn refund(state: web::Data<AppState>, path: web::Path<String>, form: Form) -> PageResult {
    let id = path_id(&path)?;
    let currency = form.get("currency").to_owned();
    let exponent = ordo_domain::money::Currency::parse(&currency).map_or(2, |c| c.exponent());
    let result = match ordo_domain::money::parse_major(form.get("amount"), exponent) {
        None | Some(0) => Err(ApiFailure::field(
            "amount",
            "invalid_amount",
            format!(
                "the amount is a positive number with at most {exponent} decimals, e.g. {}",
                ordo_domain::money::plain(1250, &currency)
            ),
        )),
        Some(amount) => state
            .api
            .send(
                Method::POST,
                Service::Order,
                &format!("/admin/orders/{id}/refunds"),
                form.token(),
                Some(json!({"data": {"type": "refunds", "attributes": {"amount": amount, "reason": form.get("reason")}}})),
                form.key(),
            )
            .await
            .map(|_| {
                format!(
                    "Refund of {} requested; Stripe's answer will show here.",
                    ordo_domain::money::human(amount, &currency)
                )
            })
            .map_err(|e| match e {
                // The API counts in minor units; say it in money.
                ApiFailure::Refused {
                    status,
                    code,
                    field,
                    pointer,
                    ..
                } if code == "refund_exceeds_remaining" => ApiFailure::Refused {
                    status,
                    detail: format!(
                        "{} is more than what is left to refund (see the payment panel)",
                        ordo_domain::money::human(amount, &currency)
                    ),
                    code,
                    field,
                    pointer,
                },
                other => other,
            }),
    };
    after_post(&state, &back(&id), "refund", result)
}

pub async fn cancel(state: web::Data<AppState>, path: web::Path<String>, form: Form) -> PageResult {
    let id = path_id(&path)?;
    let result = state
        .api
        .send(
            Method::POST,
            Service::Order,
            &format!("/admin/orders/{id}/cancel"),
            form.token(),
            None,
            form.key(),
        )
        .await
        .map(|_| "Order canceled.".to_owned());
    after_post(&state, &back(&id), "cancel", result)
}

/// A shipment of the checked physical lines with carrier and tracking number.
pub async fn ship(state: web::Data<AppState>, path: web::Path<String>, form: Form) -> PageResult {
    let id = path_id(&path)?;
    let lines = form.all("line_id");
    let result = if lines.is_empty() {
        Err(ApiFailure::field(
            "line_ids",
            "invalid_shipment",
            "choose at least one line to ship".into(),
        ))
    } else {
        state
            .api
            .send(
                Method::POST,
                Service::Order,
                &format!("/admin/orders/{id}/shipments"),
                form.token(),
                Some(json!({"data": {"type": "shipments", "attributes": {
                    "carrier": form.get("carrier"),
                    "tracking_number": form.get("tracking_number"),
                    "line_ids": lines,
                }}})),
                form.key(),
            )
            .await
            .map(|_| {
                format!(
                    "Shipped with {} ({}).",
                    form.get("carrier"),
                    form.get("tracking_number")
                )
            })
    };
    after_post(&state, &back(&id), "ship", result)
}

pub async fn delivered(state: web::Data<AppState>, path: web::Path<(String, String)>, form: Form) -> PageResult {
    let (raw, shipment) = path.into_inner();
    let id = path_id(&raw)?;
    let shipment = path_id(&shipment)?;
    let result = state
        .api
        .send(
            Method::POST,
            Service::Order,
            &format!("/admin/orders/{id}/shipments/{shipment}/delivered"),
            form.token(),
            None,
            form.key(),
        )
        .await
        .map(|doc| {
            if doc["data"]["attributes"]["already_delivered"] == json!(true) {
                "That shipment was marked delivered already.".to_owned()
            } else {
                "Shipment marked delivered.".to_owned()
            }
        });
    after_post(&state, &back(&id), "delivered", result)
}

/// Fresh download links for the digital lines, shown once on the page that answers (they are
/// secrets: not kept in a cookie or a URL).
pub async fn download_links(state: web::Data<AppState>, path: web::Path<String>, form: Form) -> PageResult {
    let id = path_id(&path)?;
    let op = Operator(form.operator.clone());
    let links = state
        .api
        .get::<Doc<Vec<Res<DownloadLink>>>>(
            Service::Order,
            &format!("/admin/orders/{id}/download-links"),
            form.token(),
        )
        .await;
    match links {
        Ok(doc) => {
            let mut page = load(&state, &op, id).await?;
            page.links = Some(doc.data.into_iter().map(|r| r.attributes).collect());
            html(&page)
        }
        Err(e) => after_post(&state, &back(&id), "links", Err(e)),
    }
}
