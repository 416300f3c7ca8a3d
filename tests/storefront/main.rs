//! The reference storefront in a real browser (headless Chromium through WebDriver) against the
//! real services and the Stripe emulator (its Stripe.js subset on the payment page): purchases
//! from the catalog to the downloaded file, declines and retries, 3-D Secure, a closed tab, and
//! the pages' promises (no request outside 127.0.0.1, 360 px, keyboard). Screenshots in
//! `target/screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod links;
mod order_link;
mod payments;
mod purchase;
mod small_screen;
