//! Notification service tests: the order, payment and delivery services with the Stripe
//! emulator, and the notification service sending to a real SMTP server (aiosmtpd, started by
//! the harness), against the real PostgreSQL and NATS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../order/support.rs"]
mod support;

#[allow(dead_code)]
#[path = "../payment/harness.rs"]
mod harness;

#[allow(dead_code)]
#[path = "../delivery/kit.rs"]
mod kit;

mod mail;

mod api;
mod lifecycle;
mod redelivery;
mod transport;
