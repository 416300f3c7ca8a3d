//! An offline Stripe for ordo: the subset of Stripe's HTTP API ordo uses, in Stripe's wire format
//! (form-encoded requests with `a[b]=c` nesting, Stripe JSON objects and error objects, API-key
//! auth, `Idempotency-Key` semantics), so the real Stripe client code (async-stripe) runs against
//! it in tests and in `make run`. Point the client at it with
//! `stripe::ClientBuilder::new(key).url("http://127.0.0.1:12111/")`.
//!
//! Implemented so far: PaymentIntents — create, retrieve, update, confirm, capture, cancel — with
//! Stripe's test payment methods (`pm_card_visa` succeeds, `pm_card_chargeDeclined` is declined
//! with `card_declined`, `capture_method=manual` leaves `requires_capture`); Refunds — create
//! (full, partial, repeated, never beyond the captured amount) and retrieve.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let emulator = ordo_stripe_emulator::start("127.0.0.1:0", "sk_test_ordo").await?;
//! println!("Stripe at {}", emulator.url());
//! # Ok(()) }
//! ```

mod form;
mod intents;
mod refunds;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// Everything the emulator remembers.
#[derive(Debug, Default)]
pub struct Store {
    pub intents: HashMap<String, Value>,
    pub refunds: HashMap<String, Value>,
    /// PaymentIntent id → amount refunded so far.
    pub refunded: HashMap<String, i64>,
    /// Idempotency-Key → (request fingerprint, status, body).
    idempotency: HashMap<String, (String, u16, Value)>,
}

#[derive(Debug)]
pub struct State {
    pub api_key: String,
    pub store: Mutex<Store>,
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

fn authorized(req: &HttpRequest, key: &str) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| k == key)
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

/// Run `op` with Stripe's auth and idempotency rules around it.
fn handle(
    state: &State,
    req: &HttpRequest,
    body: &[u8],
    op: impl FnOnce(&mut Store, &form::Form) -> Result<(u16, Value), StripeError>,
) -> HttpResponse {
    if !authorized(req, &state.api_key) {
        let e = json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}});
        return respond(401, &e, false);
    }
    let form = match form::Form::parse(body) {
        Ok(f) => f,
        Err(e) => return respond(e.status, &e.body, false),
    };
    let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(req.method().as_str());
        h.update(req.path());
        h.update(body);
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
    respond(status, &value, false)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/payment_intents", web::post().to(intents::create))
        .route("/v1/payment_intents/{id}", web::get().to(intents::retrieve))
        .route("/v1/payment_intents/{id}", web::post().to(intents::update))
        .route("/v1/payment_intents/{id}/confirm", web::post().to(intents::confirm))
        .route("/v1/payment_intents/{id}/capture", web::post().to(intents::capture))
        .route("/v1/payment_intents/{id}/cancel", web::post().to(intents::cancel))
        .route("/v1/refunds", web::post().to(refunds::create))
        .route("/v1/refunds/{id}", web::get().to(refunds::retrieve));
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
}

/// Bind `addr` and serve in the background of the current runtime.
pub async fn start(addr: &str, api_key: &str) -> anyhow::Result<Emulator> {
    let state = web::Data::new(State {
        api_key: api_key.to_owned(),
        store: Mutex::default(),
    });
    let data = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
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
