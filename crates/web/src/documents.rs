//! The order service's documents as the web front ends read them (the fields they show; unknown
//! fields are ignored, so a service may add fields without breaking a page).

use serde::Deserialize;

/// `{"data": …}`
#[derive(Debug, Deserialize)]
pub struct Doc<T> {
    pub data: T,
}

/// A JSON:API resource.
#[derive(Debug, Clone, Deserialize)]
pub struct Res<A> {
    pub id: String,
    pub attributes: A,
}

/// A page of resources and the link to the next one.
#[derive(Debug, Deserialize)]
pub struct PageOf<A> {
    pub data: Vec<Res<A>>,
    #[serde(default)]
    pub links: Links,
}

#[derive(Debug, Default, Deserialize)]
pub struct Links {
    pub next: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Totals {
    pub subtotal: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderSummary {
    pub number: i64,
    pub display_number: String,
    pub email: String,
    pub status: String,
    pub payment_status: String,
    pub fulfillment_status: String,
    pub currency: String,
    pub totals: Totals,
    pub items: i64,
    pub captured_amount: Option<i64>,
    pub refunded_amount: i64,
    pub failed_payment_attempts: i32,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub region: Option<String>,
    pub country: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    pub id: String,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub subtotal: i64,
    pub tax: i64,
    pub fulfilled_at: Option<String>,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct History {
    pub from: Option<String>,
    pub to: String,
    pub trigger: String,
    pub event_id: String,
    pub actor: String,
    pub payment_status: String,
    pub fulfillment_status: String,
    #[serde(default)]
    pub detail: serde_json::Value,
    pub at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    #[serde(flatten)]
    pub summary: OrderSummary,
    pub shipping_address: Option<Address>,
    pub billing_address: Option<Address>,
    pub lines: Vec<Line>,
    pub history: Vec<History>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DownloadLink {
    pub line_id: String,
    pub url: Option<String>,
    pub expires_at: Option<String>,
    pub remaining_downloads: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Price {
    pub currency: String,
    pub amount: i64,
}
