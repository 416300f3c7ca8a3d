//! `orders.orders`, `orders.order_lines`, `orders.order_state_history`, the per-tenant order
//! numbers and `orders.refund_requests`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

/// An order row (without lines and history).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: String,
    pub cart_id: Uuid,
    pub number: i64,
    pub email: String,
    pub currency: String,
    pub status: String,
    pub payment_status: String,
    pub fulfillment_status: String,
    pub subtotal: i64,
    pub shipping_total: i64,
    pub tax_total: i64,
    pub total: i64,
    pub captured_amount: Option<i64>,
    pub refunded_amount: i64,
    pub failed_payment_attempts: i32,
    pub payment_intent_id: Option<String>,
    pub version: i64,
    pub shipping_address: Option<Value>,
    pub billing_address: Option<Value>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A line as the state machine and the events need it.
#[derive(Debug, Clone, Deserialize)]
pub struct LineRow {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub asset_key: Option<String>,
    pub quantity: i32,
    pub unit_price: i64,
    pub subtotal: i64,
    pub tax: i64,
    pub fulfilled: bool,
    pub delivered: bool,
}

/// An order with its lines and state history, as the order document shows them.
#[derive(Debug, sqlx::FromRow)]
pub struct OrderDocRow {
    #[sqlx(flatten)]
    pub order: OrderRow,
    pub lines: Json<Vec<DocLine>>,
    pub history: Json<Vec<DocHistory>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocLine {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub sku: String,
    pub title: String,
    /// `digital` or `physical`
    pub kind: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub subtotal: i64,
    pub tax: i64,
    pub fulfilled_at: Option<String>,
    pub delivered_at: Option<String>,
}

/// One applied trigger.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocHistory {
    pub from: Option<String>,
    pub to: String,
    pub trigger: String,
    pub event_id: Uuid,
    /// e.g. `customer:<subject>`, `admin:<subject>`, `event:<subject>`, `system:expiry`
    pub actor: String,
    pub payment_status: String,
    pub fulfillment_status: String,
    /// What the trigger carried (amount, reason, lines).
    #[schema(value_type = Object)]
    pub detail: Value,
    pub at: String,
}

const ORDER_COLUMNS: &str = "o.id, o.tenant_id, o.customer_id, o.cart_id, o.number, o.email, o.currency, o.status,
    o.payment_status, o.fulfillment_status, o.subtotal, o.shipping_total, o.tax_total, o.total, o.captured_amount,
    o.refunded_amount, o.failed_payment_attempts, o.payment_intent_id, o.version, o.shipping_address,
    o.billing_address, o.created_at, o.updated_at";

/// An order as the state machine needs it: the row, its lines and the (event id, trigger) of
/// every applied change, oldest first.
#[derive(Debug, sqlx::FromRow)]
pub struct LockedOrder {
    #[sqlx(flatten)]
    pub order: OrderRow,
    pub lines: Json<Vec<LineRow>>,
    pub applied: Json<Vec<(Uuid, String)>>,
}

/// The order `id` with its row lock, its lines and its applied changes, in one round trip.
///
/// A statement that waited for the lock reads the locked row as its holder committed it, but
/// the lines and history as of before its wait. Every change to an order's lines or history
/// also updates its row (`update_state`, or the insert that placed it), so the statement
/// compares the row version it locked with the one its snapshot sees; when they differ it reads
/// again (the lock is held by then). Same check as the cart's (`carts::find`). Test:
/// `a_change_waiting_for_the_order_sees_what_the_lock_holder_applied`.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<LockedOrder>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Found {
        #[sqlx(flatten)]
        order: LockedOrder,
        fresh: bool,
    }
    let found: Option<Found> = sqlx::query_as(sqlx::AssertSqlSafe(locked_sql(
        "o.xmin::text = (select o2.xmin::text from orders.orders o2 where o2.id = o.id)",
        " for update of o",
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match found {
        Some(Found { fresh: false, .. }) => {
            sqlx::query_as(sqlx::AssertSqlSafe(locked_sql("true", "")))
                .bind(id)
                .fetch_optional(conn)
                .await
        }
        found => Ok(found.map(|f| f.order)),
    }
}

fn locked_sql(fresh: &str, lock: &str) -> String {
    format!(
        "select {ORDER_COLUMNS},
                (select coalesce(json_agg(json_build_object('id', l.id, 'variant_id', l.variant_id, 'sku', l.sku,
                    'title', l.title, 'kind', l.kind, 'asset_key', l.asset_key, 'quantity', l.quantity,
                    'unit_price', l.unit_price, 'subtotal', l.subtotal, 'tax', l.tax,
                    'fulfilled', l.fulfilled_at is not null, 'delivered', l.delivered_at is not null) order by l.id), '[]')
                 from orders.order_lines l where l.order_id = o.id) as lines,
                (select coalesce(json_agg(json_build_array(h.event_id, h.trigger) order by h.id), '[]')
                 from orders.order_state_history h where h.order_id = o.id) as applied,
                {fresh} as fresh
         from orders.orders o where o.id = $1{lock}"
    )
}

/// The order document's data, if the order is visible to the current scope.
pub async fn document(conn: &mut PgConnection, id: Uuid) -> Result<Option<OrderDocRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {ORDER_COLUMNS},
                (select coalesce(jsonb_agg(jsonb_build_object('id', l.id, 'variant_id', l.variant_id, 'sku', l.sku,
                    'title', l.title, 'kind', l.kind, 'quantity', l.quantity, 'unit_price', l.unit_price,
                    'subtotal', l.subtotal, 'tax', l.tax, 'fulfilled_at', l.fulfilled_at, 'delivered_at', l.delivered_at)
                    order by l.id), '[]') from orders.order_lines l where l.order_id = o.id) as lines,
                (select coalesce(jsonb_agg(jsonb_build_object('from', h.from_status, 'to', h.to_status,
                    'trigger', h.trigger, 'event_id', h.event_id, 'actor', h.actor, 'payment_status', h.payment_status,
                    'fulfillment_status', h.fulfillment_status, 'detail', h.detail, 'at', h.created_at) order by h.id), '[]')
                 from orders.order_state_history h where h.order_id = o.id) as history
         from orders.orders o where o.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The status of the order, if it is visible to the current scope.
pub async fn status(conn: &mut PgConnection, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select status from orders.orders where id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The currency of the order, if it is visible to the current scope.
pub async fn currency(conn: &mut PgConnection, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select trim(currency) from orders.orders where id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn id_by_cart(conn: &mut PgConnection, cart: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from orders.orders where cart_id = $1")
        .bind(cart)
        .fetch_optional(conn)
        .await
}

pub async fn id_by_payment_intent(conn: &mut PgConnection, pi: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from orders.orders where payment_intent_id = $1")
        .bind(pi)
        .fetch_optional(conn)
        .await
}

// ---- birth ---------------------------------------------------------------------------------------------

/// A new order: everything but its number, which [`insert_placed`] takes from the tenant's
/// counter in the same statement.
#[derive(Debug)]
pub struct NewOrder<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: &'a str,
    pub cart_id: Uuid,
    pub email: &'a str,
    pub currency: &'a str,
    pub status: &'a str,
    pub payment_status: &'a str,
    pub fulfillment_status: &'a str,
    pub subtotal: i64,
    pub shipping_total: i64,
    pub tax_total: i64,
    pub total: i64,
    pub region_id: Uuid,
    pub shipping_option_id: Option<Uuid>,
    pub shipping_address: Option<&'a Value>,
    /// The shipping address when none is given.
    pub billing_address: Option<&'a Value>,
    pub payment_intent_id: Option<&'a str>,
}

/// The first history row of a new order.
#[derive(Debug)]
pub struct FirstHistory<'a> {
    pub to: &'a str,
    pub trigger: &'a str,
    pub event_id: Uuid,
    pub actor: &'a str,
}

/// Write a new order in one statement: the tenant's next order number (the first is 1001; no
/// gaps, so the counter row stays locked until the commit), the order, its lines (`reserved[i]`
/// is the stock line `i` really took), its first history row, and its cart marked completed.
/// Returns the order number.
pub async fn insert_placed(
    conn: &mut PgConnection,
    o: &NewOrder<'_>,
    lines: &[LineRow],
    reserved: &[i32],
    first: &FirstHistory<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "with n as (
            insert into orders.tenant_counters (tenant_id, last_order_number) values ($2, 1001)
            on conflict (tenant_id) do update set last_order_number = orders.tenant_counters.last_order_number + 1
            returning last_order_number
         ), o as (
            insert into orders.orders (id, tenant_id, customer_id, cart_id, number, email, currency, status,
                payment_status, fulfillment_status, subtotal, shipping_total, tax_total, total, region_id,
                shipping_option_id, shipping_address, billing_address, payment_intent_id)
            select $1, $2, $3, $4, n.last_order_number, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   coalesce($17, $16), $18
            from n
            returning id, number
         ), l as (
            insert into orders.order_lines (id, tenant_id, customer_id, order_id, variant_id, sku, title, kind,
                asset_key, quantity, unit_price, subtotal, tax, reserved)
            select x.id, $2, $3, o.id, x.variant_id, x.sku, x.title, x.kind, x.asset_key, x.quantity, x.unit_price,
                   x.subtotal, x.tax, x.reserved
            from o, unnest($19::uuid[], $20::uuid[], $21::text[], $22::text[], $23::text[], $24::text[], $25::int[],
                           $26::int8[], $27::int8[], $28::int8[], $29::int[])
                    as x(id, variant_id, sku, title, kind, asset_key, quantity, unit_price, subtotal, tax, reserved)
         ), h as (
            insert into orders.order_state_history (tenant_id, customer_id, order_id, from_status, to_status, trigger,
                event_id, actor, payment_status, fulfillment_status, detail)
            select $2, $3, o.id, null, $30, $31, $32, $33, $8, $9, '{}'::jsonb from o
         ), c as (
            update orders.carts set status = 'completed', updated_at = now(), completed_at = now() where id = $4
         )
         select number from o",
    )
    .bind(o.id)
    .bind(o.tenant_id)
    .bind(o.customer_id)
    .bind(o.cart_id)
    .bind(o.email)
    .bind(o.currency)
    .bind(o.status)
    .bind(o.payment_status)
    .bind(o.fulfillment_status)
    .bind(o.subtotal)
    .bind(o.shipping_total)
    .bind(o.tax_total)
    .bind(o.total)
    .bind(o.region_id)
    .bind(o.shipping_option_id)
    .bind(o.shipping_address)
    .bind(o.billing_address)
    .bind(o.payment_intent_id)
    .bind(lines.iter().map(|l| l.id).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.variant_id).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.sku.as_str()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.title.as_str()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.kind.as_str()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.asset_key.as_deref()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.unit_price).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.subtotal).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.tax).collect::<Vec<_>>())
    .bind(reserved)
    .bind(first.to)
    .bind(first.trigger)
    .bind(first.event_id)
    .bind(first.actor)
    .fetch_one(conn)
    .await
}

// ---- changes ---------------------------------------------------------------------------------------------

/// One state-history row.
#[derive(Debug)]
pub struct HistoryEntry<'a> {
    pub tenant_id: Uuid,
    pub customer_id: &'a str,
    pub order_id: Uuid,
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub trigger: &'a str,
    pub event_id: Uuid,
    pub actor: &'a str,
    pub payment_status: &'a str,
    pub fulfillment_status: &'a str,
    pub detail: Value,
}

pub async fn insert_history(conn: &mut PgConnection, h: &HistoryEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into orders.order_state_history (tenant_id, customer_id, order_id, from_status, to_status, trigger,
            event_id, actor, payment_status, fulfillment_status, detail)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(h.tenant_id)
    .bind(h.customer_id)
    .bind(h.order_id)
    .bind(h.from)
    .bind(h.to)
    .bind(h.trigger)
    .bind(h.event_id)
    .bind(h.actor)
    .bind(h.payment_status)
    .bind(h.fulfillment_status)
    .bind(&h.detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// The state an applied trigger leaves the order in.
#[derive(Debug)]
pub struct StateUpdate<'a> {
    pub status: &'a str,
    pub payment_status: &'a str,
    pub fulfillment_status: &'a str,
    pub captured_amount: Option<i64>,
    pub refunded_amount: i64,
    pub failed_payment_attempts: i32,
    /// Remembered when given.
    pub payment_intent_id: Option<&'a str>,
    pub version: i64,
}

pub async fn update_state(conn: &mut PgConnection, id: Uuid, s: &StateUpdate<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update orders.orders set status = $2, payment_status = $3, fulfillment_status = $4, captured_amount = $5,
            refunded_amount = $6, failed_payment_attempts = $7, payment_intent_id = coalesce($8, payment_intent_id),
            version = $9, updated_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(s.status)
    .bind(s.payment_status)
    .bind(s.fulfillment_status)
    .bind(s.captured_amount)
    .bind(s.refunded_amount)
    .bind(s.failed_payment_attempts)
    .bind(s.payment_intent_id)
    .bind(s.version)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_fulfilled(conn: &mut PgConnection, lines: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("update orders.order_lines set fulfilled_at = now() where id = any($1)")
        .bind(lines)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_delivered(conn: &mut PgConnection, lines: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("update orders.order_lines set delivered_at = now() where id = any($1)")
        .bind(lines)
        .execute(conn)
        .await?;
    Ok(())
}

// ---- listing ---------------------------------------------------------------------------------------------

/// What an order list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    CreatedAt,
    Total,
}

/// Text search: an order number or an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    Number(i64),
    Email(String),
}

/// A page of a tenant's orders (the caller's own under a customer's scope).
#[derive(Debug, Clone)]
pub struct ListFilter {
    pub tenant_id: Uuid,
    pub size: i64,
    /// Cursor: (sort key, id) of the last row of the previous page.
    pub after: Option<(i64, Uuid)>,
    pub sort: SortKey,
    pub descending: bool,
    pub status: Vec<String>,
    pub payment_status: Vec<String>,
    pub fulfillment_status: Vec<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub search: Option<Search>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct ListRow {
    #[sqlx(flatten)]
    pub order: OrderRow,
    /// The row's position under the sort (its cursor key).
    pub sort_key: i64,
    /// Units over all lines.
    pub item_count: i64,
}

/// Up to `size + 1` rows (the extra one says there is a next page).
pub async fn list(conn: &mut PgConnection, f: &ListFilter) -> Result<Vec<ListRow>, sqlx::Error> {
    let (key_sql, sort_col) = match f.sort {
        SortKey::CreatedAt => ("(extract(epoch from o.created_at) * 1000000)::bigint", "o.created_at"),
        SortKey::Total => ("o.total", "o.total"),
    };
    // The page is chosen first; only its rows count their items.
    let mut b: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "select page.*, (select coalesce(sum(l.quantity), 0)::bigint from orders.order_lines l
                         where l.order_id = page.id) as item_count
         from (select {ORDER_COLUMNS}, {key_sql} as sort_key from orders.orders o where o.tenant_id = "
    ));
    b.push_bind(f.tenant_id);
    if !f.status.is_empty() {
        b.push(" and o.status = any(").push_bind(f.status.clone()).push(")");
    }
    if !f.payment_status.is_empty() {
        b.push(" and o.payment_status = any(")
            .push_bind(f.payment_status.clone())
            .push(")");
    }
    if !f.fulfillment_status.is_empty() {
        b.push(" and o.fulfillment_status = any(")
            .push_bind(f.fulfillment_status.clone())
            .push(")");
    }
    if let Some(t) = f.from {
        b.push(" and o.created_at >= ").push_bind(t);
    }
    if let Some(t) = f.to {
        b.push(" and o.created_at < ").push_bind(t);
    }
    match &f.search {
        Some(Search::Number(n)) => {
            b.push(" and o.number = ").push_bind(*n);
        }
        Some(Search::Email(e)) => {
            b.push(" and o.email_lc = ").push_bind(e.to_lowercase());
        }
        None => {}
    }
    if let Some((key, id)) = f.after {
        let op = if f.descending { "<" } else { ">" };
        match f.sort {
            SortKey::CreatedAt => {
                let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(key) * 1000)
                    .map_err(|e| sqlx::Error::Protocol(format!("cursor out of range: {e}")))?;
                b.push(format!(" and (o.created_at, o.id) {op} ("))
                    .push_bind(t)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            SortKey::Total => {
                b.push(format!(" and (o.total, o.id) {op} ("))
                    .push_bind(key)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
        }
    }
    let dir = if f.descending { "desc" } else { "asc" };
    b.push(format!(" order by {sort_col} {dir}, o.id {dir} limit "))
        .push_bind(f.size + 1)
        .push(format!(") page order by page.sort_key {dir}, page.id {dir}"));
    b.build_query_as().fetch_all(conn).await
}

// ---- expiry --------------------------------------------------------------------------------------------------

/// Tenants that have orders (read as `system`).
pub async fn tenants(conn: &mut PgConnection) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select tenant_id from orders.tenant_counters")
        .fetch_all(conn)
        .await
}

/// Unpaid orders of `tenant` older than `ttl_secs` whose payment is not in flight at Stripe.
pub async fn unpaid_older_than(conn: &mut PgConnection, tenant: Uuid, ttl_secs: u64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select id from orders.orders
         where tenant_id = $1
           and (status = 'pending' or (status = 'processing' and payment_status <> 'processing'))
           and created_at < now() - make_interval(secs => $2)
         order by created_at limit 500",
    )
    .bind(tenant)
    .bind(ttl_secs as f64)
    .fetch_all(conn)
    .await
}
