//! `orders.carts` and `orders.cart_lines`.

use serde::Deserialize;
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// A cart with its region's tax rate and countries and its chosen shipping option.
#[derive(Debug, sqlx::FromRow)]
pub struct CartRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: String,
    pub region_id: Uuid,
    pub currency: String,
    pub email: Option<String>,
    pub shipping_address: Option<Value>,
    pub billing_address: Option<Value>,
    pub shipping_option_id: Option<Uuid>,
    pub shipping_name: Option<String>,
    pub shipping_price: Option<i64>,
    pub status: String,
    /// Open, but idle for longer than the configured time.
    pub idle: bool,
    pub tax_rate_bp: i32,
    pub countries: Vec<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub payment_intent_id: Option<String>,
    pub payment_amount: Option<i64>,
    /// Its lines in the order they were added.
    pub lines: Json<Vec<LineRow>>,
}

/// A cart line with what the catalog says about its variant in the cart's currency.
#[derive(Debug, Deserialize)]
pub struct LineRow {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub quantity: i32,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub asset_key: Option<String>,
    pub available: bool,
    /// The variant's price in the cart's currency, if it has one.
    pub amount: Option<i64>,
}

/// The cart `id` visible to the current scope, with its lines, in one round trip; `lock` takes
/// its row lock (`FOR UPDATE`) in the same statement.
///
/// A statement that waited for the lock reads the locked cart row as its holder committed it,
/// but everything else — the lines — as of before its wait. Every change to a cart's lines also
/// updates its row, so the statement compares the row version it locked with the one its
/// snapshot sees: when they differ, the lines may be stale and are read again (the lock is held
/// now). See `a_completion_waiting_for_the_cart_sees_what_the_lock_holder_committed`.
pub async fn find(
    conn: &mut PgConnection,
    id: Uuid,
    idle_secs: u64,
    lock: bool,
) -> Result<Option<CartRow>, sqlx::Error> {
    let sql = if lock { FIND_LOCKED } else { FIND };
    let found: Option<Found> = sqlx::query_as(sql)
        .bind(id)
        .bind(idle_secs as f64)
        .fetch_optional(&mut *conn)
        .await?;
    match found {
        Some(Found { fresh: false, .. }) => {
            sqlx::query_as(FIND)
                .bind(id)
                .bind(idle_secs as f64)
                .fetch_optional(conn)
                .await
        }
        found => Ok(found.map(|f| f.row)),
    }
}

#[derive(sqlx::FromRow)]
struct Found {
    #[sqlx(flatten)]
    row: CartRow,
    /// The row version locked is the one the statement's snapshot sees.
    fresh: bool,
}

macro_rules! find_sql {
    ($fresh:literal, $lock:literal) => {
        concat!(
            "select c.id, c.tenant_id, c.customer_id, c.region_id, c.currency, c.email, c.shipping_address,
                c.billing_address, c.shipping_option_id, s.name as shipping_name, s.price as shipping_price, c.status,
                (c.status = 'open' and c.updated_at < now() - make_interval(secs => $2)) as idle,
                r.tax_rate_bp, r.countries, c.created_at, c.updated_at, c.payment_intent_id, c.payment_amount,
                (select coalesce(json_agg(json_build_object('id', l.id, 'variant_id', l.variant_id,
                        'quantity', l.quantity, 'sku', v.sku, 'title', v.title, 'kind', v.kind,
                        'asset_key', v.asset_key, 'available', v.active and p.active, 'amount', vp.amount)
                        order by l.created_at, l.id), '[]')
                 from orders.cart_lines l
                 join orders.variants v on v.id = l.variant_id
                 join orders.products p on p.id = v.product_id
                 left join orders.variant_prices vp on vp.variant_id = v.id and vp.currency = c.currency
                 where l.cart_id = c.id) as lines, ",
            $fresh,
            " as fresh
         from orders.carts c
         join orders.regions r on r.id = c.region_id
         left join orders.shipping_options s on s.id = c.shipping_option_id
         where c.id = $1",
            $lock
        )
    };
}

const FIND: &str = find_sql!("true", "");
const FIND_LOCKED: &str = find_sql!(
    "c.xmin::text = (select c2.xmin::text from orders.carts c2 where c2.id = c.id)",
    " for update of c"
);

#[derive(Debug)]
pub struct NewCart<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: &'a str,
    pub region_id: Uuid,
    pub currency: &'a str,
    pub email: Option<&'a str>,
}

/// Insert a cart; its `created_at` (= `updated_at`).
pub async fn insert(conn: &mut PgConnection, c: &NewCart<'_>) -> Result<OffsetDateTime, sqlx::Error> {
    sqlx::query_scalar(
        "insert into orders.carts (id, tenant_id, customer_id, region_id, currency, email) values ($1, $2, $3, $4, $5, $6)
         returning created_at",
    )
    .bind(c.id)
    .bind(c.tenant_id)
    .bind(c.customer_id)
    .bind(c.region_id)
    .bind(c.currency)
    .bind(c.email)
    .fetch_one(conn)
    .await
}

/// Set whichever of e-mail and addresses is given; the cart's new `updated_at`.
pub async fn set_contact(
    conn: &mut PgConnection,
    id: Uuid,
    email: Option<&str>,
    shipping: Option<&Value>,
    billing: Option<&Value>,
) -> Result<OffsetDateTime, sqlx::Error> {
    sqlx::query_scalar(
        "update orders.carts set email = coalesce($2, email), shipping_address = coalesce($3, shipping_address),
                billing_address = coalesce($4, billing_address), updated_at = now() where id = $1
         returning updated_at",
    )
    .bind(id)
    .bind(email)
    .bind(shipping)
    .bind(billing)
    .fetch_one(conn)
    .await
}

/// Add a line or, for a variant already in the cart, set its quantity; the cart counts as
/// touched (`updated_at`), in the same statement. The line's id and the cart's new `updated_at`.
pub async fn put_line(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer: &str,
    cart: Uuid,
    variant: Uuid,
    quantity: i32,
) -> Result<(Uuid, OffsetDateTime), sqlx::Error> {
    sqlx::query_as(
        "with touched as (update orders.carts set updated_at = now() where id = $4 returning updated_at)
         insert into orders.cart_lines (id, tenant_id, customer_id, cart_id, variant_id, quantity)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (cart_id, variant_id) do update set quantity = excluded.quantity
         returning id, (select updated_at from touched)",
    )
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(customer)
    .bind(cart)
    .bind(variant)
    .bind(quantity)
    .fetch_one(conn)
    .await
}

/// Returns whether the line exists.
pub async fn set_line_quantity(
    conn: &mut PgConnection,
    cart: Uuid,
    line: Uuid,
    quantity: i32,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("update orders.cart_lines set quantity = $3 where id = $2 and cart_id = $1")
        .bind(cart)
        .bind(line)
        .bind(quantity)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Returns whether the line existed.
pub async fn delete_line(conn: &mut PgConnection, cart: Uuid, line: Uuid) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("delete from orders.cart_lines where id = $2 and cart_id = $1")
        .bind(cart)
        .bind(line)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n > 0)
}

pub async fn touch(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update orders.carts set updated_at = now() where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Choose the cart's shipping option; its new `updated_at`.
pub async fn set_shipping_option(
    conn: &mut PgConnection,
    id: Uuid,
    option: Uuid,
) -> Result<OffsetDateTime, sqlx::Error> {
    sqlx::query_scalar(
        "update orders.carts set shipping_option_id = $2, updated_at = now() where id = $1 returning updated_at",
    )
    .bind(id)
    .bind(option)
    .fetch_one(conn)
    .await
}

/// Remember the cart's PaymentIntent and the amount its session was last set to.
pub async fn set_payment(
    conn: &mut PgConnection,
    id: Uuid,
    payment_intent: &str,
    amount: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update orders.carts set payment_intent_id = $2, payment_amount = $3 where id = $1")
        .bind(id)
        .bind(payment_intent)
        .bind(amount)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_status(conn: &mut PgConnection, id: Uuid, status: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update orders.carts set status = $2, updated_at = now(),
                completed_at = case when $2 = 'completed' then now() else completed_at end
         where id = $1",
    )
    .bind(id)
    .bind(status)
    .execute(conn)
    .await?;
    Ok(())
}

/// The status of the cart whose session is PaymentIntent `pi`.
pub async fn status_by_payment_intent(conn: &mut PgConnection, pi: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select status from orders.carts where payment_intent_id = $1")
        .bind(pi)
        .fetch_optional(conn)
        .await
}
