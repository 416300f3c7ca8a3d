//! The cart's rules: its status, what it must hold before it can become an order, and its
//! totals. The order service loads a [`Cart`] from storage and asks it; nothing here does I/O.
//!
//! Two readiness rules, because the question differs:
//! * [`Cart::ready_for_checkout`] — may the customer pay for / complete this cart now? Every
//!   line for sale and priced, an e-mail, and an address and shipping method when a line is
//!   physical.
//! * [`Cart::ready_when_paid`] — the customer has already paid: can the cart still become an
//!   order at all? A line that went off sale meanwhile is sold anyway (the money is taken); a
//!   line without price, an empty cart or missing contact/shipping data cannot be.

use crate::money::{Currency, Money};
use crate::order::LineKind;
use crate::totals::{PricedLine, TaxRate, Totals, TotalsError};
use uuid::Uuid;

string_enum!(
    /// Where a cart is. `expired` is never stored: an `open` cart idle past the configured
    /// time reads as expired.
    CartStatus {
        Open => "open",
        Expired => "expired",
        Completed => "completed",
        PaymentRefunded => "payment_refunded",
    }
);

impl CartStatus {
    /// The status a reader sees: a stored `open` cart idle for too long is `expired`.
    pub fn seen(stored: CartStatus, idle_too_long: bool) -> CartStatus {
        match stored {
            CartStatus::Open if idle_too_long => CartStatus::Expired,
            s => s,
        }
    }
}

/// One line as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CartLine {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub sku: String,
    pub kind: LineKind,
    pub quantity: u32,
    /// None when the variant has no price in the cart's currency (any more).
    pub unit_price: Option<Money>,
    /// The variant and its product are for sale.
    pub available: bool,
}

impl CartLine {
    /// For sale and priced.
    pub fn buyable(&self) -> bool {
        self.available && self.unit_price.is_some()
    }
}

/// The cart as its rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cart {
    pub currency: Currency,
    pub tax: TaxRate,
    pub status: CartStatus,
    pub lines: Vec<CartLine>,
    pub email: Option<String>,
    pub has_shipping_address: bool,
    /// The price of the chosen shipping option, if one was chosen.
    pub shipping_price: Option<Money>,
}

/// Why a cart cannot be checked out (or, once paid, cannot become an order).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("the cart has no items")]
    Empty,
    #[error("{sku} is no longer for sale")]
    Unavailable { index: usize, sku: String },
    #[error("{sku} has no price in {currency}")]
    Unpriced {
        index: usize,
        sku: String,
        currency: Currency,
    },
    #[error("the cart has no e-mail address; set it first")]
    MissingEmail,
    #[error("physical items need a shipping address")]
    MissingShippingAddress,
    #[error("physical items need a shipping method")]
    MissingShippingMethod,
    #[error("physical items without address or shipping method")]
    MissingShipping,
}

impl NotReady {
    /// The stable code clients and events carry.
    pub fn code(&self) -> &'static str {
        match self {
            NotReady::Empty => "cart_empty",
            NotReady::Unavailable { .. } => "variant_unavailable",
            NotReady::Unpriced { .. } => "variant_unpriced",
            NotReady::MissingEmail => "missing_email",
            NotReady::MissingShippingAddress => "missing_shipping_address",
            NotReady::MissingShippingMethod => "missing_shipping_method",
            NotReady::MissingShipping => "missing_shipping",
        }
    }

    /// The cart member at fault, relative to the cart's attributes (e.g. `items/0`).
    pub fn member(&self) -> String {
        match self {
            NotReady::Empty => "items".into(),
            NotReady::Unavailable { index, .. } | NotReady::Unpriced { index, .. } => format!("items/{index}"),
            NotReady::MissingEmail => "email".into(),
            NotReady::MissingShippingAddress | NotReady::MissingShipping => "shipping_address".into(),
            NotReady::MissingShippingMethod => "shipping_option".into(),
        }
    }
}

/// A cart that is not open takes no changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the cart is {0}")]
pub struct NotOpen(pub CartStatus);

impl Cart {
    pub fn has_physical(&self) -> bool {
        self.lines.iter().any(|l| l.kind == LineKind::Physical)
    }

    pub fn require_open(&self) -> Result<(), NotOpen> {
        match self.status {
            CartStatus::Open => Ok(()),
            s => Err(NotOpen(s)),
        }
    }

    /// Server-computed totals over the priced lines; shipping counts only with a physical line.
    pub fn totals(&self) -> Result<Totals, TotalsError> {
        let lines: Vec<PricedLine> = self
            .lines
            .iter()
            .filter_map(|l| {
                Some(PricedLine {
                    unit_price: l.unit_price?,
                    quantity: l.quantity,
                })
            })
            .collect();
        let shipping = self.shipping_price.filter(|_| self.has_physical());
        Totals::compute(self.currency, &lines, shipping, self.tax)
    }

    /// A line's subtotal and its tax (None when the line has no price).
    pub fn line_amounts(&self, line: &CartLine) -> Option<(Money, Money)> {
        let unit = line.unit_price?;
        let sub = Money::try_new(unit.amount().checked_mul(i64::from(line.quantity))?, self.currency).ok()?;
        Some((sub, self.tax.tax_on(sub).ok()?))
    }

    /// What checkout needs (items for sale, e-mail, shipping for physical items); returns the
    /// e-mail.
    pub fn ready_for_checkout(&self) -> Result<&str, NotReady> {
        if self.lines.is_empty() {
            return Err(NotReady::Empty);
        }
        if let Some((index, l)) = self.lines.iter().enumerate().find(|(_, l)| !l.buyable()) {
            return Err(NotReady::Unavailable {
                index,
                sku: l.sku.clone(),
            });
        }
        let email = self.email.as_deref().ok_or(NotReady::MissingEmail)?;
        if self.has_physical() {
            if !self.has_shipping_address {
                return Err(NotReady::MissingShippingAddress);
            }
            if self.shipping_price.is_none() {
                return Err(NotReady::MissingShippingMethod);
            }
        }
        Ok(email)
    }

    /// Whether a cart that was paid for can still become an order (see the module docs);
    /// returns the e-mail.
    pub fn ready_when_paid(&self) -> Result<&str, NotReady> {
        if self.lines.is_empty() {
            return Err(NotReady::Empty);
        }
        if let Some((index, l)) = self.lines.iter().enumerate().find(|(_, l)| l.unit_price.is_none()) {
            return Err(NotReady::Unpriced {
                index,
                sku: l.sku.clone(),
                currency: self.currency,
            });
        }
        let email = self.email.as_deref().ok_or(NotReady::MissingEmail)?;
        if self.has_physical() && (!self.has_shipping_address || self.shipping_price.is_none()) {
            return Err(NotReady::MissingShipping);
        }
        Ok(email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn line(kind: LineKind, price: Option<u32>, available: bool) -> CartLine {
        CartLine {
            id: Uuid::now_v7(),
            variant_id: Uuid::now_v7(),
            sku: "SKU-1".into(),
            kind,
            quantity: 2,
            unit_price: price.map(|p| Money::new(p, eur())),
            available,
        }
    }

    fn cart(lines: Vec<CartLine>) -> Cart {
        Cart {
            currency: eur(),
            tax: TaxRate::from_basis_points(2000).unwrap(),
            status: CartStatus::Open,
            lines,
            email: Some("a@example.com".into()),
            has_shipping_address: false,
            shipping_price: None,
        }
    }

    #[test]
    fn an_idle_open_cart_reads_as_expired_and_only_an_open_one() {
        assert_eq!(CartStatus::seen(CartStatus::Open, true), CartStatus::Expired);
        assert_eq!(CartStatus::seen(CartStatus::Open, false), CartStatus::Open);
        assert_eq!(CartStatus::seen(CartStatus::Completed, true), CartStatus::Completed);
        let mut c = cart(vec![]);
        c.status = CartStatus::Completed;
        assert_eq!(c.require_open(), Err(NotOpen(CartStatus::Completed)));
    }

    #[test]
    fn checkout_needs_items_for_sale_an_email_and_shipping_for_physical_lines() {
        assert_eq!(cart(vec![]).ready_for_checkout(), Err(NotReady::Empty));
        let off = cart(vec![
            line(LineKind::Digital, Some(100), true),
            line(LineKind::Digital, Some(100), false),
        ]);
        assert_eq!(off.ready_for_checkout().unwrap_err().member(), "items/1");
        let unpriced = cart(vec![line(LineKind::Digital, None, true)]);
        assert_eq!(unpriced.ready_for_checkout().unwrap_err().code(), "variant_unavailable");
        let mut no_mail = cart(vec![line(LineKind::Digital, Some(100), true)]);
        no_mail.email = None;
        assert_eq!(no_mail.ready_for_checkout(), Err(NotReady::MissingEmail));
        let mut physical = cart(vec![line(LineKind::Physical, Some(100), true)]);
        assert_eq!(physical.ready_for_checkout(), Err(NotReady::MissingShippingAddress));
        physical.has_shipping_address = true;
        assert_eq!(physical.ready_for_checkout(), Err(NotReady::MissingShippingMethod));
        physical.shipping_price = Some(Money::new(500, eur()));
        assert_eq!(physical.ready_for_checkout(), Ok("a@example.com"));
    }

    #[test]
    fn a_paid_cart_becomes_an_order_even_off_sale_but_never_unpriced() {
        let off = cart(vec![line(LineKind::Digital, Some(100), false)]);
        assert!(off.ready_for_checkout().is_err());
        assert_eq!(off.ready_when_paid(), Ok("a@example.com"));
        let unpriced = cart(vec![line(LineKind::Digital, None, true)]);
        assert_eq!(unpriced.ready_when_paid().unwrap_err().code(), "variant_unpriced");
        let physical = cart(vec![line(LineKind::Physical, Some(100), true)]);
        assert_eq!(physical.ready_when_paid(), Err(NotReady::MissingShipping));
    }

    #[test]
    fn shipping_counts_only_with_a_physical_line() {
        let mut digital = cart(vec![line(LineKind::Digital, Some(1000), true)]);
        digital.shipping_price = Some(Money::new(500, eur()));
        let t = digital.totals().unwrap();
        assert_eq!(
            (
                t.subtotal.amount(),
                t.shipping.amount(),
                t.tax.amount(),
                t.total.amount()
            ),
            (2000, 0, 400, 2400)
        );
        let mut physical = cart(vec![line(LineKind::Physical, Some(1000), true)]);
        physical.shipping_price = Some(Money::new(500, eur()));
        assert_eq!(physical.totals().unwrap().total.amount(), 2000 + 500 + 500);
        let l = &physical.lines[0];
        let (sub, tax) = physical.line_amounts(l).unwrap();
        assert_eq!((sub.amount(), tax.amount()), (2000, 400));
    }
}
