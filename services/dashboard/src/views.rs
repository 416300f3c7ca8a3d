//! The services' documents as the pages read them (the fields they show; unknown fields are
//! ignored, so a service may add fields without breaking the dashboard).

use serde::Deserialize;
use std::collections::BTreeMap;

pub use ordo_web::documents::{
    Address, Doc, DownloadLink, Line, Links, Order, OrderSummary, PageOf, Price, Res, Totals,
};

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
