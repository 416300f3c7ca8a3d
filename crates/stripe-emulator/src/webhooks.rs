//! Webhook delivery as Stripe does it, plus the fault injection tests need.
//!
//! Every event goes to every registered endpoint as a JSON POST signed with
//! `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the endpoint's
//! secret>` — one `v1` per secret while a secret is being rolled. A non-2xx answer or a
//! connection error is retried with exponential backoff (re-signed with a fresh timestamp at
//! each attempt) until the attempt budget is spent.
//!
//! Faults ([`Faults`], set through `POST /_emulator/faults` or [`crate::Emulator::set_faults`]):
//! deliver each event between `copies_min` and `copies_max` times; `hold` events until
//! `POST /_emulator/webhooks/release`, which sends everything held in a shuffled order; `delay_ms`
//! before each delivery; `drop_response_rate`: the share of API requests whose HTTP response is
//! cut off after the request has been committed (the client sees a broken connection).

use crate::State;
use actix_web::{HttpResponse, web};
use hmac::{Hmac, Mac};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// A registered endpoint: where to POST and the secrets to sign with (two during rotation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub url: String,
    pub secrets: Vec<String>,
    /// More addresses of the same endpoint: replicas behind what would be one load balancer's
    /// address at Stripe. Each attempt goes to the next address, so a retry reaches a replica
    /// other than the one that just failed.
    #[serde(default)]
    pub replicas: Vec<String>,
}

impl Endpoint {
    /// The address of attempt `n` (0 first) of a delivery that started at address `start`.
    fn address(&self, start: usize, n: u32) -> &str {
        let count = 1 + self.replicas.len();
        match (start + n as usize) % count {
            0 => &self.url,
            i => &self.replicas[i - 1],
        }
    }
}

/// Injected faults; the default is a well-behaved Stripe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub copies_min: u32,
    pub copies_max: u32,
    pub hold: bool,
    pub delay_ms: u64,
    pub drop_response_rate: f64,
    /// Delivery attempts per event copy before giving up.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt (capped at 30 s).
    pub retry_base_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            copies_min: 1,
            copies_max: 1,
            hold: false,
            delay_ms: 0,
            drop_response_rate: 0.0,
            max_attempts: 10,
            retry_base_ms: 200,
        }
    }
}

/// Delivery counters (`GET /_emulator/webhooks/stats`).
#[derive(Debug, Default)]
pub struct Stats {
    pub queued: AtomicU64,
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub gave_up: AtomicU64,
    /// API responses cut off by `drop_response_rate`.
    pub dropped_responses: AtomicU64,
}

impl Stats {
    pub fn snapshot(&self) -> Value {
        let queued = self.queued.load(Ordering::SeqCst);
        let delivered = self.delivered.load(Ordering::SeqCst);
        let gave_up = self.gave_up.load(Ordering::SeqCst);
        json!({
            "queued": queued, "delivered": delivered, "gave_up": gave_up,
            "failed_attempts": self.failed_attempts.load(Ordering::SeqCst),
            "dropped_responses": self.dropped_responses.load(Ordering::SeqCst),
            "in_flight": queued.saturating_sub(delivered + gave_up),
        })
    }
}

/// One copy of one event for one endpoint.
#[derive(Debug)]
pub struct Delivery {
    pub endpoint: Endpoint,
    pub body: Arc<Vec<u8>>,
}

/// The signature header Stripe sends for `body` at time `t`, one `v1` per secret.
pub fn signature_header(body: &[u8], secrets: &[String], t: i64) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            continue;
        };
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    header
}

impl State {
    /// Hand the events a request produced to the dispatcher (or to the hold queue).
    pub(crate) fn dispatch(&self, events: Vec<Value>) {
        if events.is_empty() {
            return;
        }
        let faults = self.faults();
        if faults.hold {
            self.held.lock().unwrap_or_else(|p| p.into_inner()).extend(events);
            return;
        }
        self.send(events, &faults, false);
    }

    fn send(&self, events: Vec<Value>, faults: &Faults, shuffle: bool) -> usize {
        let endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut rng = rand::rng();
        let mut out = Vec::new();
        for event in events {
            let body = Arc::new(serde_json::to_vec(&event).unwrap_or_default());
            let (lo, hi) = (
                faults.copies_min.max(1),
                faults.copies_max.max(faults.copies_min.max(1)),
            );
            let copies = rng.random_range(lo..=hi);
            for endpoint in &endpoints {
                for _ in 0..copies {
                    out.push(Delivery {
                        endpoint: endpoint.clone(),
                        body: body.clone(),
                    });
                }
            }
        }
        if shuffle {
            out.shuffle(&mut rng);
        }
        let n = out.len();
        for d in out {
            self.stats.queued.fetch_add(1, Ordering::SeqCst);
            if self.outgoing.send(d).is_err() {
                self.stats.gave_up.fetch_add(1, Ordering::SeqCst);
            }
        }
        n
    }

    pub fn faults(&self) -> Faults {
        self.fault_settings.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.fault_settings.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    pub fn add_endpoint(&self, endpoint: Endpoint) {
        self.endpoints.lock().unwrap_or_else(|p| p.into_inner()).push(endpoint);
    }

    /// Send every held event (each in its number of copies), all shuffled; returns deliveries queued.
    pub fn release(&self) -> usize {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()));
        let faults = self.faults();
        self.send(held, &faults, true)
    }

    /// Take the held events without sending them (a test then delivers them itself, in the
    /// order it wants, or not at all).
    pub fn take_held(&self) -> Vec<Value> {
        std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Deliveries neither done nor given up.
    pub fn in_flight(&self) -> u64 {
        let s = &self.stats;
        s.queued
            .load(Ordering::SeqCst)
            .saturating_sub(s.delivered.load(Ordering::SeqCst) + s.gave_up.load(Ordering::SeqCst))
    }
}

/// The dispatcher: up to 16 deliveries in flight, each retried with backoff.
pub(crate) async fn run(state: web::Data<State>, mut rx: mpsc::UnboundedReceiver<Delivery>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let permits = Arc::new(Semaphore::new(16));
    while let Some(d) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (state, client) = (state.clone(), client.clone());
        tokio::spawn(async move {
            deliver(&state, &client, d).await;
            drop(permit);
        });
    }
}

async fn deliver(state: &State, client: &reqwest::Client, d: Delivery) {
    let faults = state.faults();
    if faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    let start = rand::random_range(0..=d.endpoint.replicas.len());
    for attempt in 0..faults.max_attempts.max(1) {
        let url = d.endpoint.address(start, attempt);
        if attempt > 0 {
            let backoff = faults
                .retry_base_ms
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(30_000);
            tokio::time::sleep(Duration::from_millis(backoff)).await;
        }
        let header = signature_header(&d.body, &d.endpoint.secrets, crate::now());
        let sent = client
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .header("stripe-signature", header)
            .header("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .body(d.body.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                state.stats.delivered.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Ok(r) => tracing::debug!(status = %r.status(), url, "webhook refused; will retry"),
            Err(e) => tracing::debug!(error = %e, url, "webhook not delivered; will retry"),
        }
        state.stats.failed_attempts.fetch_add(1, Ordering::SeqCst);
    }
    state.stats.gave_up.fetch_add(1, Ordering::SeqCst);
    tracing::warn!(url = %d.endpoint.url, "webhook delivery gave up");
}

// ---- control API (JSON, no API key: the emulator listens on loopback for tests and make run) ----

pub async fn put_faults(state: web::Data<State>, body: web::Json<Faults>) -> HttpResponse {
    state.set_faults(body.into_inner());
    HttpResponse::Ok().json(state.faults())
}

pub async fn post_endpoint(state: web::Data<State>, body: web::Json<Endpoint>) -> HttpResponse {
    let endpoint = body.into_inner();
    if endpoint.secrets.is_empty() || !endpoint.url.starts_with("http") {
        return HttpResponse::BadRequest().json(json!({"error": "url (http…) and at least one secret are required"}));
    }
    state.add_endpoint(endpoint.clone());
    HttpResponse::Ok().json(endpoint)
}

pub async fn post_release(state: web::Data<State>) -> HttpResponse {
    let n = state.release();
    HttpResponse::Ok().json(json!({ "deliveries": n }))
}

pub async fn get_stats(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(state.stats.snapshot())
}
