//! Every SQL statement of the order service, rows as `FromRow` structs. Functions run on the
//! caller's connection (a transaction already scoped to a tenant and caller, so row-level
//! security applies) and return `sqlx::Error`; what the rows mean is the `app` layer's business.

pub mod carts;
pub mod catalog;
pub mod idempotency;
pub mod orders;
pub mod refund_requests;
pub mod stats;
