//! Carts and checkout (customers). Prices, totals and status always come from the server; a
//! client-sent price, total, status or tenant is an unknown member and refused (422).
//!
//! Completion (`POST /store/carts/{id}/complete`) runs in one transaction: the cart row is locked
//! (`FOR UPDATE`), so concurrent completions of one cart queue up and all answer with the same
//! order (also enforced by `orders_one_per_cart`); limited stock is reserved with conditional
//! decrements (never below zero) in variant order; the per-tenant order number, the order, its
//! lines, the first history row and `ordo.order.v1.placed` commit together.

use crate::idempotency::{self, Reply};
use crate::{AppState, db_err, orders, payment_sync, transitions};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_db::Scope;
use ordo_domain::checkout::{Address, Email, Quantity, RawAddress};
use ordo_domain::totals::{PricedLine, TaxRate, Totals};
use ordo_domain::{Currency, Money};
#[allow(unused_imports)]
use ordo_http::jsonapi::Input;
use ordo_http::jsonapi::{parse_input, respond};
use ordo_http::{ApiError, Authenticated};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

#[derive(Debug)]
pub struct CartLine {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub sku: String,
    pub title: String,
    pub kind: String,
    pub asset_key: Option<String>,
    pub quantity: i32,
    /// None when the variant has no price in the cart's currency any more.
    pub unit_price: Option<i64>,
    pub available: bool,
}

#[derive(Debug)]
pub struct Cart {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: String,
    pub region_id: Uuid,
    pub currency: Currency,
    pub tax: TaxRate,
    pub countries: Vec<String>,
    pub email: Option<String>,
    pub shipping_address: Option<Value>,
    pub billing_address: Option<Value>,
    pub shipping_option: Option<(Uuid, String, i64)>,
    pub status: String,
    pub lines: Vec<CartLine>,
    /// The cart's PaymentIntent, once a payment session was handed out.
    pub payment_intent_id: Option<String>,
    /// The amount that session was last set to.
    pub payment_amount: Option<i64>,
    pub created_at: time::OffsetDateTime,
    pub updated_at: time::OffsetDateTime,
}

impl Cart {
    pub fn has_physical(&self) -> bool {
        self.lines.iter().any(|l| l.kind == "physical")
    }

    pub fn totals(&self) -> Result<Totals, ApiError> {
        let lines: Vec<PricedLine> = self
            .lines
            .iter()
            .filter_map(|l| {
                Some(PricedLine {
                    unit_price: Money::try_new(l.unit_price?, self.currency).ok()?,
                    quantity: u32::try_from(l.quantity).ok()?,
                })
            })
            .collect();
        let shipping = match (&self.shipping_option, self.has_physical()) {
            (Some((_, _, price)), true) => Some(Money::try_new(*price, self.currency).map_err(ApiError::internal)?),
            _ => None,
        };
        Totals::compute(self.currency, &lines, shipping, self.tax).map_err(ApiError::internal)
    }
}

fn line_tax(cart: &Cart, l: &CartLine) -> Option<i64> {
    let sub = Money::try_new(l.unit_price? * i64::from(l.quantity), cart.currency).ok()?;
    cart.tax.tax_on(sub).ok().map(|m| m.amount())
}

/// Load a cart visible to the current scope (404 otherwise), optionally locking it.
pub async fn load(conn: &mut PgConnection, id: Uuid, idle_secs: u64, lock: bool) -> Result<Cart, ApiError> {
    let sql = format!(
        "select c.id, c.tenant_id, c.customer_id, c.region_id, c.currency, c.email, c.shipping_address,
                c.billing_address, c.shipping_option_id, s.name as shipping_name, s.price as shipping_price,
                case when c.status = 'open' and c.updated_at < now() - make_interval(secs => $2) then 'expired'
                     else c.status end as status,
                r.tax_rate_bp, r.countries, c.created_at, c.updated_at, c.payment_intent_id, c.payment_amount
         from orders.carts c
         join orders.regions r on r.id = c.region_id
         left join orders.shipping_options s on s.id = c.shipping_option_id
         where c.id = $1 {}",
        if lock { "for update of c" } else { "" }
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(idle_secs as f64)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| ApiError::not_found("cart", &id.to_string()))?;
    let currency: String = row.try_get("currency").map_err(db_err)?;
    let currency = Currency::parse(currency.trim()).map_err(ApiError::internal)?;
    let tax_bp: i32 = row.try_get("tax_rate_bp").map_err(db_err)?;
    let shipping_option = match row.try_get::<Option<Uuid>, _>("shipping_option_id").map_err(db_err)? {
        Some(sid) => Some((
            sid,
            row.try_get::<String, _>("shipping_name").map_err(db_err)?,
            row.try_get::<i64, _>("shipping_price").map_err(db_err)?,
        )),
        None => None,
    };
    let line_rows = sqlx::query(
        "select l.id, l.variant_id, l.quantity, v.sku, v.title, v.kind, v.asset_key,
                (v.active and p.active) as available, vp.amount
         from orders.cart_lines l
         join orders.variants v on v.id = l.variant_id
         join orders.products p on p.id = v.product_id
         left join orders.variant_prices vp on vp.variant_id = v.id and vp.currency = $2
         where l.cart_id = $1 order by l.created_at, l.id",
    )
    .bind(id)
    .bind(currency.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let lines = line_rows
        .into_iter()
        .map(|r| {
            Ok(CartLine {
                id: r.try_get("id").map_err(db_err)?,
                variant_id: r.try_get("variant_id").map_err(db_err)?,
                sku: r.try_get("sku").map_err(db_err)?,
                title: r.try_get("title").map_err(db_err)?,
                kind: r.try_get("kind").map_err(db_err)?,
                asset_key: r.try_get("asset_key").map_err(db_err)?,
                quantity: r.try_get("quantity").map_err(db_err)?,
                unit_price: r.try_get("amount").map_err(db_err)?,
                available: r.try_get("available").map_err(db_err)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Cart {
        id,
        tenant_id: row.try_get("tenant_id").map_err(db_err)?,
        customer_id: row.try_get("customer_id").map_err(db_err)?,
        region_id: row.try_get("region_id").map_err(db_err)?,
        currency,
        tax: TaxRate::from_basis_points(u32::try_from(tax_bp).unwrap_or(0)).map_err(ApiError::internal)?,
        countries: row.try_get("countries").map_err(db_err)?,
        email: row.try_get("email").map_err(db_err)?,
        shipping_address: row.try_get("shipping_address").map_err(db_err)?,
        billing_address: row.try_get("billing_address").map_err(db_err)?,
        shipping_option,
        status: row.try_get("status").map_err(db_err)?,
        lines,
        payment_intent_id: row.try_get("payment_intent_id").map_err(db_err)?,
        payment_amount: row.try_get("payment_amount").map_err(db_err)?,
        created_at: row.try_get("created_at").map_err(db_err)?,
        updated_at: row.try_get("updated_at").map_err(db_err)?,
    })
}

pub fn document(cart: &Cart) -> Result<Value, ApiError> {
    let totals = cart.totals()?;
    let items: Vec<Value> = cart
        .lines
        .iter()
        .map(|l| {
            json!({"id": l.id, "variant_id": l.variant_id, "sku": l.sku, "title": l.title, "kind": l.kind,
                   "quantity": l.quantity, "unit_price": l.unit_price,
                   "subtotal": l.unit_price.map(|p| p * i64::from(l.quantity)), "tax": line_tax(cart, l),
                   "available": l.available && l.unit_price.is_some()})
        })
        .collect();
    Ok(json!({"data": {"type": "carts", "id": cart.id, "attributes": {
        "status": cart.status,
        "region_id": cart.region_id,
        "currency": cart.currency.as_str(),
        "email": cart.email,
        "shipping_address": cart.shipping_address,
        "billing_address": cart.billing_address,
        "shipping_option": cart.shipping_option.as_ref().map(|(id, name, price)| json!({"id": id, "name": name, "price": price})),
        "items": items,
        "totals": {"subtotal": totals.subtotal.amount(), "shipping": totals.shipping.amount(),
                   "tax": totals.tax.amount(), "total": totals.total.amount(),
                   "tax_rate_bp": cart.tax.basis_points()},
        "created_at": cart.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "updated_at": cart.updated_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    }}}))
}

fn require_open(cart: &Cart) -> Result<(), ApiError> {
    match cart.status.as_str() {
        "open" => Ok(()),
        "expired" => Err(ApiError::conflict(
            "cart_expired",
            "this cart has expired; start a new one",
        )),
        _ => Err(ApiError::conflict("cart_completed", "this cart is already completed")),
    }
}

pub(crate) async fn touch(conn: &mut PgConnection, id: Uuid) -> Result<(), ApiError> {
    sqlx::query("update orders.carts set updated_at = now() where id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// After a change that may move the total: bring the cart's payment session along
/// ([`payment_sync::follow_cart`]), then answer with the cart.
pub(crate) async fn changed(
    conn: &mut PgConnection,
    sync: &PaymentLink,
    id: Uuid,
    idle: u64,
) -> Result<Reply, ApiError> {
    let cart = load(conn, id, idle, false).await?;
    payment_sync::follow_cart(conn, &sync.bus, sync.timeout, &cart).await?;
    Ok(Reply::new(StatusCode::OK, document(&cart)?))
}

/// What a handler needs to reach the payment service.
#[derive(Debug, Clone)]
pub(crate) struct PaymentLink {
    pub bus: ordo_bus::Bus,
    pub timeout: std::time::Duration,
}

impl PaymentLink {
    pub fn of(state: &AppState) -> PaymentLink {
        PaymentLink {
            bus: state.bus.clone(),
            timeout: std::time::Duration::from_millis(state.checkout.payment_timeout_ms.max(1)),
        }
    }
}

/// Reload the cart and answer with it.
pub(crate) async fn reply(conn: &mut PgConnection, id: Uuid, idle: u64, status: StatusCode) -> Result<Reply, ApiError> {
    let cart = load(conn, id, idle, false).await?;
    let mut r = Reply::new(status, document(&cart)?);
    if status == StatusCode::CREATED {
        r.location = Some(format!("/store/carts/{id}"));
    }
    Ok(r)
}

// ---- handlers --------------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCart {
    region_id: Uuid,
    #[serde(default)]
    email: Option<String>,
}

#[utoipa::path(
    post,
    path = "/store/carts",
    operation_id = "create_cart",
    tag = "carts",
    summary = "Create a cart in a region",
    params(
        crate::openapi::IdempotencyKey
    ),
    request_body(content = Input<NewCart>, content_type = "application/vnd.api+json"),
    responses(
        (status = 201, description = "The cart with server-computed totals", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create_cart(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let input = parse_input::<NewCart>(&body, "carts")?.attributes;
    let email = input
        .email
        .map(|e| {
            Email::parse(&e).map_err(|e| ApiError::unprocessable(e.code, &e.message, Some("/data/attributes/email")))
        })
        .transpose()?;
    let (tenant, customer, idle) = (who.0.tenant_id, who.0.subject.clone(), state.idle_secs());
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let currency: Option<String> = sqlx::query_scalar("select currency from orders.regions where id = $1 and active")
                .bind(input.region_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
            let currency = currency.ok_or_else(|| {
                ApiError::unprocessable("unknown_region", "no such region", Some("/data/attributes/region_id"))
            })?;
            let id = Uuid::now_v7();
            sqlx::query(
                "insert into orders.carts (id, tenant_id, customer_id, region_id, currency, email) values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(tenant)
            .bind(&customer)
            .bind(input.region_id)
            .bind(currency)
            .bind(email.as_ref().map(Email::as_str))
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            reply(tx, id, idle, StatusCode::CREATED).await
        })
    })
    .await
}

#[utoipa::path(
    get,
    path = "/store/carts/{id}",
    operation_id = "get_cart",
    tag = "carts",
    summary = "Read a cart with its items and totals",
    params(
        ("id" = Uuid, Path, description = "the id")
    ),
    responses(
        (status = 200, description = "The cart", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn get_cart(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(&who.0).await?;
    let cart = load(&mut tx, path.into_inner(), state.idle_secs(), false).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(respond(StatusCode::OK, &document(&cart)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddressInput {
    name: Option<String>,
    line1: Option<String>,
    line2: Option<String>,
    city: Option<String>,
    postal_code: Option<String>,
    region: Option<String>,
    country: Option<String>,
    phone: Option<String>,
}

fn address(input: AddressInput, member: &str, countries: &[String]) -> Result<Value, ApiError> {
    let raw = RawAddress {
        name: input.name,
        line1: input.line1,
        line2: input.line2,
        city: input.city,
        postal_code: input.postal_code,
        region: input.region,
        country: input.country,
        phone: input.phone,
    };
    let a = Address::parse(raw).map_err(|errs| {
        let e = &errs[0];
        ApiError::unprocessable(
            e.code,
            &e.message,
            Some(&format!("/data/attributes/{member}/{}", e.field)),
        )
    })?;
    if !countries.iter().any(|c| c == a.country.as_str()) {
        return Err(ApiError::unprocessable(
            "country_not_in_region",
            &format!("{} is not a country of this cart's region", a.country.as_str()),
            Some(&format!("/data/attributes/{member}/country")),
        ));
    }
    Ok(
        json!({"name": a.name, "line1": a.line1, "line2": a.line2, "city": a.city, "postal_code": a.postal_code,
              "region": a.region, "country": a.country.as_str(), "phone": a.phone}),
    )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CartPatch {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    shipping_address: Option<AddressInput>,
    #[serde(default)]
    billing_address: Option<AddressInput>,
}

#[utoipa::path(
    patch,
    path = "/store/carts/{id}",
    operation_id = "update_cart",
    tag = "carts",
    summary = "Set the email, shipping and billing address (country must belong to the region)",
    params(
        ("id" = Uuid, Path, description = "the id"),
        crate::openapi::IdempotencyKey
    ),
    request_body(content = Input<CartPatch>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The cart", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn update_cart(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let id = path.into_inner();
    let patch = parse_input::<CartPatch>(&body, "carts")?.attributes;
    let email = patch
        .email
        .map(|e| {
            Email::parse(&e).map_err(|e| ApiError::unprocessable(e.code, &e.message, Some("/data/attributes/email")))
        })
        .transpose()?;
    let idle = state.idle_secs();
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let cart = load(tx, id, idle, true).await?;
            require_open(&cart)?;
            let shipping = patch
                .shipping_address
                .map(|a| address(a, "shipping_address", &cart.countries))
                .transpose()?;
            let billing = patch
                .billing_address
                .map(|a| address(a, "billing_address", &cart.countries))
                .transpose()?;
            sqlx::query(
                "update orders.carts set email = coalesce($2, email), shipping_address = coalesce($3, shipping_address),
                        billing_address = coalesce($4, billing_address), updated_at = now() where id = $1",
            )
            .bind(id)
            .bind(email.as_ref().map(Email::as_str))
            .bind(shipping)
            .bind(billing)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            reply(tx, id, idle, StatusCode::OK).await
        })
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLine {
    variant_id: Uuid,
    quantity: i64,
}

fn quantity(q: i64) -> Result<i32, ApiError> {
    let q = Quantity::parse(q)
        .map_err(|e| ApiError::unprocessable(e.code, &e.message, Some("/data/attributes/quantity")))?;
    Ok(q.get() as i32)
}

#[utoipa::path(
    post,
    path = "/store/carts/{id}/line-items",
    operation_id = "add_line",
    tag = "carts",
    summary = "Add a variant (quantity 1..=100; the price comes from the catalog)",
    params(
        ("id" = Uuid, Path, description = "the id"),
        crate::openapi::IdempotencyKey
    ),
    request_body(content = Input<NewLine>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The cart", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn add_line(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let id = path.into_inner();
    let input = parse_input::<NewLine>(&body, "line-items")?.attributes;
    let q = quantity(input.quantity)?;
    let (tenant, customer, idle) = (who.0.tenant_id, who.0.subject.clone(), state.idle_secs());
    let link = PaymentLink::of(&state);
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let cart = load(tx, id, idle, true).await?;
            require_open(&cart)?;
            let variant = sqlx::query(
                "select (v.active and p.active) as active, vp.amount
                 from orders.variants v join orders.products p on p.id = v.product_id
                 left join orders.variant_prices vp on vp.variant_id = v.id and vp.currency = $2
                 where v.id = $1",
            )
            .bind(input.variant_id)
            .bind(cart.currency.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_variant",
                    "no such variant",
                    Some("/data/attributes/variant_id"),
                )
            })?;
            if !variant.try_get::<bool, _>("active").map_err(db_err)? {
                return Err(ApiError::unprocessable(
                    "variant_inactive",
                    "this variant is not for sale",
                    Some("/data/attributes/variant_id"),
                ));
            }
            if variant.try_get::<Option<i64>, _>("amount").map_err(db_err)?.is_none() {
                return Err(ApiError::unprocessable(
                    "currency_not_offered",
                    &format!("this variant has no price in {}", cart.currency),
                    Some("/data/attributes/variant_id"),
                ));
            }
            let existing = cart.lines.iter().find(|l| l.variant_id == input.variant_id);
            let new_q = existing.map(|l| l.quantity).unwrap_or(0) + q;
            quantity(i64::from(new_q))?;
            sqlx::query(
                "insert into orders.cart_lines (id, tenant_id, customer_id, cart_id, variant_id, quantity)
                 values ($1, $2, $3, $4, $5, $6)
                 on conflict (cart_id, variant_id) do update set quantity = excluded.quantity",
            )
            .bind(Uuid::now_v7())
            .bind(tenant)
            .bind(&customer)
            .bind(id)
            .bind(input.variant_id)
            .bind(new_q)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            touch(tx, id).await?;
            changed(tx, &link, id, idle).await
        })
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LinePatch {
    quantity: i64,
}

#[utoipa::path(
    patch,
    path = "/store/carts/{id}/line-items/{line_id}",
    operation_id = "update_line",
    tag = "carts",
    summary = "Change a line's quantity",
    params(
        ("id" = Uuid, Path, description = "the id"),
        ("line_id" = Uuid, Path, description = "the line id"),
        crate::openapi::IdempotencyKey
    ),
    request_body(content = Input<LinePatch>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The cart", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn update_line(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let (id, line_id) = path.into_inner();
    let q = quantity(parse_input::<LinePatch>(&body, "line-items")?.attributes.quantity)?;
    let idle = state.idle_secs();
    let link = PaymentLink::of(&state);
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let cart = load(tx, id, idle, true).await?;
            require_open(&cart)?;
            let n = sqlx::query("update orders.cart_lines set quantity = $3 where id = $2 and cart_id = $1")
                .bind(id)
                .bind(line_id)
                .bind(q)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            if n == 0 {
                return Err(ApiError::not_found("line item", &line_id.to_string()));
            }
            touch(tx, id).await?;
            changed(tx, &link, id, idle).await
        })
    })
    .await
}

#[utoipa::path(
    delete,
    path = "/store/carts/{id}/line-items/{line_id}",
    operation_id = "remove_line",
    tag = "carts",
    summary = "Remove a line",
    params(
        ("id" = Uuid, Path, description = "the id"),
        ("line_id" = Uuid, Path, description = "the line id"),
        crate::openapi::IdempotencyKey
    ),
    responses(
        (status = 200, description = "The cart", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn remove_line(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let (id, line_id) = path.into_inner();
    let idle = state.idle_secs();
    let link = PaymentLink::of(&state);
    idempotency::run(&state.pool, &req, &who.0, &[], move |tx| {
        Box::pin(async move {
            let cart = load(tx, id, idle, true).await?;
            require_open(&cart)?;
            let n = sqlx::query("delete from orders.cart_lines where id = $2 and cart_id = $1")
                .bind(id)
                .bind(line_id)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            if n == 0 {
                return Err(ApiError::not_found("line item", &line_id.to_string()));
            }
            touch(tx, id).await?;
            changed(tx, &link, id, idle).await
        })
    })
    .await
}

#[utoipa::path(
    get,
    path = "/store/carts/{id}/shipping-options",
    operation_id = "shipping_options",
    tag = "carts",
    summary = "Shipping options of the cart's region",
    params(
        ("id" = Uuid, Path, description = "the id")
    ),
    responses(
        (status = 200, description = "Shipping options", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn shipping_options(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut tx = state.begin(&who.0).await?;
    let cart = load(&mut tx, id, state.idle_secs(), false).await?;
    let rows = sqlx::query(
        "select id, name, price from orders.shipping_options where region_id = $1 and active order by price, name",
    )
    .bind(cart.region_id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    let data = rows
        .into_iter()
        .map(|r| {
            Ok(
                json!({"type": "shipping-options", "id": r.try_get::<Uuid, _>("id").map_err(db_err)?,
                "attributes": {"name": r.try_get::<String, _>("name").map_err(db_err)?,
                               "price": r.try_get::<i64, _>("price").map_err(db_err)?,
                               "currency": cart.currency.as_str()}}),
            )
        })
        .collect::<Result<Vec<Value>, ApiError>>()?;
    Ok(respond(StatusCode::OK, &json!({"data": data})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ShippingChoice {
    shipping_option_id: Uuid,
}

#[utoipa::path(
    post,
    path = "/store/carts/{id}/shipping-method",
    operation_id = "choose_shipping",
    tag = "carts",
    summary = "Choose a shipping option",
    params(
        ("id" = Uuid, Path, description = "the id"),
        crate::openapi::IdempotencyKey
    ),
    request_body(content = Input<ShippingChoice>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The cart", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn choose_shipping(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let id = path.into_inner();
    let choice = parse_input::<ShippingChoice>(&body, "shipping-methods")?.attributes;
    let idle = state.idle_secs();
    let link = PaymentLink::of(&state);
    idempotency::run(&state.pool, &req, &who.0, &body, move |tx| {
        Box::pin(async move {
            let cart = load(tx, id, idle, true).await?;
            require_open(&cart)?;
            let ok: Option<Uuid> = sqlx::query_scalar(
                "select id from orders.shipping_options where id = $1 and region_id = $2 and active",
            )
            .bind(choice.shipping_option_id)
            .bind(cart.region_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
            if ok.is_none() {
                return Err(ApiError::unprocessable(
                    "unknown_shipping_option",
                    "no such shipping option in this cart's region",
                    Some("/data/attributes/shipping_option_id"),
                ));
            }
            sqlx::query("update orders.carts set shipping_option_id = $2, updated_at = now() where id = $1")
                .bind(id)
                .bind(choice.shipping_option_id)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            changed(tx, &link, id, idle).await
        })
    })
    .await
}

#[utoipa::path(
    post,
    path = "/store/carts/{id}/complete",
    operation_id = "complete",
    tag = "carts",
    summary = "Complete the cart into an order: one order per cart (concurrent calls get the same order), stock reserved atomically",
    params(
        ("id" = Uuid, Path, description = "the id"),
        crate::openapi::IdempotencyKey
    ),
    responses(
        (status = 200, description = "The order", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn complete(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let id = path.into_inner();
    let idle = state.idle_secs();
    let actor = format!("customer:{}", who.0.subject);
    idempotency::run(&state.pool, &req, &who.0, &[], move |tx| {
        Box::pin(async move {
            let order_id = complete_in(tx, id, idle, &actor).await?;
            let doc = orders::document(tx, order_id).await?;
            Ok(Reply::new(StatusCode::OK, doc))
        })
    })
    .await
}

/// What became of a cart that was paid for (completion from a payment event).
#[derive(Debug)]
pub enum PaidCart {
    /// The order of the cart (made now, or earlier by the storefront).
    Order(Uuid),
    /// The cart cannot become an order; the payment must be given back. `cart` is the cart
    /// when it exists (for the e-mail), `code` a stable reason.
    Rejected {
        code: &'static str,
        message: String,
        cart: Option<Box<Cart>>,
    },
}

/// Turn the cart into an order inside `conn`'s transaction (scoped to the cart's owner); returns
/// the order id. A completed cart returns its existing order. A cart with a payment session
/// whose total moved under it (a catalog price change) is refused with `payment_session_stale`:
/// the customer asks for a new session first, so Stripe never charges another amount.
pub async fn complete_in(conn: &mut PgConnection, id: Uuid, idle: u64, actor: &str) -> Result<Uuid, ApiError> {
    let cart = load(conn, id, idle, true).await?;
    if cart.status == "completed" {
        return existing_order(conn, id).await;
    }
    require_open(&cart)?;
    let email = checkout_ready(&cart)?;
    let totals = cart.totals()?;
    if cart.payment_intent_id.is_some()
        && let Some(session) = cart.payment_amount
        && session != totals.total.amount()
    {
        return Err(ApiError::conflict(
            "payment_session_stale",
            &format!(
                "the cart's total is {} but its payment session is for {session}; ask for a new payment session",
                totals.total.amount()
            ),
        ));
    }
    place(conn, &cart, &email, &totals, actor, false).await
}

/// The customer has paid for cart `id` but the storefront never completed it (the browser died):
/// complete it now, so that nobody is charged without an order. The order is made even if the
/// cart idled past its expiry, a variant went off sale or stock ran out meanwhile (stock floors
/// at zero, the oversell is logged); whether the payment covers it is the state machine's call.
/// A cart that cannot become an order at all (unknown, empty, unpriced, without e-mail or
/// shipping) is [`PaidCart::Rejected`].
pub async fn complete_paid(conn: &mut PgConnection, id: Uuid, idle: u64, actor: &str) -> Result<PaidCart, ApiError> {
    let reject = |code, message: String, cart: Option<Cart>| {
        Ok(PaidCart::Rejected {
            code,
            message,
            cart: cart.map(Box::new),
        })
    };
    let cart = match load(conn, id, idle, true).await {
        Ok(c) => c,
        Err(e) if e.status_code_u16() == 404 => return reject("cart_unknown", format!("no cart {id}"), None),
        Err(e) => return Err(e),
    };
    match cart.status.as_str() {
        "completed" => return existing_order(conn, id).await.map(PaidCart::Order),
        "open" | "expired" => {}
        other => return reject("cart_closed", format!("the cart is {other}"), Some(cart)),
    }
    let problem = if cart.lines.is_empty() {
        Some(("cart_empty", "the cart has no items".to_owned()))
    } else if let Some(l) = cart.lines.iter().find(|l| l.unit_price.is_none()) {
        Some((
            "variant_unpriced",
            format!("{} has no price in {}", l.sku, cart.currency),
        ))
    } else if cart.email.is_none() {
        Some(("missing_email", "the cart has no e-mail".to_owned()))
    } else if cart.has_physical() && (cart.shipping_address.is_none() || cart.shipping_option.is_none()) {
        Some((
            "missing_shipping",
            "physical items without address or shipping method".to_owned(),
        ))
    } else {
        None
    };
    if let Some((code, message)) = problem {
        return reject(code, message, Some(cart));
    }
    let email = cart.email.clone().unwrap_or_default();
    let totals = cart.totals()?;
    place(conn, &cart, &email, &totals, actor, true)
        .await
        .map(PaidCart::Order)
}

async fn existing_order(conn: &mut PgConnection, cart: Uuid) -> Result<Uuid, ApiError> {
    let existing: Option<Uuid> = sqlx::query_scalar("select id from orders.orders where cart_id = $1")
        .bind(cart)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    existing.ok_or_else(|| ApiError::internal("completed cart without order"))
}

/// Reserve stock and write the order. `paid`: take what stock there is instead of refusing
/// (each line records what it really took, so a cancellation gives back no more than that).
async fn place(
    conn: &mut PgConnection,
    cart: &Cart,
    email: &str,
    totals: &Totals,
    actor: &str,
    paid: bool,
) -> Result<Uuid, ApiError> {
    let id = cart.id;
    // From here on the service acts for the tenant (stock, counters) on the customer's behalf.
    ordo_db::set_scope(conn, &Scope::service(cart.tenant_id))
        .await
        .map_err(db_err)?;
    let mut by_variant: Vec<&CartLine> = cart.lines.iter().collect();
    by_variant.sort_by_key(|l| l.variant_id); // one lock order for every completion: no deadlocks
    let mut reserved = std::collections::HashMap::new();
    for l in by_variant {
        let taken = sqlx::query(
            "update orders.variants set inventory = inventory - $2
             where id = $1 and (inventory is null or inventory >= $2) returning id",
        )
        .bind(l.variant_id)
        .bind(l.quantity)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
        if taken.is_some() {
            reserved.insert(l.id, l.quantity);
        } else if paid {
            // Take what is left (the row is locked by the failed update's read).
            let left: Option<i32> = sqlx::query_scalar(
                "update orders.variants v set inventory = 0 from (select inventory from orders.variants where id = $1 for update) old
                 where v.id = $1 returning old.inventory",
            )
            .bind(l.variant_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?
            .flatten();
            let left = left.unwrap_or(0).clamp(0, l.quantity);
            tracing::warn!(cart = %id, sku = %l.sku, wanted = l.quantity, taken = left, "paid cart completed beyond stock (oversold)");
            reserved.insert(l.id, left);
        } else {
            let pos = cart.lines.iter().position(|x| x.id == l.id).unwrap_or(0);
            return Err(
                ApiError::conflict("out_of_stock", &format!("not enough {} in stock", l.sku))
                    .with_pointer(&format!("/data/attributes/items/{pos}")),
            );
        }
    }
    insert_order(conn, cart, email, totals, actor, &reserved).await
}

/// What checkout needs from a cart (items for sale, e-mail, shipping for physical items);
/// returns the e-mail.
pub(crate) fn checkout_ready(cart: &Cart) -> Result<String, ApiError> {
    if cart.lines.is_empty() {
        return Err(ApiError::unprocessable(
            "cart_empty",
            "the cart has no items",
            Some("/data/attributes/items"),
        ));
    }
    for (i, l) in cart.lines.iter().enumerate() {
        if !l.available || l.unit_price.is_none() {
            return Err(ApiError::unprocessable(
                "variant_unavailable",
                &format!("{} is no longer for sale", l.sku),
                Some(&format!("/data/attributes/items/{i}")),
            ));
        }
    }
    let email = cart.email.clone().ok_or_else(|| {
        ApiError::unprocessable(
            "missing_email",
            "set the cart's email first",
            Some("/data/attributes/email"),
        )
    })?;
    if cart.has_physical() {
        if cart.shipping_address.is_none() {
            return Err(ApiError::unprocessable(
                "missing_shipping_address",
                "physical items need a shipping address",
                Some("/data/attributes/shipping_address"),
            ));
        }
        if cart.shipping_option.is_none() {
            return Err(ApiError::unprocessable(
                "missing_shipping_method",
                "physical items need a shipping method",
                Some("/data/attributes/shipping_option"),
            ));
        }
    }
    Ok(email)
}

async fn insert_order(
    conn: &mut PgConnection,
    cart: &Cart,
    email: &str,
    totals: &Totals,
    actor: &str,
    reserved: &std::collections::HashMap<Uuid, i32>,
) -> Result<Uuid, ApiError> {
    let id = cart.id;
    let number: i64 = sqlx::query_scalar(
        "insert into orders.tenant_counters (tenant_id, last_order_number) values ($1, 1001)
         on conflict (tenant_id) do update set last_order_number = orders.tenant_counters.last_order_number + 1
         returning last_order_number",
    )
    .bind(cart.tenant_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    let order_id = Uuid::now_v7();
    let shipping = cart
        .has_physical()
        .then(|| cart.shipping_option.as_ref().map(|s| s.0))
        .flatten();
    sqlx::query(
        "insert into orders.orders (id, tenant_id, customer_id, cart_id, number, email, currency, status, payment_status,
            fulfillment_status, subtotal, shipping_total, tax_total, total, region_id, shipping_option_id,
            shipping_address, billing_address, payment_intent_id)
         values ($1, $2, $3, $4, $5, $6, $7, 'pending', 'awaiting', 'not_fulfilled', $8, $9, $10, $11, $12, $13, $14,
                 coalesce($15, $14), (select payment_intent_id from orders.carts where id = $4))",
    )
    .bind(order_id)
    .bind(cart.tenant_id)
    .bind(&cart.customer_id)
    .bind(id)
    .bind(number)
    .bind(email)
    .bind(cart.currency.as_str())
    .bind(totals.subtotal.amount())
    .bind(totals.shipping.amount())
    .bind(totals.tax.amount())
    .bind(totals.total.amount())
    .bind(cart.region_id)
    .bind(shipping)
    .bind(&cart.shipping_address)
    .bind(&cart.billing_address)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    for l in &cart.lines {
        let unit = l.unit_price.unwrap_or(0);
        sqlx::query(
            "insert into orders.order_lines (id, tenant_id, customer_id, order_id, variant_id, sku, title, kind, asset_key,
                quantity, unit_price, subtotal, tax, reserved)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(Uuid::now_v7())
        .bind(cart.tenant_id)
        .bind(&cart.customer_id)
        .bind(order_id)
        .bind(l.variant_id)
        .bind(&l.sku)
        .bind(&l.title)
        .bind(&l.kind)
        .bind(&l.asset_key)
        .bind(l.quantity)
        .bind(unit)
        .bind(unit * i64::from(l.quantity))
        .bind(line_tax(cart, l).unwrap_or(0))
        .bind(reserved.get(&l.id).copied().unwrap_or(l.quantity))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    sqlx::query("update orders.carts set status = 'completed', completed_at = now(), updated_at = now() where id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    transitions::placed(conn, order_id, actor).await?;
    Ok(order_id)
}

// ---- payment session ---------------------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/store/carts/{id}/payment-session",
    operation_id = "payment_session",
    tag = "carts",
    summary = "Create or update the cart's Stripe PaymentIntent; returns its client secret",
    description = "The payment service creates the cart's PaymentIntent for the cart total once (a repeated call never creates a second one) and, on every later call, sets its amount at Stripe to the cart total and checks what Stripe answered, so the session always carries the cart's total. Later changes to the cart move the PaymentIntent with them (or are refused with 409 payment_in_progress once the payment is under way). Confirm the payment with Stripe.js using `client_secret`, then complete the cart (409 payment_session_stale when the cart's total moved under the session, e.g. a price change: ask for the session again). The cart must be ready for checkout (items, e-mail, shipping for physical items).",
    params(
        ("id" = Uuid, Path, description = "the cart id"),
        crate::openapi::IdempotencyKey
    ),
    responses(
        (status = 200, description = "The payment session: payment_intent_id, client_secret, status, amount, currency", content_type = "application/vnd.api+json"),
        crate::openapi::ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn payment_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let id = path.into_inner();
    let idle = state.idle_secs();
    let link = PaymentLink::of(&state);
    idempotency::run(&state.pool, &req, &who.0, &[], move |tx| {
        Box::pin(async move {
            let cart = load(tx, id, idle, true).await?;
            require_open(&cart)?;
            let email = checkout_ready(&cart)?;
            let total = cart.totals()?.total;
            let session =
                payment_sync::request_session(tx, &link.bus, link.timeout, &cart, total.amount(), &email).await?;
            let amount = session.amount.unwrap_or_default();
            let doc = serde_json::json!({"data": {"type": "payment-sessions", "id": session.payment_id, "attributes": {
                "cart_id": id, "payment_intent_id": session.payment_intent_id, "client_secret": session.client_secret,
                "status": session.status, "amount": amount.amount_minor, "currency": amount.currency,
            }}});
            Ok(Reply::new(StatusCode::OK, doc))
        })
    })
    .await
}
