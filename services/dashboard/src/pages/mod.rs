//! The pages and the forms they post. Every GET is a page that works without JavaScript; every
//! POST is a form with the session's CSRF token and its own Idempotency-Key, answered with a
//! redirect to the page it came from and a one-time notice of what happened.

pub mod catalog;
pub mod mail;
pub mod order;
pub mod order_actions;
pub mod orders;
pub mod overview;
pub mod sign_in;

use crate::session::Session;
use actix_web::web;
use ordo_web::server::asset;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The navigation bar and what every form needs.
#[derive(Debug, Clone)]
pub struct Nav {
    pub email: String,
    pub csrf: String,
    /// `overview`, `orders`, `catalog`, `mail`
    pub active: &'static str,
}

impl Nav {
    pub fn new(s: &Session, active: &'static str) -> Nav {
        Nav {
            email: s.email.clone(),
            csrf: s.csrf.clone(),
            active,
        }
    }

    /// A fresh Idempotency-Key for one form on the page.
    pub fn key(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// `12.50 EUR` as people read it (`€12.50`).
pub fn money(amount: i64, currency: &str) -> String {
    ordo_domain::money::human(amount, currency)
}

/// An API time as `2026-11-30 10:04 UTC`.
pub fn when(t: &str) -> String {
    match OffsetDateTime::parse(t, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute()
            )
        }
        Err(_) => t.to_owned(),
    }
}

/// Words for a status value: `partially_refunded` → `partially refunded`.
pub fn words(s: &str) -> String {
    s.replace('_', " ")
}

const CSS: &str = include_str!("../../static/dashboard.css");
const LIVE_JS: &str = include_str!("../../static/live.js");

/// Every route of the dashboard.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/static/dashboard.css",
        web::get().to(|| async { asset("text/css; charset=utf-8", CSS) }),
    )
    .route(
        "/static/live.js",
        web::get().to(|| async { asset("text/javascript; charset=utf-8", LIVE_JS) }),
    )
    .route("/sign-in", web::get().to(sign_in::page))
    .route("/sign-in/start", web::get().to(sign_in::start))
    .route("/sign-in/dev", web::post().to(sign_in::dev))
    .route("/auth/callback", web::get().to(sign_in::callback))
    .route("/sign-out", web::post().to(sign_in::sign_out))
    .route("/", web::get().to(overview::page))
    .route("/orders", web::get().to(orders::page))
    .route("/orders.csv", web::get().to(orders::csv))
    .route("/orders/{id}", web::get().to(order::page))
    .route("/orders/{id}/refund", web::post().to(order_actions::refund))
    .route("/orders/{id}/cancel", web::post().to(order_actions::cancel))
    .route("/orders/{id}/shipments", web::post().to(order_actions::ship))
    .route(
        "/orders/{id}/shipments/{shipment}/delivered",
        web::post().to(order_actions::delivered),
    )
    .route(
        "/orders/{id}/download-links",
        web::post().to(order_actions::download_links),
    )
    .route("/catalog", web::get().to(catalog::page))
    .route("/catalog/products", web::post().to(catalog::create_product))
    .route("/catalog/variants/{id}", web::post().to(catalog::update_variant))
    .route("/mail", web::get().to(mail::page))
    .route("/dead-letters/{service}/{id}/replay", web::post().to(mail::replay));
}
