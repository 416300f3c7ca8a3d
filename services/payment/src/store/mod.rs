//! Every SQL statement of the payment service, on the caller's connection (a transaction scoped
//! to the tenant, so row-level security applies).

pub mod payments;
pub mod refunds;
pub mod stripe_events;

pub use payments::{Payment, by_cart, by_intent, by_order, insert, save};
