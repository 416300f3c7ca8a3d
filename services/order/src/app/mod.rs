//! The order service's use cases. Each runs on the caller's `&mut PgConnection` (a transaction
//! scoped to the caller, so row-level security applies), reads and writes through [`crate::store`],
//! asks `ordo-domain` for every rule, and returns [`Error`]. The HTTP handlers and the event
//! consumer call the same functions: completing a cart from `POST …/complete` and from
//! `payment.succeeded` is one code path ([`checkout`]).

pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod delivery;
pub mod lifecycle;
pub mod order;
pub mod payment;
pub mod rejected;

use ordo_domain::order::TransitionError;
use std::time::Duration;

/// Why a use case did not happen. The HTTP layer maps each variant to one status
/// (`http::error`); the consumer decides from it whether a retry can help.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not there, or not visible to the caller (row-level security).
    #[error("no {what} {id}")]
    NotFound { what: &'static str, id: String },
    /// The input is well-formed but not acceptable; `member` is the attribute at fault
    /// (e.g. `shipping_address/postal_code`).
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        member: Option<String>,
    },
    /// A query parameter is not acceptable.
    #[error("{param}: {message}")]
    BadParameter { param: String, message: String },
    /// The request conflicts with the state of the resource.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        member: Option<String>,
    },
    /// The order's state machine refused the trigger.
    #[error(transparent)]
    Domain(#[from] TransitionError),
    /// Another service refused the request (its RPC error code).
    #[error("{service} service: {code}: {message}")]
    Refused {
        service: &'static str,
        code: String,
        message: String,
    },
    /// Another service did not answer in time; `code` names it (`payment_service_unavailable`).
    #[error("{code}")]
    Unavailable { code: &'static str },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Bus(#[from] ordo_bus::BusError),
    /// A broken invariant (stored data the rules cannot read, an impossible reply).
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(what: &'static str, id: impl ToString) -> Error {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>, member: &str) -> Error {
        Error::Invalid {
            code,
            message: message.into(),
            member: Some(member.to_owned()),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Error {
        Error::Conflict {
            code,
            message: message.into(),
            member: None,
        }
    }

    pub fn bad_parameter(param: &str, message: impl Into<String>) -> Error {
        Error::BadParameter {
            param: param.to_owned(),
            message: message.into(),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Error {
        Error::Internal(e.to_string())
    }

    /// Whether trying again later can succeed (the database, the broker or another service was
    /// unavailable) rather than a refusal that will stay one.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Db(_) | Error::Bus(_) | Error::Unavailable { .. } | Error::Internal(_)
        )
    }
}

/// How the service reaches the payment and delivery services (NATS request-reply).
#[derive(Debug, Clone)]
pub struct Peers {
    pub bus: ordo_bus::Bus,
    pub payment_timeout: Duration,
    pub delivery_timeout: Duration,
}
