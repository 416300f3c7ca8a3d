//! Catalog and configuration: regions, shipping options, products with variants (admin writes,
//! everyone in the tenant reads). Prices are integer minor units per currency.

use crate::idempotency::{self, Reply};
use crate::{AppState, db_err};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_domain::Currency;
use ordo_domain::checkout::{CountryCode, Sku};
#[allow(unused_imports)]
use ordo_http::jsonapi::Input;
use ordo_http::jsonapi::{Document, Resource, parse_input, respond};
use ordo_http::{AdminOnly, ApiError, Authenticated};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// Handlers served under both `/store/...` and `/admin/...`: the admin path needs the admin role.
fn admin_path_needs_admin(req: &HttpRequest, who: &ordo_auth::Principal) -> Result<(), ApiError> {
    if req.path().starts_with("/admin/") && who.role != ordo_auth::Role::Admin {
        return Err(ApiError::forbidden("admin_only", "this endpoint needs the admin role"));
    }
    Ok(())
}

fn currency(raw: &str, pointer: &str) -> Result<Currency, ApiError> {
    Currency::parse(raw).map_err(|e| ApiError::unprocessable("invalid_currency", &e.to_string(), Some(pointer)))
}

fn amount(raw: i64, pointer: &str) -> Result<i64, ApiError> {
    if (0..=i64::from(u32::MAX) * 100).contains(&raw) {
        Ok(raw)
    } else {
        Err(ApiError::unprocessable(
            "invalid_amount",
            "amounts are minor units, 0 or more",
            Some(pointer),
        ))
    }
}

fn text(raw: &str, field: &str, max: usize) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(ApiError::unprocessable(
            "invalid_field",
            &format!("{field} must be 1 to {max} characters"),
            Some(&format!("/data/attributes/{field}")),
        ));
    }
    Ok(t.to_owned())
}

// ---- regions ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RegionInput {
    name: String,
    currency: String,
    tax_rate_bp: i64,
    countries: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RegionView {
    pub name: String,
    pub currency: String,
    pub tax_rate_bp: i32,
    pub countries: Vec<String>,
    pub shipping_options: Vec<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/admin/regions",
    operation_id = "create_region",
    tag = "catalog",
    summary = "Create a region (currency, tax rate in basis points, countries)",
    params(
        crate::openapi::IdempotencyKey
    ),
    request_body(content = Input<RegionInput>, content_type = "application/vnd.api+json"),
    responses(
        (status = 201, description = "The region", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create_region(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = parse_input::<RegionInput>(&body, "regions")?.attributes;
    let name = text(&input.name, "name", 200)?;
    let cur = currency(&input.currency, "/data/attributes/currency")?;
    if !(0..=10_000).contains(&input.tax_rate_bp) {
        return Err(ApiError::unprocessable(
            "invalid_tax_rate",
            "tax_rate_bp is basis points, 0 to 10000",
            Some("/data/attributes/tax_rate_bp"),
        ));
    }
    if input.countries.is_empty() {
        return Err(ApiError::unprocessable(
            "missing_field",
            "at least one country",
            Some("/data/attributes/countries"),
        ));
    }
    let mut countries = Vec::new();
    for (i, c) in input.countries.iter().enumerate() {
        let c = CountryCode::parse(c).map_err(|e| {
            ApiError::unprocessable(e.code, &e.message, Some(&format!("/data/attributes/countries/{i}")))
        })?;
        countries.push(c.as_str().to_owned());
    }
    let tenant = who.0.tenant_id;
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let id = Uuid::now_v7();
            sqlx::query(
                "insert into orders.regions (id, tenant_id, name, currency, tax_rate_bp, countries) values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(tenant)
            .bind(&name)
            .bind(cur.as_str())
            .bind(input.tax_rate_bp as i32)
            .bind(&countries)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            let doc = region_doc(tx, id).await?;
            Ok(Reply { status: StatusCode::CREATED, body: doc, location: Some(format!("/admin/regions/{id}")) })
        })
    })
    .await
}

pub(crate) async fn region_doc(conn: &mut PgConnection, id: Uuid) -> Result<serde_json::Value, ApiError> {
    let regions = load_regions(conn, Some(id)).await?;
    let r = regions
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("region", &id.to_string()))?;
    Ok(json!(Document::new(r)))
}

pub(crate) async fn load_regions(
    conn: &mut PgConnection,
    only: Option<Uuid>,
) -> Result<Vec<Resource<RegionView>>, ApiError> {
    let rows = sqlx::query(
        "select r.id, r.name, r.currency, r.tax_rate_bp, r.countries,
                coalesce(jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'price', s.price))
                         filter (where s.id is not null and s.active), '[]') as options
         from orders.regions r left join orders.shipping_options s on s.region_id = r.id
         where r.active and ($1::uuid is null or r.id = $1)
         group by r.id order by r.created_at",
    )
    .bind(only)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    rows.into_iter()
        .map(|row| {
            let id: Uuid = row.try_get("id").map_err(db_err)?;
            let options: serde_json::Value = row.try_get("options").map_err(db_err)?;
            Ok(Resource {
                kind: "regions",
                id: id.to_string(),
                attributes: RegionView {
                    name: row.try_get("name").map_err(db_err)?,
                    currency: row.try_get("currency").map_err(db_err)?,
                    tax_rate_bp: row.try_get("tax_rate_bp").map_err(db_err)?,
                    countries: row.try_get("countries").map_err(db_err)?,
                    shipping_options: options.as_array().cloned().unwrap_or_default(),
                },
            })
        })
        .collect()
}

#[utoipa::path(
    get,
    path = "/admin/regions",
    operation_id = "list_regions_admin",
    tag = "catalog",
    summary = "List the tenant's active regions with their shipping options",
    responses(
        (status = 200, description = "Regions", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_regions(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    admin_path_needs_admin(&req, &who.0)?;
    let mut tx = state.begin(&who.0).await?;
    let regions = load_regions(&mut tx, None).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(respond(StatusCode::OK, &Document::new(regions)))
}

// ---- shipping options ------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ShippingOptionInput {
    region_id: Uuid,
    name: String,
    price: i64,
}

#[utoipa::path(
    post,
    path = "/admin/shipping-options",
    operation_id = "create_shipping_option",
    tag = "catalog",
    summary = "Create a flat-price shipping option in a region (physical lines only)",
    params(
        crate::openapi::IdempotencyKey
    ),
    request_body(content = Input<ShippingOptionInput>, content_type = "application/vnd.api+json"),
    responses(
        (status = 201, description = "The shipping option", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create_shipping_option(
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
            let region: Option<Uuid> = sqlx::query_scalar("select id from orders.regions where id = $1")
                .bind(input.region_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
            if region.is_none() {
                return Err(ApiError::unprocessable(
                    "unknown_region",
                    "no such region",
                    Some("/data/attributes/region_id"),
                ));
            }
            let id = Uuid::now_v7();
            sqlx::query(
                "insert into orders.shipping_options (id, tenant_id, region_id, name, price) values ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(tenant)
            .bind(input.region_id)
            .bind(&name)
            .bind(price)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            let doc = json!({"data": {"type": "shipping-options", "id": id,
                "attributes": {"region_id": input.region_id, "name": name, "price": price}}});
            Ok(Reply::new(StatusCode::CREATED, doc))
        })
    })
    .await
}

// ---- products and variants -------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PriceInput {
    currency: String,
    amount: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VariantInput {
    sku: String,
    title: String,
    kind: String,
    #[serde(default)]
    asset_key: Option<String>,
    /// Omitted or null: unlimited.
    #[serde(default)]
    inventory: Option<i64>,
    prices: Vec<PriceInput>,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ProductInput {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    active: bool,
    variants: Vec<VariantInput>,
}

struct ValidVariant {
    sku: Sku,
    title: String,
    kind: &'static str,
    asset_key: Option<String>,
    inventory: Option<i32>,
    prices: Vec<(Currency, i64)>,
    active: bool,
}

fn validate_inventory(raw: Option<i64>, pointer: &str) -> Result<Option<i32>, ApiError> {
    raw.map(|n| {
        i32::try_from(n).ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_inventory",
                "inventory is 0 or more (null = unlimited)",
                Some(pointer),
            )
        })
    })
    .transpose()
}

fn validate_variant(i: usize, v: VariantInput) -> Result<ValidVariant, ApiError> {
    let p = |f: &str| format!("/data/attributes/variants/{i}/{f}");
    let sku = Sku::parse(&v.sku).map_err(|e| ApiError::unprocessable(e.code, &e.message, Some(&p("sku"))))?;
    let title = v.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 500 {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "title must be 1 to 500 characters",
            Some(&p("title")),
        ));
    }
    let kind = match v.kind.as_str() {
        "digital" => "digital",
        "physical" => "physical",
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_kind",
                "kind is digital or physical",
                Some(&p("kind")),
            ));
        }
    };
    let asset_key = v.asset_key.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    if (kind == "digital") != asset_key.is_some() {
        return Err(ApiError::unprocessable(
            "invalid_asset_key",
            "digital variants need an asset_key, physical ones have none",
            Some(&p("asset_key")),
        ));
    }
    if v.prices.is_empty() {
        return Err(ApiError::unprocessable(
            "missing_field",
            "at least one price",
            Some(&p("prices")),
        ));
    }
    let mut prices = Vec::new();
    for (j, price) in v.prices.iter().enumerate() {
        let c = currency(&price.currency, &p(&format!("prices/{j}/currency")))?;
        if prices.iter().any(|(x, _)| *x == c) {
            return Err(ApiError::unprocessable(
                "duplicate_currency",
                "one price per currency",
                Some(&p(&format!("prices/{j}"))),
            ));
        }
        prices.push((c, amount(price.amount, &p(&format!("prices/{j}/amount")))?));
    }
    Ok(ValidVariant {
        sku,
        title,
        kind,
        asset_key,
        inventory: validate_inventory(v.inventory, &p("inventory"))?,
        prices,
        active: v.active,
    })
}

#[utoipa::path(
    post,
    path = "/admin/products",
    operation_id = "create_product",
    tag = "catalog",
    summary = "Create a product with its variants (SKU, kind, asset key, prices per currency, inventory)",
    params(
        crate::openapi::IdempotencyKey
    ),
    request_body(content = Input<ProductInput>, content_type = "application/vnd.api+json"),
    responses(
        (status = 201, description = "The product with its variants", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create_product(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = parse_input::<ProductInput>(&body, "products")?.attributes;
    let title = text(&input.title, "title", 500)?;
    if input.variants.is_empty() || input.variants.len() > 100 {
        return Err(ApiError::unprocessable(
            "invalid_variants",
            "1 to 100 variants",
            Some("/data/attributes/variants"),
        ));
    }
    let variants = input
        .variants
        .into_iter()
        .enumerate()
        .map(|(i, v)| validate_variant(i, v))
        .collect::<Result<Vec<_>, _>>()?;
    let (description, active, tenant) = (input.description, input.active, who.0.tenant_id);
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let id = Uuid::now_v7();
            sqlx::query("insert into orders.products (id, tenant_id, title, description, active) values ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(tenant)
                .bind(&title)
                .bind(&description)
                .bind(active)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            for (i, v) in variants.iter().enumerate() {
                let vid = Uuid::now_v7();
                let r = sqlx::query(
                    "insert into orders.variants (id, tenant_id, product_id, sku, title, kind, asset_key, inventory, active)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(vid)
                .bind(tenant)
                .bind(id)
                .bind(v.sku.as_str())
                .bind(&v.title)
                .bind(v.kind)
                .bind(&v.asset_key)
                .bind(v.inventory)
                .bind(v.active)
                .execute(&mut **tx)
                .await;
                if let Err(e) = r {
                    if e.as_database_error().and_then(|d| d.constraint()) == Some("variants_sku_per_tenant") {
                        return Err(ApiError::conflict("duplicate_sku", "a variant with this SKU exists")
                            .with_pointer(&format!("/data/attributes/variants/{i}/sku")));
                    }
                    return Err(db_err(e));
                }
                for (c, a) in &v.prices {
                    sqlx::query("insert into orders.variant_prices (tenant_id, variant_id, currency, amount) values ($1, $2, $3, $4)")
                        .bind(tenant)
                        .bind(vid)
                        .bind(c.as_str())
                        .bind(a)
                        .execute(&mut **tx)
                        .await
                        .map_err(db_err)?;
                }
            }
            let mut docs = load_products(tx, Some(id), false).await?;
            let doc = docs.pop().ok_or_else(|| ApiError::internal("product vanished"))?;
            Ok(Reply { status: StatusCode::CREATED, body: json!(Document::new(doc)), location: Some(format!("/admin/products/{id}")) })
        })
    })
    .await
}

pub(crate) async fn load_products(
    conn: &mut PgConnection,
    only: Option<Uuid>,
    active_only: bool,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let rows = sqlx::query(
        "select p.id, p.title, p.description, p.active,
                coalesce((select jsonb_agg(jsonb_build_object(
                    'id', v.id, 'sku', v.sku, 'title', v.title, 'kind', v.kind, 'asset_key', v.asset_key,
                    'inventory', v.inventory, 'active', v.active,
                    'prices', coalesce((select jsonb_agg(jsonb_build_object('currency', vp.currency, 'amount', vp.amount)
                                        order by vp.currency) from orders.variant_prices vp where vp.variant_id = v.id), '[]'))
                    order by v.created_at)
                  from orders.variants v where v.product_id = p.id and (not $2 or v.active)), '[]') as variants
         from orders.products p
         where ($1::uuid is null or p.id = $1) and (not $2 or p.active)
         order by p.created_at desc limit 500",
    )
    .bind(only)
    .bind(active_only)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    rows.into_iter()
        .map(|row| {
            let id: Uuid = row.try_get("id").map_err(db_err)?;
            let mut variants: serde_json::Value = row.try_get("variants").map_err(db_err)?;
            if active_only {
                // Customers see whether something is in stock, not the stock level or asset keys.
                if let Some(vs) = variants.as_array_mut() {
                    for v in vs {
                        let in_stock = v["inventory"].as_i64().is_none_or(|n| n > 0);
                        if let Some(o) = v.as_object_mut() {
                            o.remove("inventory");
                            o.remove("asset_key");
                            o.insert("in_stock".into(), json!(in_stock));
                        }
                    }
                }
            }
            Ok(json!({"type": "products", "id": id, "attributes": {
                "title": row.try_get::<String, _>("title").map_err(db_err)?,
                "description": row.try_get::<String, _>("description").map_err(db_err)?,
                "active": row.try_get::<bool, _>("active").map_err(db_err)?,
                "variants": variants,
            }}))
        })
        .collect()
}

#[utoipa::path(
    get,
    path = "/admin/products",
    operation_id = "list_products_admin",
    tag = "catalog",
    summary = "List products",
    description = "List products. Operators see stock levels and asset keys; customers see active items and in_stock only.",
    responses(
        (status = 200, description = "Products", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_products(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    admin_path_needs_admin(&req, &who.0)?;
    let admin = req.path().starts_with("/admin/");
    let mut tx = state.begin(&who.0).await?;
    let products = load_products(&mut tx, None, !admin).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(respond(StatusCode::OK, &Document::new(products)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VariantPatch {
    /// Absent: unchanged; null: unlimited; a number: that many.
    #[serde(default, with = "double_option")]
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

#[utoipa::path(
    patch,
    path = "/admin/variants/{id}",
    operation_id = "update_variant",
    tag = "catalog",
    summary = "Change a variant's inventory (null = unlimited) or active flag",
    params(
        ("id" = Uuid, Path, description = "the id"),
        crate::openapi::IdempotencyKey
    ),
    request_body(content = Input<VariantPatch>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The variant", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn update_variant(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: AdminOnly,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let patch = parse_input::<VariantPatch>(&body, "variants")?.attributes;
    let inventory = match patch.inventory {
        Some(v) => Some(validate_inventory(v, "/data/attributes/inventory")?),
        None => None,
    };
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let row = sqlx::query(
                "update orders.variants set
                    inventory = case when $2 then $3 else inventory end,
                    active = coalesce($4, active)
                 where id = $1 returning id, sku, inventory, active",
            )
            .bind(id)
            .bind(inventory.is_some())
            .bind(inventory.flatten())
            .bind(patch.active)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| ApiError::not_found("variant", &id.to_string()))?;
            let doc = json!({"data": {"type": "variants", "id": id, "attributes": {
                "sku": row.try_get::<String, _>("sku").map_err(db_err)?,
                "inventory": row.try_get::<Option<i32>, _>("inventory").map_err(db_err)?,
                "active": row.try_get::<bool, _>("active").map_err(db_err)?,
            }}});
            Ok(Reply::new(StatusCode::OK, doc))
        })
    })
    .await
}

/// Documentation of `/store/regions` (served by [`list_regions`]).
#[allow(dead_code)]
#[utoipa::path(
    get,
    path = "/store/regions",
    operation_id = "list_regions_store",
    tag = "catalog",
    summary = "List the tenant's active regions with their shipping options",
    responses(
        (status = 200, description = "Regions", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) fn list_regions_doc() {}

/// Documentation of `/store/products` (served by [`list_products`]).
#[allow(dead_code)]
#[utoipa::path(
    get,
    path = "/store/products",
    operation_id = "list_products_store",
    tag = "catalog",
    summary = "List products",
    description = "List products. Operators see stock levels and asset keys; customers see active items and in_stock only.",
    responses(
        (status = 200, description = "Products", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) fn list_products_doc() {}
