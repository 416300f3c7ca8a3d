//! The one place a use case's [`app::Error`] becomes an HTTP answer, with the one table of the
//! payment and delivery services' RPC error codes.

use crate::app::Error;
use actix_web::http::StatusCode;
use ordo_http::ApiError;

/// RPC error code of another service → HTTP status and the code clients see.
const RPC_ERRORS: &[(&str, StatusCode, &str)] = &[
    // any service: its database went away under the request (rolled back; retry)
    ("unavailable", StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
    // payment service (payment sessions)
    ("payment_in_progress", StatusCode::CONFLICT, "payment_in_progress"),
    ("payment_canceled", StatusCode::CONFLICT, "payment_canceled"),
    ("currency_changed", StatusCode::CONFLICT, "currency_changed"),
    (
        "stripe_unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "payment_provider_unavailable",
    ),
    (
        "stripe_mismatch",
        StatusCode::SERVICE_UNAVAILABLE,
        "payment_provider_unavailable",
    ),
    ("stripe_refused", StatusCode::BAD_GATEWAY, "payment_provider_refused"),
    // delivery service (download links, shipments)
    ("order_unknown", StatusCode::CONFLICT, "order_not_paid"),
    ("grants_revoked", StatusCode::CONFLICT, "downloads_revoked"),
    ("order_revoked", StatusCode::CONFLICT, "order_refunded_or_canceled"),
    ("invalid_shipment", StatusCode::UNPROCESSABLE_ENTITY, "invalid_shipment"),
    ("line_unknown", StatusCode::UNPROCESSABLE_ENTITY, "line_unknown"),
    (
        "line_not_physical",
        StatusCode::UNPROCESSABLE_ENTITY,
        "line_not_physical",
    ),
    ("line_already_shipped", StatusCode::CONFLICT, "line_already_shipped"),
    ("shipment_unknown", StatusCode::NOT_FOUND, "not_found"),
];

fn refused(service: &str, code: &str, message: &str) -> ApiError {
    match RPC_ERRORS.iter().find(|(c, _, _)| *c == code) {
        Some((_, status, public)) => ApiError::new(*status, public, message),
        None => ApiError::internal(format!("{service} service: {code}: {message}")),
    }
}

fn attribute(member: &str) -> String {
    format!("/data/attributes/{member}")
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        match e {
            Error::NotFound { what, id } => ApiError::not_found(what, &id),
            Error::Invalid { code, message, member } => {
                ApiError::unprocessable(code, &message, member.as_deref().map(attribute).as_deref())
            }
            Error::BadParameter { param, message } => {
                ApiError::bad_request("invalid_parameter", &message).with_parameter(&param)
            }
            Error::Conflict { code, message, member } => match member {
                Some(m) => ApiError::conflict(code, &message).with_pointer(&attribute(&m)),
                None => ApiError::conflict(code, &message),
            },
            Error::Domain(e) => ApiError::conflict("transition_not_allowed", &e.to_string()),
            Error::Refused { service, code, message } => refused(service, &code, &message),
            Error::Unavailable { code } => ApiError::unavailable(code),
            Error::Db(e) => ApiError::database(e),
            // The outbox insert is a statement of the request's transaction like any other.
            Error::Bus(ordo_bus::BusError::Db(e)) => ApiError::database(e),
            Error::Bus(e) => ApiError::internal(e),
            Error::Internal(m) => ApiError::internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_code_maps_once_and_unknown_codes_are_server_errors() {
        for (i, (code, _, _)) in RPC_ERRORS.iter().enumerate() {
            assert!(!RPC_ERRORS[i + 1..].iter().any(|(c, _, _)| c == code), "{code} twice");
        }
        assert_eq!(refused("payment", "payment_in_progress", "x").status_code_u16(), 409);
        assert_eq!(refused("delivery", "shipment_unknown", "x").status_code_u16(), 404);
        assert_eq!(refused("delivery", "something_new", "x").status_code_u16(), 500);
    }

    /// A connection lost under the outbox insert is a rolled-back request like any other: 503
    /// (seen as a 500 in the chaos run's PostgreSQL restart).
    #[test]
    fn a_lost_connection_under_the_outbox_insert_is_a_503() {
        let lost = sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        let e = ApiError::from(Error::Bus(ordo_bus::BusError::Db(lost)));
        assert_eq!(e.status_code_u16(), 503);
        let other = ApiError::from(Error::Bus(ordo_bus::BusError::Event("bad".into())));
        assert_eq!(other.status_code_u16(), 500);
        assert_eq!(refused("payment", "unavailable", "x").status_code_u16(), 503);
    }
}
