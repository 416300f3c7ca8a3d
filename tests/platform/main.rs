//! Platform tests: outbox/relay, inbox, dead letters, RLS, roles, JWT, tracing, migrations and
//! the services' operational endpoints — against the real PostgreSQL and NATS, each test with its
//! own database and streams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod dead_letters;
mod deploy;
mod inbox;
mod jwt;
mod lost_events;
mod migrations;
mod oidc;
mod otlp_export;
mod outbox;
mod rls;
mod roles;
mod services;
mod trace_context;
