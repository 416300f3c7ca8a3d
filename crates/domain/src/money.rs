//! Money as integer minor units with an ISO 4217 currency. No floats anywhere near a price.

use std::fmt;

/// An ISO 4217 alphabetic code: exactly three ASCII uppercase letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency must be three uppercase letters (ISO 4217), got {0:?}")]
    InvalidCurrency(String),
    #[error("currencies differ: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflows")]
    Overflow,
    #[error("amount must not be negative")]
    Negative,
}

/// [`Currency`]'s rule as a JSON Schema `pattern`: three upper-case letters.
pub const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";

impl Currency {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let bytes = code.as_bytes();
        match bytes {
            [a, b, c] if bytes.iter().all(u8::is_ascii_uppercase) => Ok(Self([*a, *b, *c])),
            _ => Err(MoneyError::InvalidCurrency(code.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Number of minor-unit digits (ISO 4217 exponent) for formatting.
    pub fn exponent(&self) -> u32 {
        match self.as_str() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" | "PYG" | "RWF" => 0,
            "BHD" | "JOD" | "KWD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

/// An amount in minor units (cents) of one currency. Never negative.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Money {
    amount: i64,
    currency: Currency,
}

impl Money {
    /// Build from minor units; negative amounts are clamped by [`Money::try_new`], this
    /// constructor is for amounts known to be valid (literals, sums of valid amounts).
    pub const fn new(amount: u32, currency: Currency) -> Self {
        Self {
            amount: amount as i64,
            currency,
        }
    }

    pub fn try_new(amount: i64, currency: Currency) -> Result<Self, MoneyError> {
        if amount < 0 {
            return Err(MoneyError::Negative);
        }
        Ok(Self { amount, currency })
    }

    pub fn zero(currency: Currency) -> Self {
        Self { amount: 0, currency }
    }

    pub fn amount(&self) -> i64 {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.amount == 0
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let amount = self.amount.checked_add(other.amount).ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// `self - other`, refusing to go below zero.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let amount = self.amount.checked_sub(other.amount).ok_or(MoneyError::Overflow)?;
        Money::try_new(amount, self.currency)
    }

    pub fn checked_mul(self, quantity: u32) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(i64::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// Human form, e.g. `12.99 EUR`, `1500 JPY`.
    pub fn display(&self) -> String {
        let exp = self.currency.exponent();
        if exp == 0 {
            return format!("{} {}", self.amount, self.currency);
        }
        let div = 10i64.pow(exp);
        format!(
            "{}.{:0width$} {}",
            self.amount / div,
            self.amount % div,
            self.currency,
            width = exp as usize
        )
    }
}

/// `amount_minor` of `currency`, with the currency's decimals (ISO 4217), thousands separated,
/// and its symbol where one is common: `€1,234.50`, `¥1,546`, `12.00 SEK`.
pub fn human(amount_minor: i64, currency: &str) -> String {
    let exp = Currency::parse(currency).map_or(2, |c| c.exponent());
    let div = 10i64.pow(exp);
    let (sign, abs) = if amount_minor < 0 {
        ("-", -amount_minor)
    } else {
        ("", amount_minor)
    };
    let units = (abs / div).to_string();
    let mut grouped = String::new();
    for (i, ch) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let number = if exp == 0 {
        grouped
    } else {
        format!("{grouped}.{:0width$}", abs % div, width = exp as usize)
    };
    let symbol = match currency {
        "EUR" => Some("€"),
        "USD" => Some("$"),
        "GBP" => Some("£"),
        "JPY" => Some("¥"),
        _ => None,
    };
    match symbol {
        Some(s) => format!("{sign}{s}{number}"),
        None => format!("{sign}{number} {currency}"),
    }
}

/// `amount_minor` of `currency` as a plain decimal number (`1234.50`, `1546` for JPY): for
/// files other programs read.
pub fn plain(amount_minor: i64, currency: &str) -> String {
    let exp = Currency::parse(currency).map_or(2, |c| c.exponent());
    if exp == 0 {
        return amount_minor.to_string();
    }
    let div = 10i64.pow(exp);
    let sign = if amount_minor < 0 { "-" } else { "" };
    let abs = amount_minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / div as u64,
        abs % div as u64,
        width = exp as usize
    )
}

/// An amount a person typed in major units (`12.5`, `12.50`, `1,234.50`, `1546` for JPY) as
/// minor units of a currency with `exponent` decimals; `None` when it is not a plain
/// non-negative amount with at most that many decimals.
pub fn parse_major(text: &str, exponent: u32) -> Option<i64> {
    let t: String = text.trim().chars().filter(|c| *c != ',' && *c != ' ').collect();
    let (units, frac) = match t.split_once('.') {
        Some((u, f)) => (u, Some(f)),
        None => (t.as_str(), None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let frac = match frac {
        Some(f) if !digits(f) => return None,
        Some(f) => f,
        None => "",
    };
    if !digits(units) || frac.len() > exponent as usize || units.len() > 15 {
        return None;
    }
    let scale = 10i64.pow(exponent);
    let frac_value = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().ok()? * 10i64.pow(exponent - frac.len() as u32)
    };
    units.parse::<i64>().ok()?.checked_mul(scale)?.checked_add(frac_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_parsing() {
        assert!(Currency::parse("EUR").is_ok());
        for bad in ["eur", "EU", "EURO", "", "E1R", "ÉUR"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arithmetic_refuses_mixed_currencies_and_overflow() {
        let eur = Currency::parse("EUR").unwrap();
        let usd = Currency::parse("USD").unwrap();
        let a = Money::new(100, eur);
        assert_eq!(a.checked_add(Money::new(50, eur)).unwrap().amount(), 150);
        assert!(matches!(
            a.checked_add(Money::new(1, usd)),
            Err(MoneyError::CurrencyMismatch(..))
        ));
        assert!(matches!(a.checked_sub(Money::new(101, eur)), Err(MoneyError::Negative)));
        let big = Money::try_new(i64::MAX, eur).unwrap();
        assert_eq!(big.checked_add(a), Err(MoneyError::Overflow));
        assert_eq!(big.checked_mul(2), Err(MoneyError::Overflow));
        assert!(Money::try_new(-1, eur).is_err());
    }

    #[test]
    fn display_uses_currency_exponent() {
        assert_eq!(Money::new(1299, Currency::parse("EUR").unwrap()).display(), "12.99 EUR");
        assert_eq!(Money::new(5, Currency::parse("USD").unwrap()).display(), "0.05 USD");
        assert_eq!(Money::new(1500, Currency::parse("JPY").unwrap()).display(), "1500 JPY");
        assert_eq!(Money::new(1500, Currency::parse("KWD").unwrap()).display(), "1.500 KWD");
    }

    #[test]
    fn human_and_typed_amounts() {
        assert_eq!(human(154_600, "EUR"), "€1,546.00");
        assert_eq!(human(1546, "JPY"), "¥1,546");
        assert_eq!(human(1200, "SEK"), "12.00 SEK");
        assert_eq!(human(5, "USD"), "$0.05");
        assert_eq!(human(-250, "GBP"), "-£2.50");
        assert_eq!(human(1_234_567, "KWD"), "1,234.567 KWD");
        assert_eq!(
            (plain(123_450, "EUR"), plain(-5, "USD"), plain(1546, "JPY")),
            ("1234.50".into(), "-0.05".into(), "1546".into())
        );
        assert_eq!(parse_major("12.5", 2), Some(1250));
        assert_eq!(parse_major(" 1,234.50 ", 2), Some(123_450));
        assert_eq!(parse_major("7", 2), Some(700));
        assert_eq!(parse_major("1546", 0), Some(1546));
        for bad in ["", ".5", "1.", "1.234", "-1", "1e3", "abc", "1.5", "9999999999999999"] {
            let exp = if bad == "1.5" { 0 } else { 2 };
            assert_eq!(parse_major(bad, exp), None, "{bad}");
        }
    }
}
