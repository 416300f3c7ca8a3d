//! Order service tests, black-box over HTTP and NATS against the real PostgreSQL and NATS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod bad_input;
mod concurrency;
mod events;
mod flow;
mod isolation;
mod openapi;
