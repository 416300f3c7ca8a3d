//! The storefront's pages. GETs are pages; POSTs are forms carrying the guest's CSRF token,
//! answered with a redirect (or, when a form has errors, the same form again with the errors
//! next to their fields and the values kept).

pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod orders;

use crate::AppState;
use actix_web::{HttpResponse, web};
use ordo_web::server::asset;

const CSS: &str = include_str!("../../static/shop.css");
const CHECKOUT_JS: &str = include_str!("../../static/checkout.js");
const ORDER_JS: &str = include_str!("../../static/order.js");

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=300"))
        .json(state.minter.jwks())
}

/// Every route of the storefront.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", web::get().to(jwks))
        .route(
            "/static/shop.css",
            web::get().to(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/static/checkout.js",
            web::get().to(|| async { asset("text/javascript; charset=utf-8", CHECKOUT_JS) }),
        )
        .route(
            "/static/order.js",
            web::get().to(|| async { asset("text/javascript; charset=utf-8", ORDER_JS) }),
        )
        .route("/", web::get().to(catalog::catalog))
        .route("/products/{id}", web::get().to(catalog::product))
        .route("/cart", web::get().to(cart::show))
        .route("/cart/items", web::post().to(cart::add))
        .route("/cart/items/{line}", web::post().to(cart::change))
        .route("/checkout", web::get().to(checkout::details))
        .route("/checkout", web::post().to(checkout::save_details))
        .route("/checkout/payment", web::get().to(checkout::payment))
        .route("/checkout/complete", web::post().to(checkout::complete))
        .route("/checkout/complete", web::get().to(checkout::returned))
        .route("/orders/{id}", web::get().to(orders::show))
        .route("/orders/{id}/status", web::get().to(orders::status))
        .route("/orders/{id}/downloads/{line}", web::get().to(orders::download));
}
