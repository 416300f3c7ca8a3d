//! Catalog and configuration: regions, shipping options, products with variants (operators
//! write, everyone in the tenant reads). Inputs arrive validated (`http::catalog` parses them);
//! prices are integer minor units per currency.

use super::{Error, Result};
use crate::store::catalog::{self as store, ProductRow, RegionRow, VariantStock};
use ordo_domain::Currency;
use ordo_domain::checkout::{CountryCode, Sku};
use ordo_domain::order::LineKind;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug)]
pub struct NewRegion {
    pub name: String,
    pub currency: Currency,
    /// 0..=10,000 basis points.
    pub tax_rate_bp: i32,
    /// At least one.
    pub countries: Vec<CountryCode>,
}

pub async fn create_region(conn: &mut PgConnection, tenant: Uuid, r: NewRegion) -> Result<RegionRow> {
    let id = Uuid::now_v7();
    let countries: Vec<String> = r.countries.iter().map(|c| c.as_str().to_owned()).collect();
    store::insert_region(
        conn,
        &store::NewRegion {
            id,
            tenant_id: tenant,
            name: &r.name,
            currency: r.currency.as_str(),
            tax_rate_bp: r.tax_rate_bp,
            countries: &countries,
        },
    )
    .await?;
    store::regions(conn, Some(id))
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("region", id))
}

pub async fn regions(conn: &mut PgConnection) -> Result<Vec<RegionRow>> {
    Ok(store::regions(conn, None).await?)
}

/// A flat-price shipping option, as created.
#[derive(Debug)]
pub struct ShippingOption {
    pub id: Uuid,
    pub region_id: Uuid,
    pub name: String,
    pub price: i64,
}

pub async fn create_shipping_option(
    conn: &mut PgConnection,
    tenant: Uuid,
    region: Uuid,
    name: String,
    price: i64,
) -> Result<ShippingOption> {
    if !store::region_exists(conn, region).await? {
        return Err(Error::invalid("unknown_region", "no such region", "region_id"));
    }
    let id = Uuid::now_v7();
    store::insert_shipping_option(conn, id, tenant, region, &name, price).await?;
    Ok(ShippingOption {
        id,
        region_id: region,
        name,
        price,
    })
}

#[derive(Debug)]
pub struct NewProduct {
    pub title: String,
    pub description: String,
    pub active: bool,
    /// 1 to 100.
    pub variants: Vec<NewVariant>,
}

#[derive(Debug)]
pub struct NewVariant {
    pub sku: Sku,
    pub title: String,
    pub kind: LineKind,
    /// Present exactly for digital variants.
    pub asset_key: Option<String>,
    /// None: unlimited.
    pub inventory: Option<i32>,
    /// One per currency, at least one.
    pub prices: Vec<(Currency, i64)>,
    pub active: bool,
}

pub async fn create_product(conn: &mut PgConnection, tenant: Uuid, p: NewProduct) -> Result<ProductRow> {
    let id = Uuid::now_v7();
    store::insert_product(conn, id, tenant, &p.title, &p.description, p.active).await?;
    for (i, v) in p.variants.iter().enumerate() {
        let vid = Uuid::now_v7();
        let inserted = store::insert_variant(
            conn,
            &store::NewVariant {
                id: vid,
                tenant_id: tenant,
                product_id: id,
                sku: v.sku.as_str(),
                title: &v.title,
                kind: v.kind.as_str(),
                asset_key: v.asset_key.as_deref(),
                inventory: v.inventory,
                active: v.active,
            },
        )
        .await;
        match inserted {
            Err(e) if e.as_database_error().and_then(|d| d.constraint()) == Some(store::SKU_PER_TENANT) => {
                return Err(Error::Conflict {
                    code: "duplicate_sku",
                    message: "a variant with this SKU exists".into(),
                    member: Some(format!("variants/{i}/sku")),
                });
            }
            other => other?,
        }
        for (c, amount) in &v.prices {
            store::insert_price(conn, tenant, vid, c.as_str(), *amount).await?;
        }
    }
    store::products(conn, Some(id), false)
        .await?
        .pop()
        .ok_or_else(|| Error::internal("product vanished"))
}

/// Products, newest first; `for_sale_only` leaves out inactive products and variants.
pub async fn products(conn: &mut PgConnection, for_sale_only: bool) -> Result<Vec<ProductRow>> {
    Ok(store::products(conn, None, for_sale_only).await?)
}

/// Change a variant's inventory (`Some(None)`: unlimited) and/or whether it is for sale.
pub async fn update_variant(
    conn: &mut PgConnection,
    id: Uuid,
    inventory: Option<Option<i32>>,
    active: Option<bool>,
) -> Result<VariantStock> {
    store::update_variant(conn, id, inventory, active)
        .await?
        .ok_or_else(|| Error::not_found("variant", id))
}
