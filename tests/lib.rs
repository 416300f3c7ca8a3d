//! The fixtures of ordo's black-box tests, one per concept, shared by the test binaries
//! (`platform/`, `order/`, `payment/`, `delivery/`, `notification/`, `stripe/`, `contract/`):
//!
//! * [`shop`] — the order service alone with its own database and NATS namespace, callers that
//!   sign requests as a customer or an operator, and a seeded catalog ([`shop::Shop`]).
//! * [`stack`] — the payment path: Stripe emulator, payment service and order service together
//!   ([`stack::Stack`]).
//! * [`delivery_stack`] — the payment path plus the delivery service and its assets
//!   ([`delivery_stack::DeliveryStack`]).
//! * [`oidc`] — a real OpenID Connect provider and a sign-in through it ([`oidc::OidcProvider`]).
//! * [`browser`] — headless Chromium through WebDriver ([`browser::Browser`]).
//! * [`dashboard_stack`] — every service, the provider and the operators' dashboard
//!   ([`dashboard_stack::DashboardStack`]).
//! * [`storefront_stack`] — every service, the Stripe emulator and the storefront
//!   ([`storefront_stack::StorefrontStack`]).
//! * [`crash`] — a process dying between two commits, reproduced in the database.
//!
//! Everything talks to the real PostgreSQL and NATS; nothing of ours is mocked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Fixtures hold servers, processes and clients; printing them helps nobody.
#![allow(missing_debug_implementations)]

pub mod browser;
pub mod crash;
pub mod dashboard_stack;
pub mod delivery_stack;
pub mod oidc;
pub mod shop;
pub mod stack;
pub mod storefront_stack;
