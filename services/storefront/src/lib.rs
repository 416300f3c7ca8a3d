//! The reference storefront (`ordo-storefront`, port 3000): a shop's customer-facing pages,
//! server-rendered (askama), talking to the order service only through its public API — the
//! same API any other storefront would use. Shops run it as is or fork it (the look is
//! `templates/` and `static/shop.css`).
//!
//! * [`identity`]: guests without accounts — a signed cookie per browser, customer tokens signed
//!   here and published as a JWKS the services trust;
//! * [`shop`]: the calls to the order service as the browser's customer, forms and errors;
//! * [`pages`]: catalog, product, cart, checkout (details, payment with Stripe's payment element,
//!   completion), order page (status, downloads, tracking).

pub mod config;
pub mod identity;
pub mod pages;
pub mod shop;
pub mod views;

pub use config::{DEFAULT_PORT, SERVICE, StorefrontConfig};

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::time::Duration;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub order: ordo_web::client::ServiceClient,
    pub minter: identity::Minter,
    pub signer: identity::Signer,
    pub config: StorefrontConfig,
    /// The region carts are made in, found on first use.
    pub region: tokio::sync::OnceCell<(uuid::Uuid, views::Region)>,
}

pub use ordo_web::server::Running;

/// The pages' Content-Security-Policy: this origin, plus Stripe.js and Stripe's API (and, for
/// Stripe's real 3-D Secure and element iframes, its frames).
fn content_security_policy(cfg: &config::StorefrontSection) -> String {
    let js_origin = origin(&cfg.stripe_js_url);
    let api = origin(&cfg.stripe_api_origin);
    format!(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self' {js_origin}; \
         connect-src 'self' {api} {js_origin}; frame-src {js_origin} https://hooks.stripe.com; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
}

fn origin(url: &str) -> String {
    ordo_web::page::origin(url).unwrap_or_default()
}

/// Build and start the storefront (the function `main` and the tests both call).
pub async fn build(config: StorefrontConfig) -> anyhow::Result<Running> {
    let s = &config.storefront;
    if s.tenant_id.is_nil() {
        anyhow::bail!("storefront.tenant_id: the shop (tenant) this storefront sells for");
    }
    let listener = TcpListener::bind((config.http.host.as_str(), config.http.port))?;
    let http = ordo_web::client::http_client(Duration::from_millis(s.request_timeout_ms))?;
    let state = AppState {
        order: ordo_web::client::ServiceClient::new("order", &s.order_url, http),
        minter: identity::Minter::from_config(s)?,
        signer: identity::Signer::new(s.cookie_key.expose(), s.cookie_secure, "storefront.cookie_key")?,
        region: tokio::sync::OnceCell::new(),
        config,
    };
    let csp = web::Data::new(ordo_web::page::ContentSecurityPolicy(content_security_policy(
        &state.config.storefront,
    )));
    let port = listener.local_addr()?.port();
    let limit = state.config.http.body_limit_bytes;
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(ordo_web::page::security_headers))
            .app_data(csp.clone())
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(limit))
            .configure(ordo_web::server::configure_ops)
            .configure(pages::routes)
            .default_service(web::to(shop::not_found))
    })
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    tracing::info!(service = SERVICE, port, "listening");
    Ok(Running::new(port, server))
}
