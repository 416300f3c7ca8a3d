//! The services' documents as the pages read them (the fields they show; unknown fields are
//! ignored, so a service may add fields without breaking the dashboard).

use serde::Deserialize;
use std::collections::BTreeMap;

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
pub struct Failure {
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripeRefund {
    pub amount: i64,
    pub reason: String,
    pub status: String,
    pub source: String,
    pub stripe_refund_id: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: String,
}

/// A payment session of the order's cart (the payment service's panel).
#[derive(Debug, Clone, Deserialize)]
pub struct Payment {
    pub payment_intent_id: String,
    pub status: String,
    pub currency: String,
    pub amount: i64,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    pub refundable_amount: i64,
    pub failed_attempts: i32,
    pub last_failure: Option<Failure>,
    pub refunds: Vec<StripeRefund>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RefundRequest {
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub failure_message: Option<String>,
    pub requested_by: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
    pub status: String,
    pub line_ids: Vec<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DownloadLink {
    pub line_id: String,
    pub url: Option<String>,
    pub expires_at: Option<String>,
    pub remaining_downloads: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    pub kind: String,
    pub order_id: String,
    pub recipient: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub subject: Option<String>,
    pub created_at: Option<String>,
    pub sent_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeadLetter {
    pub consumer: String,
    pub subject: String,
    pub event_id: Option<String>,
    pub error: String,
    pub attempts: i32,
    pub created_at: Option<String>,
    pub replayed_at: Option<String>,
    pub replay_error: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Price {
    pub currency: String,
    pub amount: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Variant {
    pub id: String,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub asset_key: Option<String>,
    pub inventory: Option<i64>,
    pub active: bool,
    pub prices: Vec<Price>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub title: String,
    pub description: String,
    pub active: bool,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refunds {
    pub count: i64,
    pub amount: i64,
    pub amount_change_percent: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Previous {
    pub orders_change_percent: Option<f64>,
    pub revenue_change_percent: Option<f64>,
    pub average_order_value_change_percent: Option<f64>,
    pub awaiting_fulfillment_change_percent: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Day {
    pub day: String,
    pub orders: i64,
    pub revenue: i64,
}

/// One currency's numbers over a period.
#[derive(Debug, Clone, Deserialize)]
pub struct Stats {
    pub currency: String,
    pub orders: i64,
    pub revenue: i64,
    pub average_order_value: Option<i64>,
    pub awaiting_fulfillment: i64,
    pub previous_period: Previous,
    pub daily: Vec<Day>,
    pub refunds: Refunds,
    pub by_status: BTreeMap<String, i64>,
}
