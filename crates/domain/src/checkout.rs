//! Validated checkout inputs. Each type can only hold a valid value: build it with `parse`,
//! which names the offending field on failure (the HTTP layer turns that into a pointer).

use crate::totals::MAX_LINE_QUANTITY;

/// Which field failed and why (`field` is relative, e.g. `postal_code`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            code,
            message: message.into(),
        }
    }
}

/// An e-mail address: `local@domain.tld`, at most 254 bytes, no spaces or control characters;
/// the domain part is lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let bad = || FieldError::new("email", "invalid_email", format!("{raw:?} is not an e-mail address"));
        let s = raw.trim();
        if s.is_empty() || s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || labels.len() < 2
            || !labels.iter().all(label_ok)
        {
            return Err(bad());
        }
        Ok(Email(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ISO 3166-1 alpha-2 country code (two ASCII letters, stored upper-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<CountryCode, FieldError> {
        let s = raw.trim();
        if s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()) {
            Ok(CountryCode(s.to_ascii_uppercase()))
        } else {
            Err(FieldError::new(
                "country",
                "invalid_country",
                format!("{raw:?} is not an ISO 3166-1 alpha-2 code"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unvalidated address fields as they arrive.
#[derive(Debug, Clone, Default)]
pub struct RawAddress {
    pub name: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
}

/// A postal address with its required fields present and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub region: Option<String>,
    pub country: CountryCode,
    pub phone: Option<String>,
}

fn required(field: &'static str, v: Option<String>, max: usize) -> Result<String, FieldError> {
    let v = v.map(|s| s.trim().to_owned()).unwrap_or_default();
    if v.is_empty() {
        return Err(FieldError::new(field, "missing_field", format!("{field} is required")));
    }
    bounded(field, v, max)
}

fn optional(field: &'static str, v: Option<String>, max: usize) -> Result<Option<String>, FieldError> {
    match v.map(|s| s.trim().to_owned()) {
        Some(s) if !s.is_empty() => bounded(field, s, max).map(Some),
        _ => Ok(None),
    }
}

fn bounded(field: &'static str, v: String, max: usize) -> Result<String, FieldError> {
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "invalid_field",
            format!("{field} must be at most {max} printable characters"),
        ));
    }
    Ok(v)
}

impl Address {
    /// Validate every field; all errors are returned, not just the first.
    pub fn parse(raw: RawAddress) -> Result<Address, Vec<FieldError>> {
        let name = required("name", raw.name, 200);
        let line1 = required("line1", raw.line1, 200);
        let line2 = optional("line2", raw.line2, 200);
        let city = required("city", raw.city, 100);
        let postal_code = required("postal_code", raw.postal_code, 20);
        let region = optional("region", raw.region, 100);
        let country = match raw.country {
            Some(c) => CountryCode::parse(&c),
            None => Err(FieldError::new("country", "missing_field", "country is required")),
        };
        let phone = optional("phone", raw.phone, 40);
        match (name, line1, line2, city, postal_code, region, country, phone) {
            (Ok(name), Ok(line1), Ok(line2), Ok(city), Ok(postal_code), Ok(region), Ok(country), Ok(phone)) => {
                Ok(Address {
                    name,
                    line1,
                    line2,
                    city,
                    postal_code,
                    region,
                    country,
                    phone,
                })
            }
            (a, b, c, d, e, f, g, h) => {
                let errs = [a.err(), b.err(), c.err(), d.err(), e.err(), f.err(), g.err(), h.err()];
                Err(errs.into_iter().flatten().collect())
            }
        }
    }
}

/// A line quantity, 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(u32);

impl Quantity {
    pub fn parse(raw: i64) -> Result<Quantity, FieldError> {
        match u32::try_from(raw) {
            Ok(q) if (1..=MAX_LINE_QUANTITY).contains(&q) => Ok(Quantity(q)),
            _ => Err(FieldError::new(
                "quantity",
                "invalid_quantity",
                format!("quantity must be between 1 and {MAX_LINE_QUANTITY}, got {raw}"),
            )),
        }
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

/// A stock-keeping unit: 1–64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Sku, FieldError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(Sku(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "sku",
                "invalid_sku",
                format!("{raw:?} is not a valid SKU"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@example.com", "first.last+tag@sub.example.co.uk", "x@EXAMPLE.COM"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Email::parse("X@EXAMPLE.COM").unwrap().as_str(), "X@example.com");
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a@b",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            "a@@b.com",
            "a@b\n.com",
            "a\u{0}@b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn addresses_report_every_bad_field() {
        let errs = Address::parse(RawAddress {
            country: Some("Germany".into()),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name", "line1", "city", "postal_code", "country"]);
        let ok = Address::parse(RawAddress {
            name: Some(" Ada ".into()),
            line1: Some("1 Main St".into()),
            city: Some("Berlin".into()),
            postal_code: Some("10115".into()),
            country: Some("de".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((ok.name.as_str(), ok.country.as_str()), ("Ada", "DE"));
    }

    #[test]
    fn quantities_and_skus() {
        for q in [1, 100] {
            assert!(Quantity::parse(q).is_ok());
        }
        for q in [0, -1, 101, 1_000_000_000, i64::MAX] {
            assert!(Quantity::parse(q).is_err(), "{q}");
        }
        assert!(Sku::parse("COMIC-001.v2_a").is_ok());
        for bad in ["", "-a", "a b", "ä", &"a".repeat(65)] {
            assert!(Sku::parse(bad).is_err(), "{bad}");
        }
    }
}
