//! Cart and order totals, computed by the server only.
//!
//! Rounding rule (documented for clients): tax is computed per line on the line subtotal
//! (unit price × quantity) and on the shipping price, each rounded half-up to the minor unit,
//! then summed. `total = subtotal + shipping + tax`.

use crate::money::{Currency, Money, MoneyError};

/// A tax rate in basis points (1/100 of a percent): 2000 = 20 %. At most 100 %.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaxRate(u32);

impl TaxRate {
    pub fn from_basis_points(bp: u32) -> Result<Self, TotalsError> {
        if bp > 10_000 {
            return Err(TotalsError::InvalidTaxRate(bp));
        }
        Ok(Self(bp))
    }

    pub fn basis_points(&self) -> u32 {
        self.0
    }

    /// Tax on an amount, rounded half-up.
    pub fn tax_on(&self, amount: Money) -> Result<Money, MoneyError> {
        let num = i128::from(amount.amount()) * i128::from(self.0);
        let rounded = (num + 5_000) / 10_000;
        let v = i64::try_from(rounded).map_err(|_| MoneyError::Overflow)?;
        Money::try_new(v, amount.currency())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotalsError {
    #[error("tax rate {0} basis points is above 100 %")]
    InvalidTaxRate(u32),
    #[error("quantity must be between 1 and {max}, got {got}")]
    InvalidQuantity { got: u32, max: u32 },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Maximum quantity of one line.
pub const MAX_LINE_QUANTITY: u32 = 100;

/// One priced line as the totals see it.
#[derive(Clone, Copy, Debug)]
pub struct PricedLine {
    pub unit_price: Money,
    pub quantity: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
}

impl Totals {
    pub fn compute(
        currency: Currency,
        lines: &[PricedLine],
        shipping: Option<Money>,
        rate: TaxRate,
    ) -> Result<Totals, TotalsError> {
        let mut subtotal = Money::zero(currency);
        let mut tax = Money::zero(currency);
        for line in lines {
            if line.quantity == 0 || line.quantity > MAX_LINE_QUANTITY {
                return Err(TotalsError::InvalidQuantity {
                    got: line.quantity,
                    max: MAX_LINE_QUANTITY,
                });
            }
            let line_subtotal = line.unit_price.checked_mul(line.quantity)?;
            subtotal = subtotal.checked_add(line_subtotal)?;
            tax = tax.checked_add(rate.tax_on(line_subtotal)?)?;
        }
        let shipping = shipping.unwrap_or(Money::zero(currency));
        tax = tax.checked_add(rate.tax_on(shipping)?)?;
        let total = subtotal.checked_add(shipping)?.checked_add(tax)?;
        Ok(Totals {
            subtotal,
            shipping,
            tax,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn per_line_half_up_rounding() {
        let rate = TaxRate::from_basis_points(1900).unwrap(); // 19 %
        let lines = [
            PricedLine {
                unit_price: Money::new(999, eur()),
                quantity: 1,
            }, // 189.81 -> 190
            PricedLine {
                unit_price: Money::new(250, eur()),
                quantity: 3,
            }, // 142.5 -> 143
        ];
        let t = Totals::compute(eur(), &lines, Some(Money::new(490, eur())), rate).unwrap(); // 93.1 -> 93
        assert_eq!(t.subtotal.amount(), 1749);
        assert_eq!(t.tax.amount(), 190 + 143 + 93);
        assert_eq!(t.shipping.amount(), 490);
        assert_eq!(t.total.amount(), 1749 + 490 + 426);
    }

    #[test]
    fn refuses_bad_quantities_rates_and_currencies() {
        let rate = TaxRate::from_basis_points(0).unwrap();
        for q in [0, 101] {
            let l = [PricedLine {
                unit_price: Money::new(1, eur()),
                quantity: q,
            }];
            assert!(matches!(
                Totals::compute(eur(), &l, None, rate),
                Err(TotalsError::InvalidQuantity { .. })
            ));
        }
        assert!(TaxRate::from_basis_points(10_001).is_err());
        let usd = Currency::parse("USD").unwrap();
        let l = [PricedLine {
            unit_price: Money::new(1, usd),
            quantity: 1,
        }];
        assert!(matches!(
            Totals::compute(eur(), &l, None, rate),
            Err(TotalsError::Money(_))
        ));
    }
}
