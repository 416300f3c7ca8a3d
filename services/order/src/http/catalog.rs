//! `/admin/regions`, `/admin/shipping-options`, `/admin/products`, `/admin/variants/{id}` and the
//! customers' `/store/regions`, `/store/products`. Inputs are validated here, once, into the
//! types of [`crate::app::catalog`]; prices are integer minor units per currency.

use super::docs::{ErrorResponses, IdempotencyKey};
use super::idempotency::{self, Reply};
use super::{AppState, endpoints};
use crate::app::catalog::{self, NewProduct, NewRegion, NewVariant};
use crate::store::catalog::{PriceRow, ProductRow, RegionRow, VariantRow};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_domain::Currency;
use ordo_domain::checkout::{CountryCode, Sku};
use ordo_domain::order::LineKind;
use ordo_http::jsonapi::{Document, Input, Resource, parse_input, respond};
use ordo_http::{AdminOnly, ApiError, Authenticated};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

endpoints!(
    create_region,
    list_regions_admin,
    list_regions_store,
    create_shipping_option,
    create_product,
    list_products_admin,
    list_products_store,
    update_variant,
);

fn invalid(code: &'static str, detail: &str, pointer: &str) -> ApiError {
    ApiError::unprocessable(code, detail, Some(pointer))
}

fn currency(raw: &str, pointer: &str) -> Result<Currency, ApiError> {
    Currency::parse(raw).map_err(|e| invalid("invalid_currency", &e.to_string(), pointer))
}

fn amount(raw: i64, pointer: &str) -> Result<i64, ApiError> {
    if (0..=i64::from(u32::MAX) * 100).contains(&raw) {
        Ok(raw)
    } else {
        Err(invalid("invalid_amount", "amounts are minor units, 0 or more", pointer))
    }
}

fn text(raw: &str, field: &str, max: usize) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(invalid(
            "invalid_field",
            &format!("{field} must be 1 to {max} characters"),
            &format!("/data/attributes/{field}"),
        ));
    }
    Ok(t.to_owned())
}

// ---- regions ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionInput {
    /// 1 to 200 characters
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// ISO 4217, e.g. `EUR`
    #[schema(pattern = "^[A-Za-z]{3}$")]
    currency: String,
    /// Basis points: 2000 = 20 %
    #[schema(minimum = 0, maximum = 10000)]
    tax_rate_bp: i64,
    /// ISO 3166-1 alpha-2 codes, at least one
    #[schema(min_items = 1)]
    countries: Vec<String>,
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
    let name = text(&input.name, "name", 200)?;
    let cur = currency(&input.currency, "/data/attributes/currency")?;
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
            CountryCode::parse(c).map_err(|e| invalid(e.code, &e.message, &format!("/data/attributes/countries/{i}")))
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
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let region = region_input(parse_input::<RegionInput>(&body, "regions")?.attributes)?;
    let tenant = who.0.tenant_id;
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
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
    tx.commit().await.map_err(ApiError::database)?;
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
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// Minor units of the region's currency
    #[schema(minimum = 0)]
    price: i64,
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
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = parse_input::<ShippingOptionInput>(&body, "shipping-options")?.attributes;
    let name = text(&input.name, "name", 200)?;
    let price = amount(input.price, "/data/attributes/price")?;
    let tenant = who.0.tenant_id;
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
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

// ---- products and variants -------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    #[schema(pattern = "^[A-Za-z]{3}$")]
    currency: String,
    #[schema(minimum = 0)]
    amount: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    /// 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit; unique in the tenant
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    sku: String,
    #[schema(min_length = 1, max_length = 500)]
    title: String,
    /// `digital` (needs `asset_key`) or `physical` (has none)
    #[schema(pattern = "^(digital|physical)$")]
    kind: String,
    #[serde(default)]
    asset_key: Option<String>,
    /// Omitted or null: unlimited.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2147483647)]
    inventory: Option<i64>,
    /// One per currency, at least one
    #[schema(min_items = 1)]
    prices: Vec<PriceInput>,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    #[schema(min_length = 1, max_length = 500)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    active: bool,
    /// 1 to 100
    #[schema(min_items = 1, max_items = 100)]
    variants: Vec<VariantInput>,
}

fn inventory(raw: Option<i64>, pointer: &str) -> Result<Option<i32>, ApiError> {
    raw.map(|n| {
        i32::try_from(n).ok().filter(|n| *n >= 0).ok_or_else(|| {
            invalid(
                "invalid_inventory",
                "inventory is 0 or more (null = unlimited)",
                pointer,
            )
        })
    })
    .transpose()
}

fn variant(i: usize, v: VariantInput) -> Result<NewVariant, ApiError> {
    let p = |f: &str| format!("/data/attributes/variants/{i}/{f}");
    let sku = Sku::parse(&v.sku).map_err(|e| invalid(e.code, &e.message, &p("sku")))?;
    let title = v.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 500 {
        return Err(invalid(
            "invalid_field",
            "title must be 1 to 500 characters",
            &p("title"),
        ));
    }
    let kind =
        LineKind::parse(&v.kind).ok_or_else(|| invalid("invalid_kind", "kind is digital or physical", &p("kind")))?;
    let asset_key = v.asset_key.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    if (kind == LineKind::Digital) != asset_key.is_some() {
        return Err(invalid(
            "invalid_asset_key",
            "digital variants need an asset_key, physical ones have none",
            &p("asset_key"),
        ));
    }
    if v.prices.is_empty() {
        return Err(invalid("missing_field", "at least one price", &p("prices")));
    }
    let mut prices = Vec::new();
    for (j, price) in v.prices.iter().enumerate() {
        let c = currency(&price.currency, &p(&format!("prices/{j}/currency")))?;
        if prices.iter().any(|(x, _)| *x == c) {
            return Err(invalid(
                "duplicate_currency",
                "one price per currency",
                &p(&format!("prices/{j}")),
            ));
        }
        prices.push((c, amount(price.amount, &p(&format!("prices/{j}/amount")))?));
    }
    Ok(NewVariant {
        sku,
        title,
        kind,
        asset_key,
        inventory: inventory(v.inventory, &p("inventory"))?,
        prices,
        active: v.active,
    })
}

fn product_input(input: ProductInput) -> Result<NewProduct, ApiError> {
    let title = text(&input.title, "title", 500)?;
    if input.variants.is_empty() || input.variants.len() > 100 {
        return Err(invalid(
            "invalid_variants",
            "1 to 100 variants",
            "/data/attributes/variants",
        ));
    }
    let variants = input
        .variants
        .into_iter()
        .enumerate()
        .map(|(i, v)| variant(i, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewProduct {
        title,
        description: input.description,
        active: input.active,
        variants,
    })
}

/// A product as operators see it (stock levels, asset keys, inactive variants).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductOut {
    pub title: String,
    pub description: String,
    pub active: bool,
    pub variants: Vec<VariantOut>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VariantOut {
    pub id: Uuid,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub asset_key: Option<String>,
    /// Null: unlimited.
    pub inventory: Option<i64>,
    pub active: bool,
    pub prices: Vec<PriceOut>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PriceOut {
    pub currency: String,
    pub amount: i64,
}

/// A product as customers see it: variants for sale, whether each is in stock.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreProductOut {
    pub title: String,
    pub description: String,
    pub active: bool,
    pub variants: Vec<StoreVariantOut>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreVariantOut {
    pub id: Uuid,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub active: bool,
    pub in_stock: bool,
    pub prices: Vec<PriceOut>,
}

fn prices(p: Vec<PriceRow>) -> Vec<PriceOut> {
    p.into_iter()
        .map(|p| PriceOut {
            currency: p.currency,
            amount: p.amount,
        })
        .collect()
}

fn product_resource(p: ProductRow) -> Resource<ProductOut> {
    let variants = p
        .variants
        .0
        .into_iter()
        .map(|v: VariantRow| VariantOut {
            id: v.id,
            sku: v.sku,
            title: v.title,
            kind: v.kind,
            asset_key: v.asset_key,
            inventory: v.inventory,
            active: v.active,
            prices: prices(v.prices),
        })
        .collect();
    let out = ProductOut {
        title: p.title,
        description: p.description,
        active: p.active,
        variants,
    };
    Resource::new("products", p.id, out)
}

fn store_product_resource(p: ProductRow) -> Resource<StoreProductOut> {
    let variants = p
        .variants
        .0
        .into_iter()
        .map(|v: VariantRow| StoreVariantOut {
            id: v.id,
            sku: v.sku,
            title: v.title,
            kind: v.kind,
            active: v.active,
            in_stock: v.inventory.is_none_or(|n| n > 0),
            prices: prices(v.prices),
        })
        .collect();
    let out = StoreProductOut {
        title: p.title,
        description: p.description,
        active: p.active,
        variants,
    };
    Resource::new("products", p.id, out)
}

#[utoipa::path(
    post,
    path = "/admin/products",
    tag = "catalog",
    summary = "Create a product with its variants (SKU, kind, asset key, prices per currency, inventory)",
    params(IdempotencyKey),
    request_body(content = Input<ProductInput>, content_type = "application/vnd.api+json"),
    responses(
        (status = 201, description = "The product with its variants", body = Document<Resource<ProductOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn create_product(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let product = product_input(parse_input::<ProductInput>(&body, "products")?.attributes)?;
    let tenant = who.0.tenant_id;
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let p = catalog::create_product(tx, tenant, product).await?;
            let location = format!("/admin/products/{}", p.id);
            Reply::created(&Document::new(product_resource(p)), location)
        })
    })
    .await
}

#[utoipa::path(
    get,
    path = "/admin/products",
    tag = "catalog",
    summary = "List products with stock levels and asset keys (newest first, at most 500)",
    responses(
        (status = 200, description = "Products", body = Document<Vec<Resource<ProductOut>>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn list_products_admin(state: web::Data<AppState>, who: AdminOnly) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(&who.0).await?;
    let products = catalog::products(&mut tx, false).await?;
    tx.commit().await.map_err(ApiError::database)?;
    let data: Vec<_> = products.into_iter().map(product_resource).collect();
    Ok(respond(StatusCode::OK, &Document::new(data)))
}

#[utoipa::path(
    get,
    path = "/store/products",
    tag = "catalog",
    summary = "List the products for sale: active variants and whether each is in stock",
    responses(
        (status = 200, description = "Products", body = Document<Vec<Resource<StoreProductOut>>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn list_products_store(state: web::Data<AppState>, who: Authenticated) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(&who.0).await?;
    let products = catalog::products(&mut tx, true).await?;
    tx.commit().await.map_err(ApiError::database)?;
    let data: Vec<_> = products.into_iter().map(store_product_resource).collect();
    Ok(respond(StatusCode::OK, &Document::new(data)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantPatch {
    /// Absent: unchanged; null: unlimited; a number: that many.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 2147483647)]
    inventory: Option<Option<i64>>,
    #[serde(default)]
    active: Option<bool>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VariantStockOut {
    pub sku: String,
    /// Null: unlimited.
    pub inventory: Option<i32>,
    pub active: bool,
}

#[utoipa::path(
    patch,
    path = "/admin/variants/{id}",
    tag = "catalog",
    summary = "Change a variant's inventory (null = unlimited) or active flag",
    params(("id" = Uuid, Path, description = "the variant id"), IdempotencyKey),
    request_body(content = Input<VariantPatch>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The variant", body = Document<Resource<VariantStockOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn update_variant(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let patch = parse_input::<VariantPatch>(&body, "variants")?.attributes;
    let new_inventory = patch
        .inventory
        .map(|v| inventory(v, "/data/attributes/inventory"))
        .transpose()?;
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let v = catalog::update_variant(tx, id, new_inventory, patch.active).await?;
            let out = VariantStockOut {
                sku: v.sku,
                inventory: v.inventory,
                active: v.active,
            };
            Reply::ok(&Document::new(Resource::new("variants", id, out)))
        })
    })
    .await
}
