//! The cart: its lines with quantities to change or remove, totals, and the way to checkout.
//! Adding from a product page makes the guest's cart on first use (in the shop's region).

use super::catalog::product_page;
use crate::AppState;
use crate::shop::{PageError, PageResult, ShopForm, Shopper, money, page, redirect};
use crate::views::Cart;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use ordo_web::client::ApiFailure;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "cart.html")]
struct CartPage {
    shop: String,
    cart_count: u32,
    csrf: String,
    cart: Option<Cart>,
    error: Option<String>,
}

impl CartPage {
    fn money(&self, amount: &i64) -> String {
        money(*amount, self.cart.as_ref().map_or("EUR", |c| c.currency.as_str()))
    }
    fn key(&self) -> String {
        Uuid::new_v4().to_string()
    }
}

async fn cart_page(state: &AppState, mut shopper: Shopper, error: Option<String>) -> PageResult {
    let cart = state.open_cart(&mut shopper.0).await?.map(|(_, c)| c);
    let cart_count = cart.as_ref().map_or(0, Cart::count);
    let mut res = page(
        state,
        &shopper.0,
        &CartPage {
            shop: state.config.storefront.shop_name.clone(),
            cart_count,
            csrf: shopper.0.csrf.clone(),
            cart,
            error: error.clone(),
        },
    )?;
    if error.is_some() {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(res)
}

pub async fn show(state: web::Data<AppState>, shopper: Shopper) -> PageResult {
    cart_page(&state, shopper, None).await
}

/// The guest's open cart, made now if there is none.
async fn ensure_cart(state: &AppState, form: &mut ShopForm) -> Result<Uuid, PageError> {
    if let Some((id, _)) = state.open_cart(&mut form.guest).await? {
        return Ok(id);
    }
    let (region, _) = *state.region(&form.guest).await?;
    let key = format!("{}-cart", form.key().unwrap_or("add"));
    let doc = state
        .order
        .send(
            Method::POST,
            "/store/carts",
            &state.token(&form.guest),
            Some(json!({"data": {"type": "carts", "attributes": {"region_id": region}}})),
            Some(&key),
        )
        .await?;
    let id = doc["data"]["id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| PageError::Internal("a cart without id".into()))?;
    form.guest.cart = Some(id);
    Ok(id)
}

/// Add a variant (from a product page) and go to the cart.
pub async fn add(state: web::Data<AppState>, mut form: ShopForm) -> PageResult {
    let product = form.get("product_id").to_owned();
    let quantity: u32 = match form.get("quantity").parse() {
        Ok(q) if (1..=99).contains(&q) => q,
        _ => {
            let shopper = Shopper(form.guest.clone());
            return product_page(
                &state,
                shopper,
                &product,
                Some("Quantity: a whole number from 1 to 99.".into()),
            )
            .await;
        }
    };
    let variant = form.get("variant_id").to_owned();
    let cart = ensure_cart(&state, &mut form).await?;
    let added = state
        .order
        .send(
            Method::POST,
            &format!("/store/carts/{cart}/line-items"),
            &state.token(&form.guest),
            Some(json!({"data": {"type": "line-items", "attributes": {"variant_id": variant, "quantity": quantity}}})),
            form.key(),
        )
        .await;
    match added {
        Ok(_) => Ok(redirect(&state, &form.guest, "/cart")),
        Err(e @ ApiFailure::Refused { .. }) => {
            let shopper = Shopper(form.guest.clone());
            let words = e.to_string();
            product_page(&state, shopper, &product, Some(words)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Change a line's quantity, or remove it.
pub async fn change(state: web::Data<AppState>, mut form: ShopForm, path: web::Path<String>) -> PageResult {
    let line = Uuid::parse_str(&path).map_err(|_| PageError::NotFound)?;
    let Some((cart, _)) = state.open_cart(&mut form.guest).await? else {
        return Ok(redirect(&state, &form.guest, "/cart"));
    };
    let path = format!("/store/carts/{cart}/line-items/{line}");
    let token = state.token(&form.guest);
    let result = if form.get("action") == "remove" {
        state.order.send(Method::DELETE, &path, &token, None, form.key()).await
    } else {
        match form.get("quantity").parse::<u32>() {
            Ok(0) => state.order.send(Method::DELETE, &path, &token, None, form.key()).await,
            Ok(q) if q <= 99 => {
                state
                    .order
                    .send(
                        Method::PATCH,
                        &path,
                        &token,
                        Some(json!({"data": {"type": "line-items", "attributes": {"quantity": q}}})),
                        form.key(),
                    )
                    .await
            }
            _ => Err(ApiFailure::field(
                "quantity",
                "invalid_quantity",
                "Quantity: a whole number from 0 to 99.".into(),
            )),
        }
    };
    match result {
        Ok(_) => Ok(redirect(&state, &form.guest, "/cart")),
        Err(e @ ApiFailure::Refused { .. }) => {
            cart_page(&state, Shopper(form.guest.clone()), Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}
