//! Completing a cart into an order — the one place an order is born (`Order::place`), used by
//! `POST /store/carts/{id}/complete` ([`complete_cart`]) and by the `payment.succeeded`
//! consumer when the storefront never completed a paid cart ([`complete_paid`]).
//!
//! Completion runs in the caller's transaction: the cart row is locked (`FOR UPDATE`), so
//! concurrent completions of one cart queue up and all answer with the same order (also enforced
//! by `orders_one_per_cart`); limited stock is reserved with conditional decrements (never below
//! zero) in variant order (one lock order: no deadlocks); the per-tenant order number (no gaps),
//! the order, its lines, the first history row and `ordo.order.v1.placed` commit together. The
//! rows every completion wants — a popular variant's stock, the tenant's counter — are taken
//! last, so each is held for the end of one transaction, not for all of it.

use super::cart::{self, Cart};
use super::{Error, Result, lifecycle};
use crate::store::catalog;
use crate::store::orders::{self as store, LineRow};
use ordo_bus::outbox::Outbox;
use ordo_db::Scope;
use ordo_domain::cart::{CartLine, CartStatus};
use ordo_domain::order::{Order, TriggerKind};
use ordo_domain::totals::Totals;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// Turn the cart into an order; returns the order id. A completed cart returns its existing
/// order. A cart with a payment session whose total moved under it (a catalog price change) is
/// refused with `payment_session_stale`: the customer asks for a new session first, so Stripe
/// never charges another amount.
pub async fn complete_cart(conn: &mut PgConnection, id: Uuid, idle_secs: u64, actor: &str) -> Result<Uuid> {
    let cart = cart::load(conn, id, idle_secs, true).await?;
    if cart.status() == CartStatus::Completed {
        return existing_order(conn, id).await;
    }
    cart.rules.require_open()?;
    let email = cart.rules.ready_for_checkout()?.to_owned();
    let totals = cart.totals()?;
    if cart.payment_intent_id.is_some()
        && let Some(session) = cart.payment_amount
        && session != totals.total.amount()
    {
        return Err(Error::conflict(
            "payment_session_stale",
            format!(
                "the cart's total is {} but its payment session is for {session}; ask for a new payment session",
                totals.total.amount()
            ),
        ));
    }
    place(conn, &cart, &email, &totals, actor, false).await
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

/// The customer has paid for cart `id` but the storefront never completed it (the browser died):
/// complete it now, so that nobody is charged without an order. The order is made even if the
/// cart idled past its expiry, a variant went off sale or stock ran out meanwhile (stock floors
/// at zero, the oversell is logged); whether the payment covers it is the state machine's call.
/// A cart that cannot become an order at all (`Cart::ready_when_paid`) is [`PaidCart::Rejected`].
pub async fn complete_paid(conn: &mut PgConnection, id: Uuid, idle_secs: u64, actor: &str) -> Result<PaidCart> {
    let cart = match cart::load(conn, id, idle_secs, true).await {
        Ok(c) => c,
        Err(Error::NotFound { .. }) => {
            return Ok(PaidCart::Rejected {
                code: "cart_unknown",
                message: format!("no cart {id}"),
                cart: None,
            });
        }
        Err(e) => return Err(e),
    };
    match cart.status() {
        CartStatus::Completed => return existing_order(conn, id).await.map(PaidCart::Order),
        CartStatus::Open | CartStatus::Expired => {}
        other => {
            return Ok(PaidCart::Rejected {
                code: "cart_closed",
                message: format!("the cart is {other}"),
                cart: Some(Box::new(cart)),
            });
        }
    }
    let email = match cart.rules.ready_when_paid() {
        Ok(e) => e.to_owned(),
        Err(e) => {
            return Ok(PaidCart::Rejected {
                code: e.code(),
                message: e.to_string(),
                cart: Some(Box::new(cart)),
            });
        }
    };
    let totals = cart.totals()?;
    place(conn, &cart, &email, &totals, actor, true)
        .await
        .map(PaidCart::Order)
}

async fn existing_order(conn: &mut PgConnection, cart: Uuid) -> Result<Uuid> {
    store::id_by_cart(conn, cart)
        .await?
        .ok_or_else(|| Error::internal("completed cart without order"))
}

/// Reserve stock and write the order. `paid`: take what stock there is instead of refusing
/// (each line records what it really took, so a cancellation gives back no more than that).
///
/// Hot rows last: a popular variant's stock row and the tenant's order counter are locked by
/// every completion that touches them until it commits, so they are taken at the very end —
/// the stock, then one statement for number, order, lines, first history row and cart — and
/// only the event, the response and the commit follow.
async fn place(
    conn: &mut PgConnection,
    cart: &Cart,
    email: &str,
    totals: &Totals,
    actor: &str,
    paid: bool,
) -> Result<Uuid> {
    // From here on the service acts for the tenant (stock, counters) on the customer's behalf.
    ordo_db::set_scope(conn, &Scope::service(cart.tenant_id)).await?;
    let order_id = Uuid::now_v7();
    let lines: Vec<(Uuid, &CartLine)> = cart.rules.lines.iter().map(|l| (Uuid::now_v7(), l)).collect();
    let order = Order::place(totals.total, lines.iter().map(|(id, l)| (*id, l.kind)).collect())?;
    let currency = cart.currency();
    let physical = cart.rules.has_physical();
    let mut rows = Vec::with_capacity(lines.len());
    for ((line_id, l), detail) in lines.iter().zip(&cart.details) {
        let (subtotal, tax) = cart
            .rules
            .line_amounts(l)
            .ok_or_else(|| Error::internal(format!("line {} without price", l.sku)))?;
        rows.push(LineRow {
            id: *line_id,
            variant_id: l.variant_id,
            sku: l.sku.clone(),
            title: detail.title.clone(),
            kind: l.kind.as_str().to_owned(),
            asset_key: detail.asset_key.clone(),
            quantity: i32::try_from(l.quantity).map_err(Error::internal)?,
            unit_price: l.unit_price.map(|m| m.amount()).unwrap_or(0),
            subtotal: subtotal.amount(),
            tax: tax.amount(),
            fulfilled: false,
            delivered: false,
        });
    }
    let mut record = lifecycle::Record {
        id: order_id,
        tenant_id: cart.tenant_id,
        customer_id: cart.customer_id.clone(),
        cart_id: cart.id,
        number: 0,
        email: email.to_owned(),
        currency,
        payment_intent_id: cart.payment_intent_id.clone(),
        version: 1,
        subtotal: totals.subtotal.amount(),
        shipping: totals.shipping.amount(),
        tax: totals.tax.amount(),
        lines: rows.iter().map(|r| lifecycle::wire_line(r, currency)).collect(),
    };
    let (event_id, mut event) = lifecycle::placed_event(&order, &record)?;
    let reserved = reserve(conn, cart, paid).await?;
    let taken: Vec<i32> = lines
        .iter()
        .zip(&rows)
        .map(|((_, l), row)| reserved.get(&l.id).copied().unwrap_or(row.quantity))
        .collect();
    record.number = store::insert_placed(
        conn,
        &store::NewOrder {
            id: order_id,
            tenant_id: cart.tenant_id,
            customer_id: &cart.customer_id,
            cart_id: cart.id,
            email,
            currency: currency.as_str(),
            status: order.status().as_str(),
            payment_status: order.payment_status().as_str(),
            fulfillment_status: order.fulfillment_status().as_str(),
            subtotal: totals.subtotal.amount(),
            shipping_total: totals.shipping.amount(),
            tax_total: totals.tax.amount(),
            total: order.total().amount(),
            region_id: cart.region_id,
            shipping_option_id: cart.shipping_option.as_ref().filter(|_| physical).map(|s| s.id),
            shipping_address: cart.shipping_address.as_ref(),
            billing_address: cart.billing_address.as_ref(),
            payment_intent_id: cart.payment_intent_id.as_deref(),
        },
        &rows,
        &taken,
        &store::FirstHistory {
            to: order.status().as_str(),
            trigger: TriggerKind::CartCompleted.as_str(),
            event_id,
            actor,
        },
    )
    .await?;
    event.order_number = u64::try_from(record.number).map_err(Error::internal)?;
    Outbox::new(crate::SCHEMA).enqueue(conn, &event).await?;
    Ok(order_id)
}

/// Take each line's stock, variants in id order; returns what each cart line took.
async fn reserve(conn: &mut PgConnection, cart: &Cart, paid: bool) -> Result<HashMap<Uuid, i32>> {
    let mut by_variant: Vec<(usize, &CartLine)> = cart.rules.lines.iter().enumerate().collect();
    by_variant.sort_by_key(|(_, l)| l.variant_id); // one lock order for every completion: no deadlocks
    let mut reserved = HashMap::new();
    for (pos, l) in by_variant {
        let q = i32::try_from(l.quantity).map_err(Error::internal)?;
        if catalog::take_stock(conn, l.variant_id, q).await? {
            reserved.insert(l.id, q);
        } else if paid {
            let left = catalog::take_rest(conn, l.variant_id).await?.clamp(0, q);
            tracing::warn!(cart = %cart.id, sku = %l.sku, wanted = q, taken = left, "paid cart completed beyond stock (oversold)");
            reserved.insert(l.id, left);
        } else {
            return Err(Error::Conflict {
                code: "out_of_stock",
                message: format!("not enough {} in stock", l.sku),
                member: Some(format!("items/{pos}")),
            });
        }
    }
    Ok(reserved)
}
