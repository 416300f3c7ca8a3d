//! `/admin/products`, `/admin/variants/{id}` and the customers' `/store/products`: products with
//! variants (SKU, kind, asset, prices per currency, stock). Inputs are validated here, once, into
//! the types of [`crate::app::catalog`]; prices are integer minor units per currency.

use super::docs::{ErrorResponses, IdempotencyKey};
use super::fields::{CurrencyText, SkuText, Text500, Text1024};
use super::idempotency::{self, Key, Reply};
use super::{AppState, endpoints};
use crate::app::catalog::{self, NewProduct, NewVariant};
use crate::store::catalog::{PriceRow, ProductRow, VariantRow};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_domain::checkout::Sku;
use ordo_domain::order::LineKind;
use ordo_http::jsonapi::{Document, Input, Kind, Resource, parse_input, respond, whole, whole_opt};
use ordo_http::{AdminOnly, ApiError, Authenticated};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

endpoints!(create_product, list_products_admin, list_products_store, update_variant);

use super::catalog_fields::{amount, currency, invalid, text};

// ---- products and variants -------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    currency: CurrencyText,
    #[schema(minimum = 0, maximum = 429496729500i64)]
    #[serde(deserialize_with = "whole")]
    amount: i64,
}

/// Whether a variant is downloaded or shipped.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariantKind {
    Digital,
    Physical,
}

/// A variant; `kind` decides whether it has an `asset_key` (its OpenAPI schema, below, says so
/// with one branch per kind).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    kind: VariantKind,
    sku: SkuText,
    title: Text500,
    #[serde(default)]
    asset_key: Option<Text1024>,
    #[serde(default, deserialize_with = "whole_opt")]
    inventory: Option<i64>,
    prices: Vec<PriceInput>,
    #[serde(default = "yes")]
    active: bool,
}

impl utoipa::__dev::ComposeSchema for VariantInput {
    fn compose(_: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        let branch = |kind: &str, description: &str, asset_key: serde_json::Value, required: &[&str]| {
            serde_json::json!({
                "type": "object",
                "description": description,
                "additionalProperties": false,
                "required": required,
                "properties": {
                    "kind": {"type": "string", "enum": [kind]},
                    "sku": {"$ref": "#/components/schemas/SkuText"},
                    "title": {"$ref": "#/components/schemas/Text500"},
                    "asset_key": asset_key,
                    "inventory": {"type": ["integer", "null"], "minimum": 0, "maximum": 2147483647,
                                  "description": "Omitted or null: unlimited."},
                    "prices": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/PriceInput"},
                               "description": "One per currency, at least one"},
                    "active": {"type": "boolean", "description": "Default true."},
                },
            })
        };
        let schema = serde_json::json!({"oneOf": [
            branch("digital", "Delivered as downloads of its asset (`asset_key`: its key in the delivery service's storage).",
                   serde_json::json!({"$ref": "#/components/schemas/Text1024"}), &["kind", "sku", "title", "asset_key", "prices"]),
            branch("physical", "Shipped; it has no asset.", serde_json::json!({"type": "null"}), &["kind", "sku", "title", "prices"]),
        ]});
        serde_json::from_value(schema).unwrap_or_else(|_| RefOr::T(Schema::default()))
    }
}

impl ToSchema for VariantInput {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            ("SkuText", SkuText::schema()),
            ("Text500", Text500::schema()),
            ("Text1024", Text1024::schema()),
            ("PriceInput", PriceInput::schema()),
        ] {
            schemas.push((name.to_owned(), schema));
        }
        <CurrencyText as ToSchema>::schemas(schemas);
        schemas.push(("CurrencyText".to_owned(), CurrencyText::schema()));
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    title: Text500,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    active: bool,
    /// 1 to 100
    #[schema(min_items = 1, max_items = 100)]
    variants: Vec<VariantInput>,
}

impl Kind for ProductInput {
    const KIND: &'static str = "products";
}

fn inventory_of(raw: Option<i64>, pointer: &str) -> Result<Option<i32>, ApiError> {
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
    let (kind, asset_key) = match (v.kind, v.asset_key) {
        (VariantKind::Digital, Some(key)) => (
            LineKind::Digital,
            Some(text(&key.0, "asset_key", 1024, &p("asset_key"))?),
        ),
        (VariantKind::Physical, None) => (LineKind::Physical, None),
        _ => {
            return Err(invalid(
                "invalid_asset_key",
                "digital variants need an asset_key, physical ones have none",
                &p("asset_key"),
            ));
        }
    };
    let (sku, title, inventory, prices, active) = (v.sku, v.title, v.inventory, v.prices, v.active);
    let sku = Sku::parse(&sku.0).map_err(|e| invalid(e.code, &e.message, &p("sku")))?;
    let title = text(&title.0, "title", 500, &p("title"))?;
    if prices.is_empty() {
        return Err(invalid("missing_field", "at least one price", &p("prices")));
    }
    let mut valid_prices = Vec::new();
    for (j, price) in prices.iter().enumerate() {
        let c = currency(&price.currency.0, &p(&format!("prices/{j}/currency")))?;
        if valid_prices.iter().any(|(x, _)| *x == c) {
            return Err(invalid(
                "duplicate_currency",
                "one price per currency",
                &p(&format!("prices/{j}")),
            ));
        }
        valid_prices.push((c, amount(price.amount, &p(&format!("prices/{j}/amount")))?));
    }
    Ok(NewVariant {
        sku,
        title,
        kind,
        asset_key,
        inventory: inventory_of(inventory, &p("inventory"))?,
        prices: valid_prices,
        active,
    })
}

fn product_input(input: ProductInput) -> Result<NewProduct, ApiError> {
    let title = text(&input.title.0, "title", 500, "/data/attributes/title")?;
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
    key: Key,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let product = product_input(parse_input::<ProductInput>(&body)?.attributes)?;
    let tenant = who.0.tenant_id;
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
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
    tx.commit().await?;
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
    tx.commit().await?;
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

impl Kind for VariantPatch {
    const KIND: &'static str = "variants";
}

mod double_option {
    use serde::Deserializer;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        ordo_http::jsonapi::whole_opt(d).map(Some)
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
    key: Key,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let patch = parse_input::<VariantPatch>(&body)?.attributes;
    let new_inventory = patch
        .inventory
        .map(|v| inventory_of(v, "/data/attributes/inventory"))
        .transpose()?;
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
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
