//! What ordo's two web front ends — the operators' dashboard and the storefront — share:
//!
//! * [`cookies`]: signed cookies (state kept in the browser, readable by any replica);
//! * [`client`]: a client of one service's JSON:API whose failures carry the API's own words;
//! * [`documents`]: the order service's documents (orders, lines, history, links) as pages read them;
//! * [`server`]: a started front end, health and metrics routes, static assets;
//! * [`page`]: security headers (the app's Content-Security-Policy), rendering, redirects,
//!   form bodies and safe local paths.

pub mod client;
pub mod cookies;
pub mod documents;
pub mod page;
pub mod server;
