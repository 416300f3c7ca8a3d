//! Payment service tests: the order service, the payment service and the Stripe emulator
//! running together over HTTP and NATS, against the real PostgreSQL and NATS; Stripe is driven
//! through its HTTP API as Stripe.js and the dashboard would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod amounts;
mod demo;
mod flows;
mod nats_auth;
mod operations;
mod refunds;
mod resilience;
mod signatures;
mod unpayable;
