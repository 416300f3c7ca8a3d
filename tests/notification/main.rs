//! Notification service tests: the order, payment and delivery services with the Stripe
//! emulator, and the notification service sending to a real SMTP server (aiosmtpd, started by
//! the harness), against the real PostgreSQL and NATS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod mail;

mod api;
mod lifecycle;
mod redelivery;
mod transport;
