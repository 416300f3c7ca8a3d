//! Validation helpers shared by the catalog's resources ([`super::regions`], [`super::products`]):
//! each error points at the offending member.

use ordo_domain::Currency;
use ordo_http::ApiError;

pub(super) fn invalid(code: &'static str, detail: &str, pointer: &str) -> ApiError {
    ApiError::unprocessable(code, detail, Some(pointer))
}

pub(super) fn currency(raw: &str, pointer: &str) -> Result<Currency, ApiError> {
    Currency::parse(raw).map_err(|e| invalid("invalid_currency", &e.to_string(), pointer))
}

pub(super) fn amount(raw: i64, pointer: &str) -> Result<i64, ApiError> {
    if (0..=i64::from(u32::MAX) * 100).contains(&raw) {
        Ok(raw)
    } else {
        Err(invalid("invalid_amount", "amounts are minor units, 0 or more", pointer))
    }
}

/// Free text by the domain's rule, the error pointing at `pointer`.
pub(super) fn text(raw: &str, field: &'static str, max: usize, pointer: &str) -> Result<String, ApiError> {
    ordo_domain::checkout::text(field, raw, max).map_err(|e| invalid(e.code, &e.message, pointer))
}
