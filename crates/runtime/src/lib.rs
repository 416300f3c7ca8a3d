//! Assembles an ordo service, so each service crate only adds its own routes and consumers.
//!
//! [`Platform::connect`] opens the pool (the service's own role), connects to NATS, creates or
//! updates the streams and builds the JWT authenticator. [`Platform::serve`] binds the HTTP
//! server (port 0 in tests) with request ids, body limits, JSON:API 404s, `/health/*` and
//! `/metrics`, and the dead-letter endpoints of the service's consumers ([`dead_letters`]).
//! [`Running`] owns the server and the background tasks (relay, consumers).
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let cfg = ordo_config::ServiceConfig::defaults("payment", 8081);
//! let platform = ordo_runtime::Platform::connect(cfg).await?;
//! let relay = platform.spawn_relay("payments");
//! let running = platform.serve(|_routes| {})?.with_task(relay);
//! running.run_until_stopped().await?;
//! # Ok(()) }
//! ```

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use ordo_auth::Authenticator;
use ordo_bus::Bus;
use ordo_config::ServiceConfig;
use sqlx::PgPool;
use std::net::TcpListener;
use tokio::task::JoinHandle;

pub use ordo_config;

pub mod dead_letters;

/// Everything a service needs from the platform.
#[derive(Clone, Debug)]
pub struct Platform {
    pub config: ServiceConfig,
    pub pool: PgPool,
    pub bus: Bus,
    pub auth: Authenticator,
    /// The consumers started so far (for the dead-letter endpoints).
    pub consumers: dead_letters::Registry,
}

impl Platform {
    pub async fn connect(config: ServiceConfig) -> anyhow::Result<Platform> {
        ordo_auth::install_crypto_provider();
        let pool = ordo_db::pool(&config.database, &format!("ordo-{}", config.service))?;
        let bus = Bus::connect(&config.nats, &config.service).await?;
        bus.ensure_streams().await?;
        let auth = Authenticator::from_config(&config.auth)?;
        Ok(Platform {
            config,
            pool,
            bus,
            auth,
            consumers: dead_letters::Registry::default(),
        })
    }

    /// Start the outbox relay of `schema`.
    pub fn spawn_relay(&self, schema: &str) -> JoinHandle<()> {
        let relay = ordo_bus::relay::Relay::new(self.pool.clone(), self.bus.clone(), schema, &self.config.outbox);
        tokio::spawn(relay.run())
    }

    /// Start the durable consumer `name` of `context`'s stream for the events matching `filter`,
    /// deduplicated in `schema`'s inbox and handled by `handler` (retries, dead letters: see
    /// `ordo_bus::consumer`).
    pub fn spawn_consumer<H: ordo_bus::consumer::Handler>(
        &self,
        name: &str,
        context: ordo_events::Context,
        filter: &str,
        schema: &str,
        handler: H,
    ) -> JoinHandle<()> {
        let spec = ordo_bus::consumer::ConsumerSpec {
            name: name.into(),
            context,
            filter: filter.into(),
            schema: schema.into(),
        };
        let consumer = ordo_bus::consumer::Consumer::new(
            spec,
            self.config.consumer.clone(),
            self.pool.clone(),
            self.bus.clone(),
            handler,
        );
        self.consumers.add(std::sync::Arc::new(consumer.clone()));
        // Beside the consumer, its check for events the broker lost (`ordo_bus::lost_events`).
        tokio::spawn(async move {
            tokio::join!(consumer.clone().run(), consumer.check_lost_forever());
        })
    }

    /// Answer the request/reply `subject` with `handler` (the service's replicas share the
    /// requests) until the connection closes, logging why it stopped.
    pub fn spawn_rpc<Req, Rep, F, Fut>(&self, subject: &'static str, handler: F) -> JoinHandle<()>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Rep> + Send + 'static,
    {
        let bus = self.bus.clone();
        let group = self.config.service.clone();
        tokio::spawn(async move {
            if let Err(e) = ordo_bus::rpc::serve(bus, subject, &group, handler).await {
                tracing::error!(error = %e, subject, "RPC stopped");
            }
        })
    }

    /// Bind the configured address and serve `routes` plus the shared endpoints.
    pub fn serve<F>(&self, routes: F) -> anyhow::Result<Running>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let listener = TcpListener::bind((self.config.http.host.as_str(), self.config.http.port))?;
        self.serve_on(listener, routes)
    }

    pub fn serve_on<F>(&self, listener: TcpListener, routes: F) -> anyhow::Result<Running>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let port = listener.local_addr()?.port();
        let readiness = web::Data::new(ordo_http::Readiness {
            pool: self.pool.clone(),
            nats: self.bus.client().clone(),
        });
        let auth = web::Data::new(self.auth.clone());
        let pool = web::Data::new(self.pool.clone());
        let bus = web::Data::new(self.bus.clone());
        let consumers = web::Data::new(self.consumers.clone());
        let limit = self.config.http.body_limit_bytes;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(ordo_http::observe))
                .app_data(ordo_http::json_config(limit))
                .app_data(ordo_http::payload_config(limit))
                .app_data(readiness.clone())
                .app_data(auth.clone())
                .app_data(pool.clone())
                .app_data(bus.clone())
                .app_data(consumers.clone())
                .configure(ordo_http::configure_ops)
                .configure(dead_letters::configure)
                .configure(routes.clone())
                .default_service(web::to(ordo_http::not_found))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        tracing::info!(service = %self.config.service, port, "listening");
        Ok(Running {
            port,
            server,
            tasks: Vec::new(),
        })
    }
}

/// A started service: the HTTP server and its background tasks.
pub struct Running {
    port: u16,
    server: Server,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("port", &self.port)
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl Running {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn with_task(mut self, task: JoinHandle<()>) -> Self {
        self.tasks.push(task);
        self
    }

    /// Serve until the server stops (SIGINT/SIGTERM), then stop the background tasks.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for t in &self.tasks {
            t.abort();
        }
        result
    }
}

/// A service that so far only serves the platform endpoints and relays its outbox.
pub async fn serve_platform(config: ServiceConfig, schema: &str) -> anyhow::Result<Running> {
    let platform = Platform::connect(config).await?;
    let relay = platform.spawn_relay(schema);
    Ok(platform.serve(|_routes| {})?.with_task(relay))
}

/// The whole `main` of a service: load config, telemetry, build, run.
pub async fn main_for<F, Fut>(service: &str, default_port: u16, build: F) -> anyhow::Result<()>
where
    F: FnOnce(ServiceConfig) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Running>>,
{
    ordo_auth::install_crypto_provider();
    let config = ordo_config::load(ServiceConfig::defaults(service, default_port))?;
    let _telemetry = ordo_telemetry::init(service, &config.telemetry)?;
    let running = build(config).await?;
    running.run_until_stopped().await?;
    Ok(())
}
