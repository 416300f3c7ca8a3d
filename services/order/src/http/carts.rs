//! `/store/carts…`: carts and checkout (customers). A client-sent price, total, status or tenant
//! is an unknown member and refused (422); request bodies become domain types here
//! (`Email`, `Quantity`, `Address`) before a use case of [`crate::app::cart`] or
//! [`crate::app::checkout`] runs.

use super::docs::{ErrorResponses, IdempotencyKey};
use super::fields::{
    CountryText, EmailText, OptionalText40, OptionalText100, OptionalText200, Text20, Text100, Text200,
};
use super::idempotency::{self, Key, Reply};
use super::{AppState, endpoints};
use crate::app::cart::{self, Cart, Contact, Owner};
use crate::store::catalog::ShippingOptionRow;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_domain::checkout::{Address, Email, Quantity, RawAddress};
use ordo_http::jsonapi::{Document, Input, Kind, Resource, parse_input, respond, whole};
use ordo_http::{ApiError, Authenticated};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

endpoints!(
    create_cart,
    get_cart,
    update_cart,
    add_line,
    update_line,
    remove_line,
    shipping_options,
    choose_shipping,
);

// ---- documents -------------------------------------------------------------------------------

/// A cart with server-computed totals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CartOut {
    /// `open`, `expired`, `completed` or `payment_refunded`
    pub status: &'static str,
    pub region_id: Uuid,
    pub currency: String,
    pub email: Option<String>,
    pub shipping_address: Option<AddressOut>,
    pub billing_address: Option<AddressOut>,
    pub shipping_option: Option<ShippingChoiceOut>,
    pub items: Vec<CartItemOut>,
    pub totals: CartTotalsOut,
    pub created_at: String,
    pub updated_at: String,
}

/// A postal address as stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddressOut {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2
    pub country: String,
    pub phone: Option<String>,
}

impl AddressOut {
    /// A stored address (JSON written by the cart use cases).
    pub fn stored(v: &Option<Value>) -> Result<Option<AddressOut>, ApiError> {
        v.as_ref()
            .map(|v| serde_json::from_value(v.clone()).map_err(ApiError::internal))
            .transpose()
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShippingChoiceOut {
    pub id: Uuid,
    pub name: String,
    pub price: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CartItemOut {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub sku: String,
    pub title: String,
    /// `digital` or `physical`
    pub kind: &'static str,
    pub quantity: u32,
    /// Null when the variant has no price in the cart's currency any more.
    pub unit_price: Option<i64>,
    pub subtotal: Option<i64>,
    pub tax: Option<i64>,
    /// For sale and priced: the cart can be checked out with it.
    pub available: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CartTotalsOut {
    pub subtotal: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
    pub tax_rate_bp: u32,
}

/// `{"data": cart}`
pub type CartDocument = Document<Resource<CartOut>>;

pub use ordo_http::jsonapi::rfc3339 as timestamp;

fn cart_document(cart: &Cart) -> Result<CartDocument, ApiError> {
    let totals = cart.totals()?;
    let items = cart
        .lines()
        .map(|(l, d)| {
            let amounts = cart.rules.line_amounts(l);
            CartItemOut {
                id: l.id,
                variant_id: l.variant_id,
                sku: l.sku.clone(),
                title: d.title.clone(),
                kind: l.kind.as_str(),
                quantity: l.quantity,
                unit_price: l.unit_price.map(|m| m.amount()),
                subtotal: amounts.map(|(s, _)| s.amount()),
                tax: amounts.map(|(_, t)| t.amount()),
                available: l.buyable(),
            }
        })
        .collect();
    let out = CartOut {
        status: cart.status().as_str(),
        region_id: cart.region_id,
        currency: cart.currency().as_str().to_owned(),
        email: cart.rules.email.clone(),
        shipping_address: AddressOut::stored(&cart.shipping_address)?,
        billing_address: AddressOut::stored(&cart.billing_address)?,
        shipping_option: cart.shipping_option.as_ref().map(|s| ShippingChoiceOut {
            id: s.id,
            name: s.name.clone(),
            price: s.price,
        }),
        items,
        totals: CartTotalsOut {
            subtotal: totals.subtotal.amount(),
            shipping: totals.shipping.amount(),
            tax: totals.tax.amount(),
            total: totals.total.amount(),
            tax_rate_bp: cart.rules.tax.basis_points(),
        },
        created_at: timestamp(cart.created_at),
        updated_at: timestamp(cart.updated_at),
    };
    Ok(Document::new(Resource::new("carts", cart.id, out)))
}

fn cart_reply(cart: &Cart) -> Result<Reply, ApiError> {
    Reply::ok(&cart_document(cart)?)
}

pub(super) fn email(raw: Option<EmailText>) -> Result<Option<Email>, ApiError> {
    raw.map(|EmailText(e)| {
        Email::parse(&e).map_err(|e| ApiError::unprocessable(e.code, &e.message, Some("/data/attributes/email")))
    })
    .transpose()
}

fn quantity(raw: i64) -> Result<Quantity, ApiError> {
    Quantity::parse(raw).map_err(|e| ApiError::unprocessable(e.code, &e.message, Some("/data/attributes/quantity")))
}

// ---- handlers --------------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCart {
    region_id: Uuid,
    #[serde(default)]
    email: Option<EmailText>,
}

impl Kind for NewCart {
    const KIND: &'static str = "carts";
}

#[utoipa::path(
    post,
    path = "/store/carts",
    tag = "carts",
    summary = "Create a cart in a region",
    params(IdempotencyKey),
    request_body(content = Input<NewCart>, content_type = "application/vnd.api+json"),
    responses(
        (status = 201, description = "The cart with server-computed totals", body = Document<Resource<CartOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn create_cart(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    key: Key,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let input = parse_input::<NewCart>(&body)?.attributes;
    let email = email(input.email)?;
    let (tenant, customer) = (who.0.tenant_id, who.0.subject.clone());
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
        Box::pin(async move {
            let owner = Owner {
                tenant_id: tenant,
                customer_id: &customer,
            };
            let cart = cart::create(tx, owner, input.region_id, email.as_ref()).await?;
            Reply::created(&cart_document(&cart)?, format!("/store/carts/{}", cart.id))
        })
    })
    .await
}

#[utoipa::path(
    get,
    path = "/store/carts/{id}",
    tag = "carts",
    summary = "Read a cart with its items and totals",
    params(("id" = Uuid, Path, description = "the cart id")),
    responses(
        (status = 200, description = "The cart", body = Document<Resource<CartOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn get_cart(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(&who.0).await?;
    let cart = cart::load(&mut tx, path.into_inner(), state.idle_secs(), false).await?;
    tx.commit().await?;
    Ok(respond(StatusCode::OK, &cart_document(&cart)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    #[schema(required = true, value_type = Text200)]
    name: Option<Text200>,
    #[schema(required = true, value_type = Text200)]
    line1: Option<Text200>,
    #[serde(default)]
    line2: Option<OptionalText200>,
    #[schema(required = true, value_type = Text100)]
    city: Option<Text100>,
    #[schema(required = true, value_type = Text20)]
    postal_code: Option<Text20>,
    #[serde(default)]
    region: Option<OptionalText100>,
    /// One of the region's countries
    #[schema(required = true, value_type = CountryText)]
    country: Option<CountryText>,
    #[serde(default)]
    phone: Option<OptionalText40>,
}

fn address(input: AddressInput, member: &str) -> Result<Address, ApiError> {
    let raw = RawAddress {
        name: input.name.map(|t| t.0),
        line1: input.line1.map(|t| t.0),
        line2: input.line2.map(|t| t.0),
        city: input.city.map(|t| t.0),
        postal_code: input.postal_code.map(|t| t.0),
        region: input.region.map(|t| t.0),
        country: input.country.map(|t| t.0),
        phone: input.phone.map(|t| t.0),
    };
    Address::parse(raw).map_err(|errs| {
        let e = &errs[0];
        ApiError::unprocessable(
            e.code,
            &e.message,
            Some(&format!("/data/attributes/{member}/{}", e.field)),
        )
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartPatch {
    #[serde(default)]
    email: Option<EmailText>,
    #[serde(default)]
    shipping_address: Option<AddressInput>,
    #[serde(default)]
    billing_address: Option<AddressInput>,
}

impl Kind for CartPatch {
    const KIND: &'static str = "carts";
}

#[utoipa::path(
    patch,
    path = "/store/carts/{id}",
    tag = "carts",
    summary = "Set the email, shipping and billing address (country must belong to the region)",
    params(("id" = Uuid, Path, description = "the cart id"), IdempotencyKey),
    request_body(content = Input<CartPatch>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The cart", body = Document<Resource<CartOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn update_cart(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    key: Key,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let id = path.into_inner();
    let patch = parse_input::<CartPatch>(&body)?.attributes;
    let contact = Contact {
        email: email(patch.email)?,
        shipping_address: patch
            .shipping_address
            .map(|a| address(a, "shipping_address"))
            .transpose()?,
        billing_address: patch
            .billing_address
            .map(|a| address(a, "billing_address"))
            .transpose()?,
    };
    let idle = state.idle_secs();
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
        Box::pin(async move { cart_reply(&cart::set_contact(tx, id, contact, idle).await?) })
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLine {
    variant_id: Uuid,
    /// 1 to 100 (added to the line of the same variant, if any; the sum is at most 100)
    #[schema(minimum = 1, maximum = 100)]
    #[serde(deserialize_with = "whole")]
    quantity: i64,
}

impl Kind for NewLine {
    const KIND: &'static str = "line-items";
}

#[utoipa::path(
    post,
    path = "/store/carts/{id}/line-items",
    tag = "carts",
    summary = "Add a variant (quantity 1..=100; the price comes from the catalog)",
    params(("id" = Uuid, Path, description = "the cart id"), IdempotencyKey),
    request_body(content = Input<NewLine>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The cart", body = Document<Resource<CartOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn add_line(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    key: Key,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let id = path.into_inner();
    let input = parse_input::<NewLine>(&body)?.attributes;
    let q = quantity(input.quantity)?;
    let (idle, peers) = (state.idle_secs(), state.peers.clone());
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
        Box::pin(async move { cart_reply(&cart::add_line(tx, &peers, id, input.variant_id, q, idle).await?) })
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinePatch {
    #[schema(minimum = 1, maximum = 100)]
    #[serde(deserialize_with = "whole")]
    quantity: i64,
}

impl Kind for LinePatch {
    const KIND: &'static str = "line-items";
}

#[utoipa::path(
    patch,
    path = "/store/carts/{id}/line-items/{line_id}",
    tag = "carts",
    summary = "Change a line's quantity",
    params(
        ("id" = Uuid, Path, description = "the cart id"),
        ("line_id" = Uuid, Path, description = "the line id"),
        IdempotencyKey
    ),
    request_body(content = Input<LinePatch>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The cart", body = Document<Resource<CartOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn update_line(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    key: Key,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let (id, line) = path.into_inner();
    let q = quantity(parse_input::<LinePatch>(&body)?.attributes.quantity)?;
    let (idle, peers) = (state.idle_secs(), state.peers.clone());
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
        Box::pin(async move { cart_reply(&cart::set_quantity(tx, &peers, id, line, q, idle).await?) })
    })
    .await
}

#[utoipa::path(
    delete,
    path = "/store/carts/{id}/line-items/{line_id}",
    tag = "carts",
    summary = "Remove a line",
    params(
        ("id" = Uuid, Path, description = "the cart id"),
        ("line_id" = Uuid, Path, description = "the line id"),
        IdempotencyKey
    ),
    responses(
        (status = 200, description = "The cart", body = Document<Resource<CartOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn remove_line(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    key: Key,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let (id, line) = path.into_inner();
    let (idle, peers) = (state.idle_secs(), state.peers.clone());
    idempotency::run(&state.pool, &req, &who.0, key, &[], move |tx| {
        Box::pin(async move { cart_reply(&cart::remove_line(tx, &peers, id, line, idle).await?) })
    })
    .await
}

/// A shipping option the cart can choose.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShippingOptionOut {
    pub name: String,
    pub price: i64,
    pub currency: String,
}

#[utoipa::path(
    get,
    path = "/store/carts/{id}/shipping-options",
    tag = "carts",
    summary = "Shipping options of the cart's region",
    params(("id" = Uuid, Path, description = "the cart id")),
    responses(
        (status = 200, description = "Shipping options, cheapest first", body = Document<Vec<Resource<ShippingOptionOut>>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn shipping_options(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin(&who.0).await?;
    let (currency, options) = cart::shipping_options(&mut tx, path.into_inner(), state.idle_secs()).await?;
    tx.commit().await?;
    let data: Vec<_> = options
        .into_iter()
        .map(|ShippingOptionRow { id, name, price }| {
            Resource::new(
                "shipping-options",
                id,
                ShippingOptionOut {
                    name,
                    price,
                    currency: currency.as_str().to_owned(),
                },
            )
        })
        .collect();
    Ok(respond(StatusCode::OK, &Document::new(data)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingChoice {
    shipping_option_id: Uuid,
}

impl Kind for ShippingChoice {
    const KIND: &'static str = "shipping-methods";
}

#[utoipa::path(
    post,
    path = "/store/carts/{id}/shipping-method",
    tag = "carts",
    summary = "Choose a shipping option",
    params(("id" = Uuid, Path, description = "the cart id"), IdempotencyKey),
    request_body(content = Input<ShippingChoice>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The cart", body = Document<Resource<CartOut>>, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn choose_shipping(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authenticated,
    key: Key,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check(&who.0)?;
    let id = path.into_inner();
    let choice = parse_input::<ShippingChoice>(&body)?.attributes;
    let (idle, peers) = (state.idle_secs(), state.peers.clone());
    idempotency::run(&state.pool, &req, &who.0, key, &body, move |tx| {
        Box::pin(
            async move { cart_reply(&cart::choose_shipping(tx, &peers, id, choice.shipping_option_id, idle).await?) },
        )
    })
    .await
}
