//! Regions, shipping options, products, variants, prices and stock.

use serde::Deserialize;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

// ---- regions and shipping options ----------------------------------------------------------------

#[derive(Debug, sqlx::FromRow)]
pub struct RegionRow {
    pub id: Uuid,
    pub name: String,
    pub currency: String,
    pub tax_rate_bp: i32,
    pub countries: Vec<String>,
    /// Its active shipping options.
    pub options: Json<Vec<ShippingOptionRow>>,
}

#[derive(Debug, Clone, Deserialize, sqlx::FromRow)]
pub struct ShippingOptionRow {
    pub id: Uuid,
    pub name: String,
    pub price: i64,
}

#[derive(Debug)]
pub struct NewRegion<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub currency: &'a str,
    pub tax_rate_bp: i32,
    pub countries: &'a [String],
}

pub async fn insert_region(conn: &mut PgConnection, r: &NewRegion<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into orders.regions (id, tenant_id, name, currency, tax_rate_bp, countries) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(r.id)
    .bind(r.tenant_id)
    .bind(r.name)
    .bind(r.currency)
    .bind(r.tax_rate_bp)
    .bind(r.countries)
    .execute(conn)
    .await?;
    Ok(())
}

/// Active regions (or only `only`), oldest first, each with its active shipping options.
pub async fn regions(conn: &mut PgConnection, only: Option<Uuid>) -> Result<Vec<RegionRow>, sqlx::Error> {
    sqlx::query_as(
        "select r.id, r.name, r.currency, r.tax_rate_bp, r.countries,
                coalesce(jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'price', s.price))
                         filter (where s.id is not null and s.active), '[]') as options
         from orders.regions r left join orders.shipping_options s on s.region_id = r.id
         where r.active and ($1::uuid is null or r.id = $1)
         group by r.id order by r.created_at",
    )
    .bind(only)
    .fetch_all(conn)
    .await
}

/// What a cart takes from its region.
#[derive(Debug, sqlx::FromRow)]
pub struct RegionTerms {
    pub currency: String,
    pub tax_rate_bp: i32,
    pub countries: Vec<String>,
}

/// The terms of an active region.
pub async fn region_terms(conn: &mut PgConnection, region: Uuid) -> Result<Option<RegionTerms>, sqlx::Error> {
    sqlx::query_as("select currency, tax_rate_bp, countries from orders.regions where id = $1 and active")
        .bind(region)
        .fetch_optional(conn)
        .await
}

pub async fn region_exists(conn: &mut PgConnection, region: Uuid) -> Result<bool, sqlx::Error> {
    let found: Option<Uuid> = sqlx::query_scalar("select id from orders.regions where id = $1")
        .bind(region)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

pub async fn insert_shipping_option(
    conn: &mut PgConnection,
    id: Uuid,
    tenant: Uuid,
    region: Uuid,
    name: &str,
    price: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into orders.shipping_options (id, tenant_id, region_id, name, price) values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(tenant)
    .bind(region)
    .bind(name)
    .bind(price)
    .execute(conn)
    .await?;
    Ok(())
}

/// A region's active shipping options, cheapest first.
pub async fn shipping_options(conn: &mut PgConnection, region: Uuid) -> Result<Vec<ShippingOptionRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, name, price from orders.shipping_options where region_id = $1 and active order by price, name",
    )
    .bind(region)
    .fetch_all(conn)
    .await
}

/// The active shipping option `option` of `region`.
pub async fn shipping_option_in_region(
    conn: &mut PgConnection,
    option: Uuid,
    region: Uuid,
) -> Result<Option<ShippingOptionRow>, sqlx::Error> {
    sqlx::query_as("select id, name, price from orders.shipping_options where id = $1 and region_id = $2 and active")
        .bind(option)
        .bind(region)
        .fetch_optional(conn)
        .await
}

// ---- products and variants ------------------------------------------------------------------------

#[derive(Debug, sqlx::FromRow)]
pub struct ProductRow {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub active: bool,
    pub variants: Json<Vec<VariantRow>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VariantRow {
    pub id: Uuid,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub asset_key: Option<String>,
    pub inventory: Option<i64>,
    pub active: bool,
    pub prices: Vec<PriceRow>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PriceRow {
    pub currency: String,
    pub amount: i64,
}

pub async fn insert_product(
    conn: &mut PgConnection,
    id: Uuid,
    tenant: Uuid,
    title: &str,
    description: &str,
    active: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into orders.products (id, tenant_id, title, description, active) values ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(tenant)
        .bind(title)
        .bind(description)
        .bind(active)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug)]
pub struct NewVariant<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub product_id: Uuid,
    pub sku: &'a str,
    pub title: &'a str,
    pub kind: &'a str,
    pub asset_key: Option<&'a str>,
    pub inventory: Option<i32>,
    pub active: bool,
}

/// The unique constraint a second variant with the same SKU in a tenant violates.
pub const SKU_PER_TENANT: &str = "variants_sku_per_tenant";

pub async fn insert_variant(conn: &mut PgConnection, v: &NewVariant<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into orders.variants (id, tenant_id, product_id, sku, title, kind, asset_key, inventory, active)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(v.id)
    .bind(v.tenant_id)
    .bind(v.product_id)
    .bind(v.sku)
    .bind(v.title)
    .bind(v.kind)
    .bind(v.asset_key)
    .bind(v.inventory)
    .bind(v.active)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_price(
    conn: &mut PgConnection,
    tenant: Uuid,
    variant: Uuid,
    currency: &str,
    amount: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into orders.variant_prices (tenant_id, variant_id, currency, amount) values ($1, $2, $3, $4)")
        .bind(tenant)
        .bind(variant)
        .bind(currency)
        .bind(amount)
        .execute(conn)
        .await?;
    Ok(())
}

/// Products (or only `only`), newest first, at most 500, with variants and prices;
/// `active_only` leaves out inactive products and variants.
pub async fn products(
    conn: &mut PgConnection,
    only: Option<Uuid>,
    active_only: bool,
) -> Result<Vec<ProductRow>, sqlx::Error> {
    sqlx::query_as(
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
    .fetch_all(conn)
    .await
}

/// What a cart may know about a variant in its currency.
#[derive(Debug, sqlx::FromRow)]
pub struct Offer {
    /// The variant and its product are for sale.
    pub active: bool,
    /// Its price in the currency, if it has one.
    pub amount: Option<i64>,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub asset_key: Option<String>,
}

pub async fn offer(conn: &mut PgConnection, variant: Uuid, currency: &str) -> Result<Option<Offer>, sqlx::Error> {
    sqlx::query_as(
        "select (v.active and p.active) as active, vp.amount, v.sku, v.title, v.kind, v.asset_key
         from orders.variants v join orders.products p on p.id = v.product_id
         left join orders.variant_prices vp on vp.variant_id = v.id and vp.currency = $2
         where v.id = $1",
    )
    .bind(variant)
    .bind(currency)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct VariantStock {
    pub sku: String,
    pub inventory: Option<i32>,
    pub active: bool,
}

/// Change a variant's inventory (`Some(None)`: unlimited) and/or active flag.
pub async fn update_variant(
    conn: &mut PgConnection,
    id: Uuid,
    inventory: Option<Option<i32>>,
    active: Option<bool>,
) -> Result<Option<VariantStock>, sqlx::Error> {
    sqlx::query_as(
        "update orders.variants set
            inventory = case when $2 then $3 else inventory end,
            active = coalesce($4, active)
         where id = $1 returning sku, inventory, active",
    )
    .bind(id)
    .bind(inventory.is_some())
    .bind(inventory.flatten())
    .bind(active)
    .fetch_optional(conn)
    .await
}

// ---- stock ------------------------------------------------------------------------------------------

/// Take `quantity` of a variant if that much is in stock (or stock is unlimited); returns
/// whether it was taken. Never goes below zero.
pub async fn take_stock(conn: &mut PgConnection, variant: Uuid, quantity: i32) -> Result<bool, sqlx::Error> {
    let taken: Option<Uuid> = sqlx::query_scalar(
        "update orders.variants set inventory = inventory - $2
         where id = $1 and (inventory is null or inventory >= $2) returning id",
    )
    .bind(variant)
    .bind(quantity)
    .fetch_optional(conn)
    .await?;
    Ok(taken.is_some())
}

/// Take whatever stock is left of a variant; returns how much that was.
pub async fn take_rest(conn: &mut PgConnection, variant: Uuid) -> Result<i32, sqlx::Error> {
    let left: Option<Option<i32>> = sqlx::query_scalar(
        "update orders.variants v set inventory = 0
         from (select inventory from orders.variants where id = $1 for update) old
         where v.id = $1 returning old.inventory",
    )
    .bind(variant)
    .fetch_optional(conn)
    .await?;
    Ok(left.flatten().unwrap_or(0))
}

/// Give an order's reserved stock back.
pub async fn release_order_stock(conn: &mut PgConnection, order: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update orders.variants v set inventory = v.inventory + l.qty
         from (select variant_id, sum(coalesce(reserved, quantity))::int as qty from orders.order_lines
               where order_id = $1 group by variant_id) l
         where v.id = l.variant_id and v.inventory is not null",
    )
    .bind(order)
    .execute(conn)
    .await?;
    Ok(())
}
