//! The order service's store documents as the storefront's pages read them (orders, lines,
//! history and download links are `ordo_web::documents`).

use serde::Deserialize;

pub use ordo_web::documents::{Address, Doc, DownloadLink, History, Line, Order, Price, Res};

#[derive(Debug, Clone, Deserialize)]
pub struct StoreVariant {
    pub id: String,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub in_stock: bool,
    pub prices: Vec<Price>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreProduct {
    pub title: String,
    pub description: String,
    pub variants: Vec<StoreVariant>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RegionShipping {
    pub id: String,
    pub name: String,
    pub price: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Region {
    pub name: String,
    pub currency: String,
    pub countries: Vec<String>,
    pub shipping_options: Vec<RegionShipping>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CartItem {
    pub id: String,
    pub variant_id: String,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub quantity: u32,
    pub unit_price: Option<i64>,
    pub subtotal: Option<i64>,
    pub available: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CartTotals {
    pub subtotal: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShippingChoice {
    pub id: String,
    pub name: String,
    pub price: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Cart {
    pub status: String,
    pub currency: String,
    pub email: Option<String>,
    pub shipping_address: Option<Address>,
    pub billing_address: Option<Address>,
    pub shipping_option: Option<ShippingChoice>,
    pub items: Vec<CartItem>,
    pub totals: CartTotals,
}

impl Cart {
    pub fn has_physical(&self) -> bool {
        self.items.iter().any(|i| i.kind == "physical")
    }

    pub fn count(&self) -> u32 {
        self.items.iter().map(|i| i.quantity).sum()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShippingOption {
    pub name: String,
    pub price: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSession {
    pub payment_intent_id: String,
    pub client_secret: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
}
