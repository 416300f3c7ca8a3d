//! Carts: create, read and change them (e-mail, addresses, lines, shipping method) and hand out
//! their payment session. Prices, totals and status always come from the server; the rules
//! (open or not, ready for checkout, totals) are `ordo_domain::cart`'s.
//!
//! Every change to a cart that already has a payment session moves the session's amount in the
//! same transaction ([`super::payment::follow_cart`]), so the client secret a customer holds can
//! only ever pay what the cart costs now.

use super::payment::{self, Session};
use super::{Error, Peers, Result};
use crate::store::catalog::ShippingOptionRow;
use crate::store::{carts as store, catalog};
use ordo_domain::cart::{CartLine, CartStatus, NotOpen, NotReady};
use ordo_domain::checkout::{Address, Email, Quantity};
use ordo_domain::order::LineKind;
use ordo_domain::totals::{TaxRate, Totals};
use ordo_domain::{Currency, Money};
use serde_json::{Value, json};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// A cart as loaded: what the rules need ([`Cart::rules`]) and what the customer sees.
#[derive(Debug, Clone)]
pub struct Cart {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: String,
    pub region_id: Uuid,
    /// The region's countries (addresses must be in one).
    pub countries: Vec<String>,
    pub shipping_address: Option<Value>,
    pub billing_address: Option<Value>,
    pub shipping_option: Option<ShippingOptionRow>,
    /// The cart's PaymentIntent, once a payment session was handed out.
    pub payment_intent_id: Option<String>,
    /// The amount that session was last set to.
    pub payment_amount: Option<i64>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Status, currency, tax, lines, e-mail, shipping: everything the cart's rules look at.
    pub rules: ordo_domain::Cart,
    /// Per line (in the order of `rules.lines`): what only people read.
    pub details: Vec<LineDetail>,
}

#[derive(Debug, Clone)]
pub struct LineDetail {
    pub title: String,
    pub asset_key: Option<String>,
}

impl Cart {
    pub fn status(&self) -> CartStatus {
        self.rules.status
    }

    pub fn currency(&self) -> Currency {
        self.rules.currency
    }

    pub fn totals(&self) -> Result<Totals> {
        self.rules.totals().map_err(Error::internal)
    }

    /// Lines with their details.
    pub fn lines(&self) -> impl Iterator<Item = (&CartLine, &LineDetail)> {
        self.rules.lines.iter().zip(&self.details)
    }

    fn require_open(&self) -> Result<()> {
        self.rules.require_open().map_err(Error::from)
    }
}

impl From<NotOpen> for Error {
    fn from(NotOpen(status): NotOpen) -> Error {
        match status {
            CartStatus::Expired => Error::conflict("cart_expired", "this cart has expired; start a new one"),
            _ => Error::conflict("cart_completed", "this cart is already completed"),
        }
    }
}

impl From<NotReady> for Error {
    fn from(e: NotReady) -> Error {
        Error::invalid(e.code(), e.to_string(), &e.member())
    }
}

/// Load the cart `id` visible to the current scope (`NotFound` otherwise); `lock` takes its row
/// lock, so that concurrent changes and completions of one cart queue up.
pub async fn load(conn: &mut PgConnection, id: Uuid, idle_secs: u64, lock: bool) -> Result<Cart> {
    let row = store::find(conn, id, idle_secs, lock)
        .await?
        .ok_or_else(|| Error::not_found("cart", id))?;
    let (currency, tax) = region_rules(&row.currency, row.tax_rate_bp)?;
    let lines = row.lines.0;
    let stored =
        CartStatus::parse(&row.status).ok_or_else(|| Error::internal(format!("cart status {}", row.status)))?;
    let money = |v: i64| Money::try_new(v, currency).map_err(Error::internal);
    let mut rule_lines = Vec::with_capacity(lines.len());
    let mut details = Vec::with_capacity(lines.len());
    for l in lines {
        rule_lines.push(CartLine {
            id: l.id,
            variant_id: l.variant_id,
            kind: LineKind::parse(&l.kind).ok_or_else(|| Error::internal(format!("line kind {}", l.kind)))?,
            quantity: u32::try_from(l.quantity).map_err(Error::internal)?,
            unit_price: l.amount.map(money).transpose()?,
            available: l.available,
            sku: l.sku,
        });
        details.push(LineDetail {
            title: l.title,
            asset_key: l.asset_key,
        });
    }
    let shipping_option = match (row.shipping_option_id, row.shipping_name, row.shipping_price) {
        (Some(id), Some(name), Some(price)) => Some(ShippingOptionRow { id, name, price }),
        _ => None,
    };
    let rules = ordo_domain::Cart {
        currency,
        tax,
        status: CartStatus::seen(stored, row.idle),
        lines: rule_lines,
        email: row.email,
        has_shipping_address: row.shipping_address.is_some(),
        shipping_price: shipping_option.as_ref().map(|s| money(s.price)).transpose()?,
    };
    Ok(Cart {
        id,
        tenant_id: row.tenant_id,
        customer_id: row.customer_id,
        region_id: row.region_id,
        countries: row.countries,
        shipping_address: row.shipping_address,
        billing_address: row.billing_address,
        shipping_option,
        payment_intent_id: row.payment_intent_id,
        payment_amount: row.payment_amount,
        created_at: row.created_at,
        updated_at: row.updated_at,
        rules,
        details,
    })
}

/// The currency and tax rate a cart has from its region, as stored.
fn region_rules(currency: &str, tax_rate_bp: i32) -> Result<(Currency, TaxRate)> {
    Ok((
        Currency::parse(currency.trim()).map_err(Error::internal)?,
        TaxRate::from_basis_points(u32::try_from(tax_rate_bp).unwrap_or(0)).map_err(Error::internal)?,
    ))
}

/// Who owns a new cart or line.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub tenant_id: Uuid,
    pub customer_id: &'a str,
}

/// A new cart in an active region.
pub async fn create(conn: &mut PgConnection, owner: Owner<'_>, region: Uuid, email: Option<&Email>) -> Result<Cart> {
    let terms = catalog::region_terms(conn, region)
        .await?
        .ok_or_else(|| Error::invalid("unknown_region", "no such region", "region_id"))?;
    let (currency, tax) = region_rules(&terms.currency, terms.tax_rate_bp)?;
    let id = Uuid::now_v7();
    let created_at = store::insert(
        conn,
        &store::NewCart {
            id,
            tenant_id: owner.tenant_id,
            customer_id: owner.customer_id,
            region_id: region,
            currency: &terms.currency,
            email: email.map(Email::as_str),
        },
    )
    .await?;
    // The cart as written (what a read would return).
    Ok(Cart {
        id,
        tenant_id: owner.tenant_id,
        customer_id: owner.customer_id.to_owned(),
        region_id: region,
        countries: terms.countries,
        shipping_address: None,
        billing_address: None,
        shipping_option: None,
        payment_intent_id: None,
        payment_amount: None,
        created_at,
        updated_at: created_at,
        rules: ordo_domain::Cart {
            currency,
            tax,
            status: CartStatus::Open,
            lines: Vec::new(),
            email: email.map(|e| e.as_str().to_owned()),
            has_shipping_address: false,
            shipping_price: None,
        },
        details: Vec::new(),
    })
}

/// The e-mail and addresses to set (absent ones stay as they are).
#[derive(Debug, Default)]
pub struct Contact {
    pub email: Option<Email>,
    pub shipping_address: Option<Address>,
    pub billing_address: Option<Address>,
}

/// An address as stored, once its country is known to be one of the region's.
fn stored_address(a: Address, member: &str, countries: &[String]) -> Result<Value> {
    if !countries.iter().any(|c| c == a.country.as_str()) {
        return Err(Error::invalid(
            "country_not_in_region",
            format!("{} is not a country of this cart's region", a.country.as_str()),
            &format!("{member}/country"),
        ));
    }
    Ok(
        json!({"name": a.name, "line1": a.line1, "line2": a.line2, "city": a.city, "postal_code": a.postal_code,
              "region": a.region, "country": a.country.as_str(), "phone": a.phone}),
    )
}

pub async fn set_contact(conn: &mut PgConnection, id: Uuid, contact: Contact, idle_secs: u64) -> Result<Cart> {
    let mut cart = load(conn, id, idle_secs, true).await?;
    cart.require_open()?;
    let shipping = contact
        .shipping_address
        .map(|a| stored_address(a, "shipping_address", &cart.countries))
        .transpose()?;
    let billing = contact
        .billing_address
        .map(|a| stored_address(a, "billing_address", &cart.countries))
        .transpose()?;
    cart.updated_at = store::set_contact(
        conn,
        id,
        contact.email.as_ref().map(Email::as_str),
        shipping.as_ref(),
        billing.as_ref(),
    )
    .await?;
    // The locked cart with the change applied (what a read would return).
    if let Some(email) = contact.email {
        cart.rules.email = Some(email.as_str().to_owned());
    }
    if shipping.is_some() {
        cart.shipping_address = shipping;
        cart.rules.has_shipping_address = true;
    }
    if billing.is_some() {
        cart.billing_address = billing;
    }
    Ok(cart)
}

/// Add `quantity` of a variant (to the line of that variant, if there is one).
pub async fn add_line(
    conn: &mut PgConnection,
    peers: &Peers,
    id: Uuid,
    variant: Uuid,
    quantity: Quantity,
    idle_secs: u64,
) -> Result<Cart> {
    let mut cart = load(conn, id, idle_secs, true).await?;
    cart.require_open()?;
    let offer = catalog::offer(conn, variant, cart.currency().as_str())
        .await?
        .ok_or_else(|| Error::invalid("unknown_variant", "no such variant", "variant_id"))?;
    if !offer.active {
        return Err(Error::invalid(
            "variant_inactive",
            "this variant is not for sale",
            "variant_id",
        ));
    }
    let Some(amount) = offer.amount else {
        return Err(Error::invalid(
            "currency_not_offered",
            format!("this variant has no price in {}", cart.currency()),
            "variant_id",
        ));
    };
    let had = cart
        .rules
        .lines
        .iter()
        .find(|l| l.variant_id == variant)
        .map_or(0, |l| l.quantity);
    let total = Quantity::parse(i64::from(had) + i64::from(quantity.get()))
        .map_err(|e| Error::invalid(e.code, e.message, "quantity"))?;
    let (line, updated_at) = store::put_line(
        conn,
        cart.tenant_id,
        &cart.customer_id,
        id,
        variant,
        i32::try_from(total.get()).map_err(Error::internal)?,
    )
    .await?;
    // The locked cart with the line applied (what a read would return: lines in the order
    // they were added, so a new one comes last).
    cart.updated_at = updated_at;
    let quantity = total.get();
    match cart.rules.lines.iter_mut().find(|l| l.id == line) {
        Some(l) => l.quantity = quantity,
        None => {
            cart.rules.lines.push(CartLine {
                id: line,
                variant_id: variant,
                kind: LineKind::parse(&offer.kind)
                    .ok_or_else(|| Error::internal(format!("line kind {}", offer.kind)))?,
                quantity,
                unit_price: Some(Money::try_new(amount, cart.currency()).map_err(Error::internal)?),
                available: offer.active,
                sku: offer.sku,
            });
            cart.details.push(LineDetail {
                title: offer.title,
                asset_key: offer.asset_key,
            });
        }
    }
    payment::follow_cart(conn, peers, &cart).await?;
    Ok(cart)
}

pub async fn set_quantity(
    conn: &mut PgConnection,
    peers: &Peers,
    id: Uuid,
    line: Uuid,
    quantity: Quantity,
    idle_secs: u64,
) -> Result<Cart> {
    load(conn, id, idle_secs, true).await?.require_open()?;
    let q = i32::try_from(quantity.get()).map_err(Error::internal)?;
    if !store::set_line_quantity(conn, id, line, q).await? {
        return Err(Error::not_found("line item", line));
    }
    store::touch(conn, id).await?;
    changed(conn, peers, id, idle_secs).await
}

pub async fn remove_line(conn: &mut PgConnection, peers: &Peers, id: Uuid, line: Uuid, idle_secs: u64) -> Result<Cart> {
    load(conn, id, idle_secs, true).await?.require_open()?;
    if !store::delete_line(conn, id, line).await? {
        return Err(Error::not_found("line item", line));
    }
    store::touch(conn, id).await?;
    changed(conn, peers, id, idle_secs).await
}

/// The shipping options of the cart's region, cheapest first.
pub async fn shipping_options(
    conn: &mut PgConnection,
    id: Uuid,
    idle_secs: u64,
) -> Result<(Currency, Vec<ShippingOptionRow>)> {
    let cart = load(conn, id, idle_secs, false).await?;
    let options = catalog::shipping_options(conn, cart.region_id).await?;
    Ok((cart.currency(), options))
}

pub async fn choose_shipping(
    conn: &mut PgConnection,
    peers: &Peers,
    id: Uuid,
    option: Uuid,
    idle_secs: u64,
) -> Result<Cart> {
    let mut cart = load(conn, id, idle_secs, true).await?;
    cart.require_open()?;
    let Some(chosen) = catalog::shipping_option_in_region(conn, option, cart.region_id).await? else {
        return Err(Error::invalid(
            "unknown_shipping_option",
            "no such shipping option in this cart's region",
            "shipping_option_id",
        ));
    };
    cart.updated_at = store::set_shipping_option(conn, id, option).await?;
    // The locked cart with the option applied (what a read would return).
    cart.rules.shipping_price = Some(Money::try_new(chosen.price, cart.currency()).map_err(Error::internal)?);
    cart.shipping_option = Some(chosen);
    payment::follow_cart(conn, peers, &cart).await?;
    Ok(cart)
}

/// After a change that may move the total: bring the cart's payment session along.
async fn changed(conn: &mut PgConnection, peers: &Peers, id: Uuid, idle_secs: u64) -> Result<Cart> {
    let cart = load(conn, id, idle_secs, false).await?;
    payment::follow_cart(conn, peers, &cart).await?;
    Ok(cart)
}

/// The cart's payment session for its total (created once, set to the total on every call).
pub async fn payment_session(conn: &mut PgConnection, peers: &Peers, id: Uuid, idle_secs: u64) -> Result<Session> {
    let cart = load(conn, id, idle_secs, true).await?;
    cart.require_open()?;
    let email = cart.rules.ready_for_checkout()?.to_owned();
    let total = cart.totals()?.total;
    payment::request_session(conn, peers, &cart, total.amount(), &email).await
}
