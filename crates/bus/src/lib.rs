//! ordo's event transport over NATS JetStream.
//!
//! * [`Bus`] — the connection, subject/stream naming (with an optional namespace so tests get
//!   their own streams), and [`Bus::ensure_streams`] (one stream per context, idempotent).
//! * [`outbox::Outbox`] — write an event in the same transaction as the state change.
//! * [`relay::Relay`] — publish outbox rows (`Nats-Msg-Id` = event id), mark them only after
//!   JetStream's ack; woken by the commit (LISTEN/NOTIFY), polling only as a fallback; safe in
//!   any number of replicas (`FOR UPDATE SKIP LOCKED`).
//! * [`rpc`] — request-reply between services (core NATS, protobuf, trace context).
//! * [`consumer::Consumer`] — durable pull consumer; effect and inbox row in one transaction,
//!   explicit acks, retries with backoff, then a dead letter that can be replayed.
//! * [`lost_events`] — each consumer checks that every event its producer published reached it,
//!   and has the ones the broker lost published again.
//!
//! ```no_run
//! # async fn f(pool: sqlx::PgPool) -> Result<(), ordo_bus::BusError> {
//! let cfg = ordo_config::ServiceConfig::defaults("order", 8080);
//! let bus = ordo_bus::Bus::connect(&cfg.nats, "order").await?;
//! bus.ensure_streams().await?;
//! let relay = ordo_bus::relay::Relay::new(pool, bus.clone(), "orders", &cfg.outbox);
//! tokio::spawn(relay.run());
//! # Ok(()) }
//! ```

pub mod consumer;
pub mod lost_events;
pub mod outbox;
pub mod relay;
pub mod rpc;

use async_nats::jetstream;
use ordo_config::NatsConfig;
use ordo_events::Context;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("NATS connect: {0}")]
    Connect(String),
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("event: {0}")]
    Event(String),
    #[error("request-reply: {0}")]
    Rpc(String),
}

impl BusError {
    fn js(e: impl std::fmt::Display) -> Self {
        BusError::JetStream(e.to_string())
    }
}

pub use async_nats::Client as NatsClient;

/// Connect a NATS client (named `ordo-<name>`) without credentials, retrying until the server
/// answers (tests and tools on a development server).
pub async fn connect_client(url: &str, name: &str) -> Result<NatsClient, BusError> {
    connect_as(url, name, None, None).await
}

/// Connect as a service: its own user (`nats.user`, default `ordo_<service>`) when a password is
/// configured, its own inbox prefix `_INBOX_<service>` (so the server can let it read only its
/// own replies), and TLS with the given CA when `nats.ca_file` is set.
pub async fn connect_service(cfg: &NatsConfig, service: &str) -> Result<NatsClient, BusError> {
    let user = if cfg.user.is_empty() {
        format!("ordo_{service}")
    } else {
        cfg.user.clone()
    };
    let credentials = (!cfg.password.expose().is_empty()).then(|| (user, cfg.password.expose().clone()));
    let ca = (!cfg.ca_file.is_empty()).then_some(cfg.ca_file.as_str());
    connect_as(&cfg.url, service, credentials, ca).await
}

async fn connect_as(
    url: &str,
    name: &str,
    credentials: Option<(String, String)>,
    ca_file: Option<&str>,
) -> Result<NatsClient, BusError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("ordo-{name}"))
        .custom_inbox_prefix(inbox_prefix(name))
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5));
    if let Some((user, password)) = credentials {
        options = options.user_and_password(user, password);
    }
    if let Some(ca) = ca_file {
        options = options.require_tls(true).add_root_certificates(ca.into());
    }
    options.connect(url).await.map_err(|e| BusError::Connect(e.to_string()))
}

/// The subjects replies to `name`'s requests arrive on: `_INBOX_<name>.>`.
pub fn inbox_prefix(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("_INBOX_{safe}")
}

/// A NATS connection with JetStream and ordo's naming rules.
#[derive(Clone, Debug)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    namespace: String,
    replicas: usize,
}

impl Bus {
    #[tracing::instrument(name = "nats.connect", skip(cfg), fields(url = %cfg.url))]
    pub async fn connect(cfg: &NatsConfig, service: &str) -> Result<Bus, BusError> {
        let client = connect_service(cfg, service).await?;
        let mut bus = Self::from_client(client, &cfg.namespace);
        bus.replicas = cfg.stream_replicas.max(1);
        Ok(bus)
    }

    pub fn from_client(client: async_nats::Client, namespace: &str) -> Bus {
        let mut js = jetstream::new(client.clone());
        js.set_timeout(Duration::from_secs(10));
        Bus {
            client,
            js,
            namespace: namespace.to_owned(),
            replicas: 1,
        }
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The subject on the wire: `<namespace>.<subject>` in tests, `<subject>` in production.
    pub fn subject(&self, subject: &str) -> String {
        if self.namespace.is_empty() {
            subject.to_owned()
        } else {
            format!("{}.{subject}", self.namespace)
        }
    }

    /// Strip the namespace from a wire subject.
    pub fn local_subject<'a>(&self, wire: &'a str) -> &'a str {
        if self.namespace.is_empty() {
            return wire;
        }
        wire.strip_prefix(self.namespace.as_str())
            .and_then(|s| s.strip_prefix('.'))
            .unwrap_or(wire)
    }

    pub fn stream_name(&self, context: Context) -> String {
        if self.namespace.is_empty() {
            context.stream().to_owned()
        } else {
            format!("{}_{}", self.namespace.to_uppercase(), context.stream())
        }
    }

    /// Create or update the stream of every context. Safe to call from every replica at start-up.
    #[tracing::instrument(name = "nats.ensure_streams", skip(self))]
    pub async fn ensure_streams(&self) -> Result<(), BusError> {
        for context in Context::ALL {
            let config = jetstream::stream::Config {
                name: self.stream_name(context),
                subjects: vec![self.subject(context.subjects())],
                storage: jetstream::stream::StorageType::File,
                retention: jetstream::stream::RetentionPolicy::Limits,
                max_age: Duration::from_secs(7 * 24 * 3600),
                duplicate_window: Duration::from_secs(120),
                num_replicas: self.replicas,
                ..Default::default()
            };
            self.js.create_or_update_stream(config).await.map_err(BusError::js)?;
        }
        Ok(())
    }

    /// Delete this namespace's streams (tests clean up with it).
    pub async fn delete_streams(&self) -> Result<(), BusError> {
        for context in Context::ALL {
            let _ = self.js.delete_stream(self.stream_name(context)).await;
        }
        Ok(())
    }

    /// Readiness: connected, and the server answers a round trip.
    pub async fn ping(&self) -> Result<(), BusError> {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(BusError::Connect("not connected".into()));
        }
        tokio::time::timeout(Duration::from_secs(2), self.client.flush())
            .await
            .map_err(|_| BusError::Connect("flush timed out".into()))?
            .map_err(|e| BusError::Connect(e.to_string()))
    }
}
