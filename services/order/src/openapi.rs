//! The OpenAPI 3.1 document of the order service, generated from the handlers' annotations and
//! request types, served at `/openapi.json`. A test checks it lists exactly the routes served.

use crate::{carts, catalog, delivery, orders};
use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ordo order service",
        description = "The gateway storefronts and operators call. JSON:API documents (application/vnd.api+json); \
                       every unsafe request takes an Idempotency-Key; errors are JSON:API error documents with stable \
                       codes and a source.pointer naming the offending member. Amounts are integer minor units."
    ),
    paths(
        catalog::create_region, catalog::list_regions, catalog::list_regions_doc, catalog::create_shipping_option,
        catalog::create_product, catalog::list_products, catalog::list_products_doc, catalog::update_variant,
        carts::create_cart, carts::get_cart, carts::update_cart, carts::add_line, carts::update_line, carts::remove_line,
        carts::shipping_options, carts::choose_shipping, carts::payment_session, carts::complete,
        orders::list_mine, orders::get_mine, orders::cancel_mine, orders::list_admin, orders::get_admin,
        orders::cancel_admin, orders::request_refund, orders::stats,
        delivery::links_mine, delivery::links_admin, delivery::create_shipment, delivery::mark_delivered,
    ),
    components(schemas(ordo_http::ErrorDocument)),
    modifiers(&BearerAuth),
    tags(
        (name = "catalog", description = "Regions, shipping options, products and variants"),
        (name = "carts", description = "Carts and checkout (customers)"),
        (name = "orders", description = "Orders (customers and operators)"),
        (name = "delivery", description = "Download links and shipments (answered by the delivery service over NATS)"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The header every unsafe request takes.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(names("Idempotency-Key"), parameter_in = Header)]
pub struct IdempotencyKey(
    /// Unique per unsafe request; the first response is replayed for 24 h.
    #[allow(dead_code)] // documentation only
    String,
);

/// The error answer every operation shares.
#[derive(Debug, utoipa::IntoResponses)]
pub enum ErrorResponses {
    /// JSON:API error with a stable code
    #[response(status = "4XX", content_type = "application/vnd.api+json")]
    Error(ordo_http::ErrorDocument),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document: the generated one plus the dead-letter routes every service serves.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    ordo_runtime::dead_letters::document_in(&mut doc);
    doc
}

/// `GET /openapi.json`
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
