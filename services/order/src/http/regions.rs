//! `/admin/regions`, `/admin/shipping-options` and the customers' `/store/regions`: where a shop
//! sells, in which currency, at which tax rate, with which flat shipping prices. Inputs are
//! validated here, once, into the types of [`crate::app::catalog`].

use super::docs::{ErrorResponses, IdempotencyKey};
use super::fields::{CountryText, CurrencyText, Text200};
use super::idempotency::{self, Key, Reply};
use super::{AppState, endpoints};
use crate::app::catalog::{self, NewRegion};
use crate::store::catalog::RegionRow;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_domain::checkout::CountryCode;
use ordo_http::jsonapi::{Document, Input, Kind, Resource, parse_input, respond, whole};
use ordo_http::{AdminOnly, ApiError, Authenticated};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

endpoints!(
    create_region,
    list_regions_admin,
    list_regions_store,
    create_shipping_option
);

use super::catalog_fields::{amount, currency, invalid, text};

// ---- regions ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionInput {
    name: Text200,
    /// e.g. `EUR`
    currency: CurrencyText,
    /// Basis points: 2000 = 20 %
    #[schema(minimum = 0, maximum = 10000)]
    #[serde(deserialize_with = "whole")]
    tax_rate_bp: i64,
    /// At least one
    #[schema(min_items = 1)]
    countries: Vec<CountryText>,
}

impl Kind for RegionInput {
    const KIND: &'static str = "regions";
}

/// A region with its active shipping options.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegionOut {
    pub name: String,
    pub currency: String,
    pub tax_rate_bp: i32,
    pub countries: Vec<String>,
    pub shipping_options: Vec<RegionShippingOut>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegionShippingOut {
    pub id: Uuid,
    pub name: String,
    pub price: i64,
}

fn region_resource(r: RegionRow) -> Resource<RegionOut> {
    let out = RegionOut {
        name: r.name,
        currency: r.currency,
        tax_rate_bp: r.tax_rate_bp,
        countries: r.countries,
        shipping_options: r
            .options
            .0
            .into_iter()
            .map(|s| RegionShippingOut {
                id: s.id,
                name: s.name,
                price: s.price,
            })
            .collect(),
    };
    Resource::new("regions", r.id, out)
}

fn region_input(input: RegionInput) -> Result<NewRegion, ApiError> {
    let name = text(&input.name.0, "name", 200, "/data/attributes/name")?;
    let cur = currency(&input.currency.0, "/data/attributes/currency")?;
    if !(0..=10_000).contains(&input.tax_rate_bp) {
        return Err(invalid(
            "invalid_tax_rate",
            "tax_rate_bp is basis points, 0 to 10000",
            "/data/attributes/tax_rate_bp",
        ));
    }
    if input.countries.is_empty() {
        return Err(invalid(
            "missing_field",
            "at least one country",
            "/data/attributes/countries",
        ));
    }
    let countries = input
        .countries
        .iter()
        .enumerate()
        .map(|(i, c)| {
            CountryCode::parse(&c.0)
                .map_err(|e| invalid(e.code, &e.message, &format!("/data/attributes/countries/{i}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewRegion {
        name,
        currency: cur,
        tax_rate_bp: i32::try_from(input.tax_rate_bp).map_err(ApiError::internal)?,
        countries,
    })
}

#[utoipa::path(
    post,
    path = "/admin/regions",
    tag = "catalog",
    summary = "Create a region (currency, tax rate in basis points, countries)",
    params(IdempotencyKey),
    request_body(content = Input<RegionInput>, content_type = "application/vnd.api+json"),
    responses(
        (status = 201, description = "The region", body = Document<Resource<RegionOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn create_region(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    key: Key,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let region = region_input(parse_input::<RegionInput>(&body)?.attributes)?;
    let tenant = who.0.tenant_id;
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
        Box::pin(async move {
            let r = catalog::create_region(tx, tenant, region).await?;
            let location = format!("/admin/regions/{}", r.id);
            Reply::created(&Document::new(region_resource(r)), location)
        })
    })
    .await
}

async fn list_regions(state: &AppState, who: &ordo_auth::Principal) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(who).await?;
    let regions = catalog::regions(&mut tx).await?;
    tx.commit().await?;
    let data: Vec<_> = regions.into_iter().map(region_resource).collect();
    Ok(respond(StatusCode::OK, &Document::new(data)))
}

#[utoipa::path(
    get,
    path = "/admin/regions",
    tag = "catalog",
    summary = "List the tenant's active regions with their shipping options",
    responses(
        (status = 200, description = "Regions", body = Document<Vec<Resource<RegionOut>>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn list_regions_admin(state: web::Data<AppState>, who: AdminOnly) -> Result<HttpResponse, ApiError> {
    list_regions(&state, &who.0).await
}

#[utoipa::path(
    get,
    path = "/store/regions",
    tag = "catalog",
    summary = "List the tenant's active regions with their shipping options",
    responses(
        (status = 200, description = "Regions", body = Document<Vec<Resource<RegionOut>>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn list_regions_store(state: web::Data<AppState>, who: Authenticated) -> Result<HttpResponse, ApiError> {
    list_regions(&state, &who.0).await
}

// ---- shipping options ------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingOptionInput {
    region_id: Uuid,
    name: Text200,
    /// Minor units of the region's currency
    #[schema(minimum = 0, maximum = 429496729500i64)]
    #[serde(deserialize_with = "whole")]
    price: i64,
}

impl Kind for ShippingOptionInput {
    const KIND: &'static str = "shipping-options";
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewShippingOptionOut {
    pub region_id: Uuid,
    pub name: String,
    pub price: i64,
}

#[utoipa::path(
    post,
    path = "/admin/shipping-options",
    tag = "catalog",
    summary = "Create a flat-price shipping option in a region (physical lines only)",
    params(IdempotencyKey),
    request_body(content = Input<ShippingOptionInput>, content_type = "application/vnd.api+json"),
    responses(
        (status = 201, description = "The shipping option", body = Document<Resource<NewShippingOptionOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn create_shipping_option(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    key: Key,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = parse_input::<ShippingOptionInput>(&body)?.attributes;
    let name = text(&input.name.0, "name", 200, "/data/attributes/name")?;
    let price = amount(input.price, "/data/attributes/price")?;
    let tenant = who.0.tenant_id;
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
        Box::pin(async move {
            let s = catalog::create_shipping_option(tx, tenant, input.region_id, name, price).await?;
            let out = NewShippingOptionOut {
                region_id: s.region_id,
                name: s.name,
                price: s.price,
            };
            Reply::new(
                StatusCode::CREATED,
                &Document::new(Resource::new("shipping-options", s.id, out)),
            )
        })
    })
    .await
}
