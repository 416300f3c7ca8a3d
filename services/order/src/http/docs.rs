//! What every operation's documentation shares: the API's description and tags, the bearer
//! scheme, the `Idempotency-Key` header and the error answer. A leaf: the resource modules use it,
//! it uses none of them.

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
    /// Unique per unsafe request (1 to 255 characters); the first response is replayed for 24 h.
    #[param(min_length = 1, max_length = 255, pattern = "\\S")]
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
