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

/// Free text as an API accepts it, spelled as a JSON Schema `pattern` (used with `maxLength` in
/// characters): no control character, and at least one character that is not white space. The
/// value is stored trimmed. [`text`] is the same rule in code.
pub const TEXT_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00-\\x1f\\x7f-\\x9f]*$";

/// Optional free text: no control character; white space alone means absent.
pub const OPTIONAL_TEXT_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

/// [`Email`]'s rule as a JSON Schema `pattern` (with `maxLength` 254).
pub const EMAIL_PATTERN: &str = "^[^@\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";

/// [`CountryCode`]'s rule as a JSON Schema `pattern`.
pub const COUNTRY_PATTERN: &str = "^[A-Za-z]{2}$";

/// [`Sku`]'s rule as a JSON Schema `pattern`.
pub const SKU_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// The characters [`TEXT_PATTERN`] calls white space (Unicode `White_Space`, as
/// `char::is_whitespace`).
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Free text of at most `max` characters ([`TEXT_PATTERN`]), trimmed; `missing_field` when it
/// is only white space, `invalid_field` when too long or holding a control character.
pub fn text(field: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    if raw.chars().count() > max || raw.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "invalid_field",
            format!("{field} must be at most {max} printable characters"),
        ));
    }
    if raw.chars().all(is_space) {
        return Err(FieldError::new(field, "missing_field", format!("{field} is required")));
    }
    Ok(raw.trim().to_owned())
}

/// An e-mail address ([`EMAIL_PATTERN`]): at most 254 characters; a local part of 1 to 64
/// characters without `@`, white space or control characters; a domain of two or more
/// letter-digit-hyphen labels (IDNs in their `xn--` form). Stored with the domain lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let bad = || FieldError::new("email", "invalid_email", format!("{raw:?} is not an e-mail address"));
        if raw.chars().count() > 254 {
            return Err(bad());
        }
        let (local, domain) = raw.split_once('@').ok_or_else(bad)?;
        let local_ok =
            (1..=64).contains(&local.chars().count()) && !local.chars().any(|c| is_space(c) || c.is_control());
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let labels: Vec<&str> = domain.split('.').collect();
        if !local_ok || labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
            return Err(bad());
        }
        Ok(Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ISO 3166-1 alpha-2 country code (two ASCII letters, either case; stored upper-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<CountryCode, FieldError> {
        if raw.len() == 2 && raw.chars().all(|c| c.is_ascii_alphabetic()) {
            Ok(CountryCode(raw.to_ascii_uppercase()))
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
    match v {
        Some(v) => text(field, &v, max),
        None => Err(FieldError::new(field, "missing_field", format!("{field} is required"))),
    }
}

/// [`OPTIONAL_TEXT_PATTERN`] with `maxLength` `max`.
fn optional(field: &'static str, v: Option<String>, max: usize) -> Result<Option<String>, FieldError> {
    match v {
        Some(v) if v.chars().count() <= max && v.chars().all(|c| is_space(c) && !c.is_control()) => Ok(None),
        Some(v) => text(field, &v, max).map(Some),
        None => Ok(None),
    }
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
