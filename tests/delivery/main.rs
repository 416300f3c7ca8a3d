//! Delivery service tests: order, payment and delivery services with the Stripe emulator, over
//! HTTP and NATS against the real PostgreSQL and NATS; assets in a folder of the test's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod downloads;
mod process;
mod s3;
mod shipments;
mod uses;
