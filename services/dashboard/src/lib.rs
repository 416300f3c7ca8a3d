//! The operators' dashboard (`ordo-dashboard`, port 8090): server-rendered pages over the
//! services' public APIs, called with the signed-in operator's token. It owns no tables, so
//! every rule — row-level security, roles, idempotency, validation — stays where it is
//! enforced: another tenant's order is "not found" here because the order service says so.
//!
//! * [`oidc`] signs operators in (authorization code + PKCE); [`session`] keeps them signed in
//!   with signed HttpOnly cookies; every form carries the session's CSRF token and an
//!   Idempotency-Key of its own ([`web`]).
//! * [`pages`]: overview, orders (filters in the URL, cursor pages, streamed CSV), one order
//!   (state diagram, timeline, payment panel, actions), catalog, mail and dead letters.
//! * [`api`] calls the services; [`views`] are their documents as the pages read them.

pub mod api;
pub mod config;
pub mod draw;
pub mod oidc;
pub mod pages;
pub mod session;
pub mod views;
pub mod web;

pub use config::{DEFAULT_PORT, DashboardConfig, SERVICE};

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer};
use std::net::TcpListener;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub api: api::Api,
    pub signer: session::Signer,
    pub oidc: Option<oidc::Oidc>,
    pub config: DashboardConfig,
}

impl AppState {
    /// Whether the development sign-in is offered: asked for, and the development token secret
    /// is there to mint with.
    pub fn dev_sign_in(&self) -> bool {
        self.config.dashboard.dev_sign_in && self.config.auth.hs_secret.is_some()
    }
}

pub use ordo_web::server::Running;

/// The strict policy; forms may also lead to the sign-in provider's origin, where "Sign out"
/// redirects to end the provider's session.
fn content_security_policy(cfg: &config::DashboardSection) -> ordo_web::page::ContentSecurityPolicy {
    let provider: Vec<String> = ordo_web::page::origin(&cfg.oidc.issuer).into_iter().collect();
    ordo_web::page::ContentSecurityPolicy::strict_with_form_targets(&provider)
}

/// Build and start the dashboard (the function `main` and the tests both call).
pub async fn build(config: DashboardConfig) -> anyhow::Result<Running> {
    let listener = TcpListener::bind((config.http.host.as_str(), config.http.port))?;
    let api = api::Api::new(&config.dashboard)?;
    let state = AppState {
        signer: session::signer(&config.dashboard)?,
        oidc: oidc::Oidc::from_config(&config.dashboard, api.http()),
        api,
        config,
    };
    if state.oidc.is_none() && !state.dev_sign_in() {
        anyhow::bail!(
            "no way to sign in: configure dashboard.oidc.issuer (or, for local development only, dashboard.dev_sign_in with auth.hs_secret)"
        );
    }
    let port = listener.local_addr()?.port();
    let limit = state.config.http.body_limit_bytes;
    let data = actix_web::web::Data::new(state);
    let csp = actix_web::web::Data::new(content_security_policy(&data.config.dashboard));
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(ordo_web::page::security_headers))
            .app_data(csp.clone())
            .app_data(data.clone())
            .app_data(actix_web::web::PayloadConfig::new(limit))
            .configure(ordo_web::server::configure_ops)
            .configure(pages::routes)
            .default_service(actix_web::web::to(web::not_found))
    })
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    tracing::info!(service = SERVICE, port, "listening");
    Ok(Running::new(port, server))
}
