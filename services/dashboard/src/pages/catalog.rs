//! The catalog: products and their variants with price, stock and active flag; a form per
//! variant to change stock (empty = unlimited) and active; a form to create a product with its
//! first variant.

use super::{Nav, money};
use crate::AppState;
use crate::api::{ApiFailure, Service};
use crate::views::{Doc, Product, Res};
use crate::web::{Form, Notice, Operator, PageResult, after_post, html, shown, take_notice};
use actix_web::{HttpRequest, web};
use askama::Template;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    nav: Nav,
    products: Vec<Res<Product>>,
    notice: Option<Notice>,
}

impl CatalogPage {
    fn money(&self, amount: &i64, currency: &str) -> String {
        money(*amount, currency)
    }
    fn error_for(&self, form: &str, field: &str) -> Option<&str> {
        self.notice.as_ref().and_then(|n| n.error_for(form, field))
    }
    fn notice_for(&self, form: &str) -> Option<&Notice> {
        self.notice
            .as_ref()
            .filter(|n| n.form == form && (n.ok || n.field.is_none()))
    }
}

pub async fn page(state: web::Data<AppState>, req: HttpRequest, op: Operator) -> PageResult {
    let products = state
        .api
        .get::<Doc<Vec<Res<Product>>>>(Service::Order, "/admin/products", &op.0.token)
        .await?
        .data;
    let notice = take_notice(&state, &req);
    let page = CatalogPage {
        nav: Nav::new(&op.0, "catalog"),
        products,
        notice: notice.clone(),
    };
    Ok(shown(&state, html(&page)?, &notice))
}

fn refused(field: &str, detail: String) -> ApiFailure {
    ApiFailure::field(field, "invalid_field", detail)
}

/// An inventory field: empty is unlimited (null), else a whole number ≥ 0.
fn inventory(raw: &str) -> Result<Value, ApiFailure> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    raw.parse::<u32>()
        .ok()
        .filter(|n| i32::try_from(*n).is_ok())
        .map(|n| json!(n))
        .ok_or_else(|| {
            refused(
                "inventory",
                "stock is a whole number from 0, or empty for unlimited".into(),
            )
        })
}

pub async fn create_product(state: web::Data<AppState>, form: Form) -> PageResult {
    let currency = form.get("currency").to_uppercase();
    let exponent = ordo_domain::money::Currency::parse(&currency).map_or(2, |c| c.exponent());
    let body = (|| {
        let amount = ordo_domain::money::parse_major(form.get("price"), exponent).ok_or_else(|| {
            refused(
                "amount",
                format!("the price is a number with at most {exponent} decimals"),
            )
        })?;
        let kind = form.get("kind");
        let mut variant = json!({
            "kind": kind,
            "sku": form.get("sku"),
            "title": form.get("variant_title"),
            "inventory": inventory(form.get("inventory"))?,
            "prices": [{"currency": currency, "amount": amount}],
        });
        if kind == "digital" {
            variant["asset_key"] = json!(form.get("asset_key"));
        }
        Ok::<_, ApiFailure>(json!({"data": {"type": "products", "attributes": {
            "title": form.get("title"),
            "description": form.get("description"),
            "variants": [variant],
        }}}))
    })();
    let result = match body {
        Err(e) => Err(e),
        Ok(body) => state
            .api
            .send(
                Method::POST,
                Service::Order,
                "/admin/products",
                form.token(),
                Some(body),
                form.key(),
            )
            .await
            .map(|_| format!("Product “{}” created.", form.get("title"))),
    };
    after_post(&state, "/catalog", "create_product", result)
}

/// Stock and active flag of one variant.
pub async fn update_variant(state: web::Data<AppState>, path: web::Path<String>, form: Form) -> PageResult {
    let id = super::order::path_id(&path)?;
    let form_name = format!("variant-{id}");
    let result = match inventory(form.get("inventory")) {
        Err(e) => Err(e),
        Ok(inventory) => state
            .api
            .send(
                Method::PATCH,
                Service::Order,
                &format!("/admin/variants/{id}"),
                form.token(),
                Some(json!({"data": {"type": "variants", "attributes": {
                    "inventory": inventory,
                    "active": form.get("active") == "on",
                }}})),
                form.key(),
            )
            .await
            .map(|doc| {
                let a = &doc["data"]["attributes"];
                format!(
                    "{}: stock {}, {}.",
                    a["sku"].as_str().unwrap_or("variant"),
                    a["inventory"]
                        .as_i64()
                        .map_or("unlimited".to_owned(), |n| n.to_string()),
                    if a["active"] == json!(true) {
                        "active"
                    } else {
                        "inactive"
                    }
                )
            }),
    };
    after_post(&state, "/catalog", &form_name, result)
}
