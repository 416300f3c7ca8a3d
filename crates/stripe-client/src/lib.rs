//! The Stripe calls ordo makes — create/update/retrieve/cancel a PaymentIntent, create a refund —
//! through the real Stripe client (async-stripe), behind plain types. With the emulator's URL the
//! same code talks to `ordo-stripe-emulator`; with Stripe's URL and a real key, to Stripe.
//!
//! Every mutating call takes an idempotency key and is retried with that same key when the
//! connection fails (a response lost after Stripe committed the request is then answered by
//! Stripe's idempotency replay, so nothing is created twice). Keeping these calls in this small
//! crate means a service that uses them does not recompile async-stripe's request code.

use std::collections::HashMap;
use std::time::Duration;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CreatePaymentIntent, RetrievePaymentIntent, UpdatePaymentIntent,
};
use stripe_core::refund::{CreateRefund, ListRefund, RetrieveRefund};
use stripe_types::Currency;

/// Where Stripe is and how to reach it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `https://api.stripe.com/` or the emulator's `http://127.0.0.1:12111/`.
    pub base_url: String,
    pub api_key: String,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Attempts for a call whose connection failed (same idempotency key each time).
    pub attempts: u32,
}

/// A PaymentIntent as ordo needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    /// Stripe's status string: requires_payment_method, requires_confirmation, requires_action,
    /// processing, requires_capture, canceled, succeeded.
    pub status: String,
    pub amount: i64,
    pub amount_received: i64,
    pub amount_capturable: i64,
    /// Lower-case ISO code, as Stripe writes it.
    pub currency: String,
    pub client_secret: Option<String>,
    pub metadata: HashMap<String, String>,
    /// The last failed attempt: (code, message).
    pub last_error: Option<(String, String)>,
}

/// A refund as ordo needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    /// pending, requires_action, succeeded, failed, canceled.
    pub status: String,
    pub payment_intent: Option<String>,
    pub metadata: HashMap<String, String>,
}

fn refund(r: stripe_core::Refund) -> Refund {
    Refund {
        id: r.id.as_str().to_owned(),
        amount: r.amount,
        status: r.status.unwrap_or_default(),
        payment_intent: r.payment_intent.map(|p| p.id().as_str().to_owned()),
        metadata: r.metadata.unwrap_or_default(),
    }
}

/// What can go wrong talking to Stripe.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// Stripe answered and refused: its HTTP status, error type, code and message.
    #[error("Stripe refused ({status} {kind} {code}): {message}")]
    Refused {
        status: u16,
        kind: String,
        code: String,
        message: String,
    },
    /// Stripe could not be reached or its answer was lost; safe to retry with the same key.
    #[error("Stripe unavailable: {0}")]
    Unavailable(String),
    /// Our own input could not be turned into a request (a bug, or bad configuration).
    #[error("invalid Stripe request: {0}")]
    Invalid(String),
}

impl CallError {
    /// Worth retrying later (network, Stripe 5xx/429/409 lock contention).
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Unavailable(_) => true,
            CallError::Refused { status, .. } => matches!(status, 409 | 429 | 500..=599),
            CallError::Invalid(_) => false,
        }
    }
}

fn map_err(e: StripeError) -> CallError {
    match e {
        StripeError::Stripe(api, status) => CallError::Refused {
            status,
            kind: api.type_.as_str().to_owned(),
            code: api.code.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default(),
            message: api.message.clone().unwrap_or_default(),
        },
        StripeError::ConfigError(m) => CallError::Invalid(m),
        // ClientError (connection), Timeout, JSONDeserialize (a truncated body) — the request may
        // or may not have been committed: retry with the same key.
        other => CallError::Unavailable(other.to_string()),
    }
}

fn intent(pi: stripe_core::PaymentIntent) -> Intent {
    Intent {
        id: pi.id.as_str().to_owned(),
        status: pi.status.as_str().to_owned(),
        amount: pi.amount,
        amount_received: pi.amount_received,
        amount_capturable: pi.amount_capturable,
        currency: pi.currency.to_string(),
        client_secret: pi.client_secret,
        metadata: pi.metadata,
        last_error: pi.last_payment_error.map(|e| {
            (
                e.code.map(|c| c.as_str().to_owned()).unwrap_or_default(),
                e.message.unwrap_or_default(),
            )
        }),
    }
}

/// The parameters of a new PaymentIntent.
#[derive(Debug, Clone)]
pub struct NewIntent {
    pub amount: i64,
    /// ISO 4217 code, any case.
    pub currency: String,
    pub metadata: HashMap<String, String>,
    pub receipt_email: Option<String>,
    pub description: Option<String>,
    /// Authorize now, capture later.
    pub manual_capture: bool,
}

/// A configured Stripe client.
#[derive(Clone)]
pub struct Stripe {
    client: Client,
    settings: Settings,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("base_url", &self.settings.base_url)
            .finish()
    }
}

fn key(k: &str) -> Result<RequestStrategy, CallError> {
    IdempotencyKey::new(k)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| CallError::Invalid(e.to_string()))
}

impl Stripe {
    pub fn new(settings: Settings) -> Result<Stripe, CallError> {
        let client = ClientBuilder::new(settings.api_key.as_str())
            .url(settings.base_url.as_str())
            .timeout(settings.timeout)
            .build()
            .map_err(map_err)?;
        Ok(Stripe { client, settings })
    }

    /// Run `call` until it succeeds, is refused, or the attempts are spent (backoff 50 ms · 2ⁿ).
    async fn retrying<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StripeError>>,
    {
        let mut attempt = 0u32;
        loop {
            match call().await.map_err(map_err) {
                Err(e @ CallError::Unavailable(_)) if attempt + 1 < self.settings.attempts.max(1) => {
                    tracing::warn!(call = what, attempt, error = %e, "Stripe call failed; retrying with the same idempotency key");
                    tokio::time::sleep(Duration::from_millis(50u64 << attempt.min(6))).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub async fn create_intent(&self, idempotency_key: &str, new: &NewIntent) -> Result<Intent, CallError> {
        let currency: Currency = new
            .currency
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| CallError::Invalid(format!("currency {}", new.currency)))?;
        let strategy = key(idempotency_key)?;
        let mut req = CreatePaymentIntent::new(new.amount, currency).metadata(new.metadata.clone());
        if let Some(e) = &new.receipt_email {
            req = req.receipt_email(e.as_str());
        }
        if let Some(d) = &new.description {
            req = req.description(d.as_str());
        }
        if new.manual_capture {
            req = req.capture_method(stripe_core::PaymentIntentCaptureMethod::Manual);
        }
        self.retrying("create_intent", || {
            req.customize().request_strategy(strategy.clone()).send(&self.client)
        })
        .await
        .map(intent)
    }

    /// Change the amount of an unpaid intent.
    pub async fn update_amount(&self, id: &str, idempotency_key: &str, amount: i64) -> Result<Intent, CallError> {
        let strategy = key(idempotency_key)?;
        let req = UpdatePaymentIntent::new(id).amount(amount);
        self.retrying("update_intent", || {
            req.customize().request_strategy(strategy.clone()).send(&self.client)
        })
        .await
        .map(intent)
    }

    pub async fn retrieve_intent(&self, id: &str) -> Result<Intent, CallError> {
        let req = RetrievePaymentIntent::new(id);
        self.retrying("retrieve_intent", || req.send(&self.client))
            .await
            .map(intent)
    }

    pub async fn cancel_intent(&self, id: &str, idempotency_key: &str) -> Result<Intent, CallError> {
        let strategy = key(idempotency_key)?;
        let req = CancelPaymentIntent::new(id);
        self.retrying("cancel_intent", || {
            req.customize().request_strategy(strategy.clone()).send(&self.client)
        })
        .await
        .map(intent)
    }

    /// Refund `amount` of the intent's charge (`None`: what is left).
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        amount: Option<i64>,
        idempotency_key: &str,
        metadata: HashMap<String, String>,
    ) -> Result<Refund, CallError> {
        let strategy = key(idempotency_key)?;
        let mut req = CreateRefund::new().payment_intent(payment_intent).metadata(metadata);
        if let Some(a) = amount {
            req = req.amount(a);
        }
        self.retrying("create_refund", || {
            req.customize().request_strategy(strategy.clone()).send(&self.client)
        })
        .await
        .map(refund)
    }

    pub async fn retrieve_refund(&self, id: &str) -> Result<Refund, CallError> {
        let req = RetrieveRefund::new(id);
        self.retrying("retrieve_refund", || req.send(&self.client))
            .await
            .map(refund)
    }

    /// Every refund of a PaymentIntent (all pages), newest first.
    pub async fn list_refunds(&self, payment_intent: &str) -> Result<Vec<Refund>, CallError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut req = ListRefund::new().payment_intent(payment_intent).limit(100);
            if let Some(a) = &after {
                req = req.starting_after(a.as_str());
            }
            let page = self.retrying("list_refunds", || req.send(&self.client)).await?;
            let more = page.has_more;
            out.extend(page.data.into_iter().map(refund));
            match (more, out.last()) {
                (true, Some(last)) => after = Some(last.id.clone()),
                _ => return Ok(out),
            }
        }
    }
}
