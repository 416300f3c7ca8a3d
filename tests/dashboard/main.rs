//! The operators' dashboard in a real browser (headless Chromium through WebDriver), signed in
//! through a real OpenID Connect provider, on the whole stack against the real PostgreSQL and
//! NATS. Screenshots of every page are kept in `target/screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod catalog_mail;
mod forms;
mod orders;
mod sign_in;
