//! An offline Stripe for ordo: the subset of Stripe's HTTP API ordo uses, in Stripe's wire format
//! (form-encoded requests with `a[b]=c` nesting, Stripe JSON objects and error objects, API-key
//! auth, `Idempotency-Key` semantics), so the real Stripe client code (async-stripe) runs against
//! it in tests and in `make run`. Point the client at it with
//! `stripe::ClientBuilder::new(key).url("http://127.0.0.1:12111/")`.
//!
//! * PaymentIntents — create, retrieve, update, confirm, capture, cancel — with Stripe's test
//!   payment methods (`pm_card_visa` succeeds, `pm_card_chargeDeclined` is declined with
//!   `card_declined`, `capture_method=manual` leaves `requires_capture`) and one of the
//!   emulator's own, `pm_async_processing`, which stays `processing` until settled.
//! * Refunds — create (full, partial, repeated, never beyond the captured amount), retrieve, list.
//! * Events — list and retrieve; every state change above records one, as Stripe does.
//! * Webhook endpoints (`POST /v1/webhook_endpoints`) and signed webhook delivery with retries
//!   ([`webhooks`]).
//!
//! Control API for tests and `make run` (JSON, loopback only, no key):
//! * `POST /_emulator/webhook_endpoints` `{"url", "secrets": [..]}` — register with known secrets
//!   (two while rotating);
//! * `POST /_emulator/faults` — [`webhooks::Faults`]: copies per event, hold + shuffled release,
//!   delay, responses dropped after commit;
//! * `POST /_emulator/webhooks/release`, `GET /_emulator/webhooks/stats`;
//! * `POST /_emulator/refunds` `{"payment_intent", "amount"?}` — a refund started in Stripe's
//!   dashboard;
//! * `POST /_emulator/payment_intents/{id}/settle` `{"outcome": "succeeded"|"failed", "webhook": bool}`;
//! * `GET /_emulator/payment_intents` — every intent (tests count them per cart).
//!
//! For browsers ([`browser`]): `GET /v3/` serves a subset of Stripe.js (`Stripe(pk)`,
//! `elements({clientSecret})`, `create('payment')`, `mount`, `confirmPayment`,
//! `retrievePaymentIntent`) whose card field takes Stripe's test card numbers and calls this
//! emulator, so a storefront's page code runs unchanged against it and against Stripe. The
//! publishable key (`pk_…` for the emulator's `sk_…`) may confirm and read an intent whose client
//! secret it shows; `/v1` answers cross-origin requests (CORS), as Stripe's API does.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let emulator = ordo_stripe_emulator::start("127.0.0.1:0", "sk_test_ordo").await?;
//! println!("Stripe at {}", emulator.url());
//! # Ok(()) }
//! ```

mod browser;
pub mod events;
mod form;
mod intents;
mod refunds;
pub mod webhooks;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;
pub use webhooks::{Endpoint, Faults};

/// Everything the emulator remembers.
#[derive(Debug, Default)]
pub struct Store {
    pub intents: HashMap<String, Value>,
    pub refunds: HashMap<String, Value>,
    /// PaymentIntent id → amount refunded so far.
    pub refunded: HashMap<String, i64>,
    /// Idempotency-Key → (request fingerprint, status, body).
    idempotency: HashMap<String, (String, u16, Value)>,
    /// Every event, oldest first, and its position by id.
    pub events: Vec<Value>,
    event_index: HashMap<String, usize>,
    /// Events recorded by the request being handled, not yet handed to the dispatcher.
    outbound: Vec<Value>,
}

#[derive(Debug)]
pub struct State {
    pub api_key: String,
    pub store: Mutex<Store>,
    endpoints: Mutex<Vec<Endpoint>>,
    fault_settings: Mutex<Faults>,
    held: Mutex<Vec<Value>>,
    pub stats: webhooks::Stats,
    outgoing: mpsc::UnboundedSender<webhooks::Delivery>,
}

/// A Stripe error answer: `{"error": {"type", "code", "message", "param"}}`.
#[derive(Debug)]
pub struct StripeError {
    pub status: u16,
    pub body: Value,
}

impl StripeError {
    pub fn invalid(message: &str, param: Option<&str>) -> Self {
        let mut e = json!({"type": "invalid_request_error", "message": message});
        if let Some(p) = param {
            e["param"] = json!(p);
        }
        StripeError {
            status: 400,
            body: json!({ "error": e }),
        }
    }

    pub fn missing(id: &str, param: &str) -> Self {
        StripeError {
            status: 404,
            body: json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
                "message": format!("No such payment_intent: '{id}'"), "param": param}}),
        }
    }

    pub fn state(message: String) -> Self {
        StripeError {
            status: 400,
            body: json!({"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state", "message": message}}),
        }
    }
}

pub(crate) fn random_id(prefix: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}_{tail}")
}

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The publishable key that goes with secret key `api_key` (`sk_test_x` → `pk_test_x`): what a
/// browser holds. It may only confirm or read one PaymentIntent whose client secret it shows.
pub fn publishable_key(api_key: &str) -> String {
    api_key.replacen("sk_", "pk_", 1)
}

fn respond(status: u16, body: &Value, replayed: bool) -> HttpResponse {
    let mut res = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    res.content_type("application/json")
        .insert_header(("request-id", random_id("req")));
    if replayed {
        res.insert_header(("idempotent-replayed", "true"));
    }
    res.json(body)
}

/// Run `op` with Stripe's auth and idempotency rules around it (the secret key only).
fn handle(
    state: &State,
    req: &HttpRequest,
    body: &[u8],
    op: impl FnOnce(&mut Store, &form::Form) -> Result<(u16, Value), StripeError>,
) -> HttpResponse {
    handle_as(state, req, body, None, op)
}

/// As [`handle`], and with the publishable key too when the request shows the client secret of
/// PaymentIntent `intent` (`client_secret` in the body, or in the query of a GET): how Stripe.js
/// confirms and reads the intent it was given.
fn handle_as(
    state: &State,
    req: &HttpRequest,
    body: &[u8],
    intent: Option<&str>,
    op: impl FnOnce(&mut Store, &form::Form) -> Result<(u16, Value), StripeError>,
) -> HttpResponse {
    let key = bearer(req);
    let secret = key == Some(state.api_key.as_str());
    let publishable = intent.is_some() && key == Some(publishable_key(&state.api_key).as_str());
    if !secret && !publishable {
        let e = json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}});
        return respond(401, &e, false);
    }
    let raw: &[u8] = if req.method() == actix_web::http::Method::GET {
        req.query_string().as_bytes()
    } else {
        body
    };
    let form = match form::Form::parse(raw) {
        Ok(f) => f,
        Err(e) => return respond(e.status, &e.body, false),
    };
    let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    if let (true, Some(id)) = (publishable && !secret, intent) {
        let shown = form.get("client_secret");
        let expected = store.intents.get(id).and_then(|pi| pi["client_secret"].as_str());
        if shown.is_none() || shown != expected {
            let e = StripeError::missing(id, "intent");
            return respond(e.status, &e.body, false);
        }
    }
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(req.method().as_str());
        h.update(req.path());
        for (k, v) in form.canonical() {
            h.update(k.len().to_le_bytes());
            h.update(k.as_bytes());
            h.update(v.len().to_le_bytes());
            h.update(v.as_bytes());
        }
        format!("{:x}", h.finalize())
    };
    if let Some((k, (fp, status, body))) = key.as_ref().and_then(|k| store.idempotency.get(k).map(|v| (k, v))) {
        if *fp != fingerprint {
            let e = json!({"error": {"type": "idempotency_error", "message": format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                 Try using a key other than '{k}' if you meant to execute a different request.")}});
            return respond(400, &e, false);
        }
        return respond(*status, body, true);
    }
    let (status, value) = match op(&mut store, &form) {
        Ok(ok) => ok,
        Err(e) => (e.status, e.body),
    };
    if let Some(k) = key {
        store.idempotency.insert(k, (fingerprint, status, value.clone()));
    }
    let events = std::mem::take(&mut store.outbound);
    drop(store);
    state.dispatch(events);
    let drop_rate = state.faults().drop_response_rate;
    if req.method() == actix_web::http::Method::POST && drop_rate > 0.0 && rand::random::<f64>() < drop_rate {
        state
            .stats
            .dropped_responses
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        return dropped_response();
    }
    respond(status, &value, false)
}

/// A response whose body breaks off: the client sees the connection fail although the request
/// was committed.
fn dropped_response() -> HttpResponse {
    let broken = futures::stream::once(async {
        Err::<web::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "dropped by fault injection",
        ))
    });
    HttpResponse::Ok().content_type("application/json").streaming(broken)
}

/// `POST /v1/webhook_endpoints` (`url`, `enabled_events[]`): Stripe's API to register an endpoint;
/// the answer carries its new signing secret.
async fn create_webhook_endpoint(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut added = None;
    let res = handle(&state, &req, &body, |_, f| {
        let url = f
            .get("url")
            .ok_or_else(|| StripeError::invalid("Missing required param: url.", Some("url")))?;
        let secret = random_id("whsec");
        added = Some(Endpoint {
            url: url.to_owned(),
            secrets: vec![secret.clone()],
            replicas: Vec::new(),
        });
        Ok((
            200,
            json!({"id": random_id("we"), "object": "webhook_endpoint", "url": url, "secret": secret,
                        "status": "enabled", "enabled_events": ["*"], "livemode": false, "created": now()}),
        ))
    });
    if let Some(e) = added {
        state.add_endpoint(e);
    }
    res
}

#[derive(Debug, serde::Deserialize)]
struct DashboardRefund {
    payment_intent: String,
    amount: Option<i64>,
}

async fn dashboard_refund(state: web::Data<State>, body: web::Json<DashboardRefund>) -> HttpResponse {
    let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let result = refunds::refund(&mut store, &body.payment_intent, body.amount, None, json!({}));
    let events = std::mem::take(&mut store.outbound);
    drop(store);
    state.dispatch(events);
    match result {
        Ok(r) => respond(200, &r, false),
        Err(e) => respond(e.status, &e.body, false),
    }
}

#[derive(Debug, serde::Deserialize)]
struct Settle {
    outcome: String,
    #[serde(default = "yes")]
    webhook: bool,
}

fn yes() -> bool {
    true
}

async fn settle(state: web::Data<State>, path: web::Path<String>, body: web::Json<Settle>) -> HttpResponse {
    let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let result = intents::settle(&mut store, &path, &body.outcome, body.webhook);
    let events = std::mem::take(&mut store.outbound);
    drop(store);
    state.dispatch(events);
    match result {
        Ok(pi) => respond(200, &pi, false),
        Err(e) => respond(e.status, &e.body, false),
    }
}

async fn all_intents(state: web::Data<State>) -> HttpResponse {
    let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let mut data: Vec<&Value> = store.intents.values().collect();
    data.sort_by_key(|pi| (pi["created"].as_i64(), pi["id"].as_str().map(str::to_owned)));
    respond(200, &json!({ "data": data }), false)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/payment_intents", web::post().to(intents::create))
        .route("/v1/payment_intents/{id}", web::get().to(intents::retrieve))
        .route("/v1/payment_intents/{id}", web::post().to(intents::update))
        .route("/v1/payment_intents/{id}/confirm", web::post().to(intents::confirm))
        .route("/v1/payment_intents/{id}/capture", web::post().to(intents::capture))
        .route("/v1/payment_intents/{id}/cancel", web::post().to(intents::cancel))
        .route("/v1/refunds", web::post().to(refunds::create))
        .route("/v1/refunds", web::get().to(refunds::list))
        .route("/v1/refunds/{id}", web::get().to(refunds::retrieve))
        .route("/v1/events", web::get().to(events::list))
        .route("/v1/events/{id}", web::get().to(events::retrieve))
        .route("/v1/webhook_endpoints", web::post().to(create_webhook_endpoint))
        .route("/_emulator/webhook_endpoints", web::post().to(webhooks::post_endpoint))
        .route("/_emulator/faults", web::post().to(webhooks::put_faults))
        .route("/_emulator/webhooks/release", web::post().to(webhooks::post_release))
        .route("/_emulator/webhooks/stats", web::get().to(webhooks::get_stats))
        .route("/_emulator/refunds", web::post().to(dashboard_refund))
        .route("/_emulator/payment_intents", web::get().to(all_intents))
        .route("/_emulator/payment_intents/{id}/settle", web::post().to(settle))
        .route(
            "/_emulator/payment_intents/{id}/authenticate",
            web::post().to(browser::authenticate),
        )
        .route("/v3", web::get().to(browser::stripe_js))
        .route("/v3/", web::get().to(browser::stripe_js));
}

/// A running emulator.
#[derive(Debug)]
pub struct Emulator {
    port: u16,
    pub state: web::Data<State>,
}

impl Emulator {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Register a webhook endpoint signed with `secrets` (two while rotating).
    pub fn add_endpoint(&self, url: &str, secrets: &[&str]) {
        self.add_replicated_endpoint(&[url], secrets);
    }

    /// Register one webhook endpoint served by several replicas (`urls`, as behind a load
    /// balancer): each delivery attempt goes to the next of them.
    pub fn add_replicated_endpoint(&self, urls: &[&str], secrets: &[&str]) {
        let Some((first, rest)) = urls.split_first() else {
            return;
        };
        self.state.add_endpoint(Endpoint {
            url: (*first).to_owned(),
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            replicas: rest.iter().map(|u| (*u).to_owned()).collect(),
        });
    }
    /// Wait until no webhook delivery is queued or being retried; `false` once the number in
    /// flight has not gone down for `stalled` (a slow machine only makes this take longer).
    pub async fn webhooks_idle(&self, stalled: std::time::Duration) -> bool {
        let mut lowest = u64::MAX;
        let mut deadline = tokio::time::Instant::now() + stalled;
        loop {
            let now = self.state.in_flight();
            if now == 0 {
                return true;
            }
            if now < lowest {
                lowest = now;
                deadline = tokio::time::Instant::now() + stalled;
            } else if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Bind `addr` and serve in the background of the current runtime.
pub async fn start(addr: &str, api_key: &str) -> anyhow::Result<Emulator> {
    // reqwest is built without a default TLS provider (see stack.md): ring, as everywhere in ordo.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (outgoing, incoming) = mpsc::unbounded_channel();
    let state = web::Data::new(State {
        api_key: api_key.to_owned(),
        store: Mutex::default(),
        endpoints: Mutex::default(),
        fault_settings: Mutex::default(),
        held: Mutex::default(),
        stats: webhooks::Stats::default(),
        outgoing,
    });
    tokio::spawn(webhooks::run(state.clone(), incoming));
    let data = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(browser::cors))
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .app_data(web::JsonConfig::default().limit(1 << 20))
            .configure(routes)
            .default_service(web::to(|| async {
                respond(
                    404,
                    &json!({"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}),
                    false,
                )
            }))
    })
    .workers(2)
    .bind(addr)?;
    let port = server.addrs().first().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(server.run());
    Ok(Emulator { port, state })
}
