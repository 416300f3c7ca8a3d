//! The catalog (`/`) and a product (`/products/{id}`): what is for sale in the shop's region, at
//! the region's currency, and whether each variant is in stock; the add-to-cart form.

use crate::AppState;
use crate::shop::{PageError, PageResult, Shopper, money, page};
use crate::views::{Doc, Res, StoreProduct, StoreVariant};
use actix_web::web;
use askama::Template;

/// A product as a card of the catalog.
#[derive(Debug)]
pub struct Card {
    pub id: String,
    pub title: String,
    pub description: String,
    /// The lowest price in the region's currency, e.g. `€12.99`.
    pub from: Option<String>,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    shop: String,
    cart_count: u32,
    cards: Vec<Card>,
}

fn price_in(v: &StoreVariant, currency: &str) -> Option<i64> {
    v.prices.iter().find(|p| p.currency == currency).map(|p| p.amount)
}

async fn products(state: &AppState, shopper: &Shopper) -> Result<(Vec<Res<StoreProduct>>, String), PageError> {
    let (_, region) = state.region(&shopper.0).await?;
    let doc: Doc<Vec<Res<StoreProduct>>> = state.order.get("/store/products", &state.token(&shopper.0)).await?;
    Ok((doc.data, region.currency.clone()))
}

/// The number of items in the guest's cart, for the header.
pub async fn cart_count(state: &AppState, shopper: &mut Shopper) -> u32 {
    match state.open_cart(&mut shopper.0).await {
        Ok(Some((_, cart))) => cart.count(),
        _ => 0,
    }
}

pub async fn catalog(state: web::Data<AppState>, mut shopper: Shopper) -> PageResult {
    let (list, currency) = products(&state, &shopper).await?;
    let cards = list
        .into_iter()
        .filter_map(|p| {
            let from = p
                .attributes
                .variants
                .iter()
                .filter_map(|v| price_in(v, &currency))
                .min()?;
            Some(Card {
                id: p.id,
                title: p.attributes.title,
                description: p.attributes.description,
                from: Some(money(from, &currency)),
            })
        })
        .collect();
    let cart_count = cart_count(&state, &mut shopper).await;
    page(
        &state,
        &shopper.0,
        &CatalogPage {
            shop: state.config.storefront.shop_name.clone(),
            cart_count,
            cards,
        },
    )
}

/// A variant as the product page offers it.
#[derive(Debug)]
pub struct Offer {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub price: String,
    pub in_stock: bool,
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    shop: String,
    cart_count: u32,
    csrf: String,
    id: String,
    /// The add-to-cart form's Idempotency-Key.
    key: String,
    title: String,
    description: String,
    offers: Vec<Offer>,
    error: Option<String>,
}

pub async fn product(state: web::Data<AppState>, shopper: Shopper, path: web::Path<String>) -> PageResult {
    product_page(&state, shopper, &path, None).await
}

/// The product page, with `error` (an add-to-cart that was refused) above its form.
pub async fn product_page(state: &AppState, mut shopper: Shopper, id: &str, error: Option<String>) -> PageResult {
    let (list, currency) = products(state, &shopper).await?;
    let p = list.into_iter().find(|p| p.id == id).ok_or(PageError::NotFound)?;
    let offers = p
        .attributes
        .variants
        .iter()
        .filter_map(|v| {
            Some(Offer {
                id: v.id.clone(),
                title: v.title.clone(),
                kind: v.kind.clone(),
                price: money(price_in(v, &currency)?, &currency),
                in_stock: v.in_stock,
            })
        })
        .collect();
    let cart_count = cart_count(state, &mut shopper).await;
    let mut res = page(
        state,
        &shopper.0,
        &ProductPage {
            shop: state.config.storefront.shop_name.clone(),
            cart_count,
            csrf: shopper.0.csrf.clone(),
            id: id.to_owned(),
            key: uuid::Uuid::new_v4().to_string(),
            title: p.attributes.title,
            description: p.attributes.description,
            offers,
            error: error.clone(),
        },
    )?;
    if error.is_some() {
        *res.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(res)
}
