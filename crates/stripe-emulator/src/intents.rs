//! `/v1/payment_intents`: create, retrieve, update, confirm, capture, cancel — the state
//! machine of a card PaymentIntent with Stripe's test payment methods.

use crate::form::Form;
use crate::{State, Store, StripeError, handle, handle_as, now, random_id};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

const SUCCEEDING: &[&str] = &[
    "pm_card_visa",
    "pm_card_mastercard",
    "pm_card_visa_debit",
    "pm_card_amex",
];
const DECLINED: &[&str] = &["pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"];
/// Needs the customer to authenticate (3-D Secure): confirming leaves `requires_action` until the
/// browser completes or fails the challenge (`POST /_emulator/payment_intents/{id}/authenticate`).
pub const AUTHENTICATION_REQUIRED: &str = "pm_card_authenticationRequired";
/// Emulator-only: confirms into `processing`, like Stripe's asynchronous payment methods; the
/// control API settles it later (`POST /_emulator/payment_intents/{id}/settle`).
pub const ASYNC: &str = "pm_async_processing";

fn known(f: &Form, allowed: &[&str]) -> Result<(), StripeError> {
    match f.keys().find(|k| !allowed.contains(k)) {
        Some(k) => Err(StripeError::invalid(
            &format!("Received unknown parameter: {k}"),
            Some(k),
        )),
        None => Ok(()),
    }
}

fn currency(f: &Form) -> Result<String, StripeError> {
    let c = f
        .get("currency")
        .ok_or_else(|| StripeError::invalid("Missing required param: currency.", Some("currency")))?;
    if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) {
        Ok(c.to_ascii_lowercase())
    } else {
        Err(StripeError::invalid(
            &format!("Invalid currency: {c}."),
            Some("currency"),
        ))
    }
}

fn amount(f: &Form, key: &str) -> Result<Option<i64>, StripeError> {
    match f.int(key)? {
        Some(a) if !(1..=99_999_999).contains(&a) => Err(StripeError::invalid(
            "Amount must be between 1 and 99999999 minor units.",
            Some(key),
        )),
        other => Ok(other),
    }
}

fn merge_metadata(pi: &mut Value, f: &Form) {
    for (k, v) in f.map("metadata") {
        if v.is_empty() {
            if let Some(m) = pi["metadata"].as_object_mut() {
                m.remove(&k);
            }
        } else {
            pi["metadata"][k] = json!(v);
        }
    }
}

fn status(pi: &Value) -> &str {
    pi["status"].as_str().unwrap_or("")
}

/// Confirm `pi` with its payment method: success, manual-capture hold, or a decline (402).
fn confirm_intent(pi: &mut Value, pm: Option<&str>) -> Result<(), StripeError> {
    if !matches!(
        status(pi),
        "requires_payment_method" | "requires_confirmation" | "requires_action"
    ) {
        return Err(StripeError::state(format!(
            "This PaymentIntent's status is {}, but it must be requires_payment_method or requires_confirmation to be confirmed.",
            status(pi)
        )));
    }
    if let Some(pm) = pm {
        pi["payment_method"] = json!(pm);
    }
    let Some(pm) = pi["payment_method"].as_str().map(str::to_owned) else {
        return Err(StripeError::invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            Some("payment_method"),
        ));
    };
    let amount = pi["amount"].as_i64().unwrap_or(0);
    if pm == AUTHENTICATION_REQUIRED && status(pi) != "requires_action" {
        pi["status"] = json!("requires_action");
        pi["last_payment_error"] = Value::Null;
        pi["next_action"] = json!({"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}});
        Ok(())
    } else if pm == AUTHENTICATION_REQUIRED {
        Ok(())
    } else if pm == ASYNC {
        pi["latest_charge"] = json!(random_id("ch"));
        pi["last_payment_error"] = Value::Null;
        pi["status"] = json!("processing");
        Ok(())
    } else if SUCCEEDING.contains(&pm.as_str()) {
        pi["latest_charge"] = json!(random_id("ch"));
        pi["last_payment_error"] = Value::Null;
        if pi["capture_method"] == "manual" {
            pi["status"] = json!("requires_capture");
            pi["amount_capturable"] = json!(amount);
        } else {
            pi["status"] = json!("succeeded");
            pi["amount_received"] = json!(amount);
        }
        Ok(())
    } else if DECLINED.contains(&pm.as_str()) {
        let error = json!({"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                           "message": "Your card was declined."});
        pi["status"] = json!("requires_payment_method");
        pi["payment_method"] = Value::Null;
        pi["latest_charge"] = json!(random_id("ch"));
        pi["last_payment_error"] = error.clone();
        let mut body = error;
        body["payment_intent"] = pi.clone();
        Err(StripeError {
            status: 402,
            body: json!({ "error": body }),
        })
    } else {
        Err(StripeError {
            status: 400,
            body: json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
                "message": format!("No such PaymentMethod: '{pm}'"), "param": "payment_method"}}),
        })
    }
}

/// Run `f` on a stored intent and store the result, even when `f` refuses (a decline is recorded).
fn with_intent(
    store: &mut Store,
    id: &str,
    f: impl FnOnce(&mut Value) -> Result<(), StripeError>,
) -> Result<(u16, Value), StripeError> {
    let pi = store
        .intents
        .get_mut(id)
        .ok_or_else(|| StripeError::missing(id, "intent"))?;
    let before = status(pi).to_owned();
    let result = f(pi);
    let snapshot = pi.clone();
    store.emit_transition(&before, &snapshot, result.as_ref().err());
    result.map(|()| (200, snapshot))
}

pub async fn create(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    handle(&state, &req, &body, |store, f| {
        known(
            f,
            &[
                "amount",
                "currency",
                "metadata",
                "capture_method",
                "payment_method",
                "confirm",
                "description",
                "receipt_email",
                "payment_method_types",
                "automatic_payment_methods",
                "expand",
            ],
        )?;
        let amount = amount(f, "amount")?
            .ok_or_else(|| StripeError::invalid("Missing required param: amount.", Some("amount")))?;
        let currency = currency(f)?;
        let capture_method = f.get("capture_method").unwrap_or("automatic_async");
        if !matches!(capture_method, "automatic" | "automatic_async" | "manual") {
            return Err(StripeError::invalid("Invalid capture_method.", Some("capture_method")));
        }
        let id = random_id("pi");
        let mut pi = json!({
            "id": id, "object": "payment_intent", "amount": amount, "amount_capturable": 0, "amount_received": 0,
            "capture_method": capture_method, "confirmation_method": "automatic", "created": now(),
            "currency": currency, "livemode": false, "metadata": {}, "payment_method_types": ["card"],
            "status": "requires_payment_method", "client_secret": format!("{id}_secret_{}", random_id("s")),
            "description": f.get("description"), "receipt_email": f.get("receipt_email"),
            "payment_method": null, "latest_charge": null, "last_payment_error": null,
            "canceled_at": null, "cancellation_reason": null,
        });
        merge_metadata(&mut pi, f);
        if let Some(pm) = f.get("payment_method") {
            pi["payment_method"] = json!(pm);
            pi["status"] = json!("requires_confirmation");
        }
        let confirm = f.bool("confirm")?.unwrap_or(false);
        let result = if confirm { confirm_intent(&mut pi, None) } else { Ok(()) };
        store.intents.insert(id, pi.clone());
        let mut created = pi.clone();
        created["status"] = json!(if created["payment_method"].is_null() || result.is_err() {
            "requires_payment_method"
        } else {
            "requires_confirmation"
        });
        store.emit("payment_intent.created", &created);
        store.emit_transition("requires_payment_method", &pi, result.as_ref().err());
        result.map(|()| (200, pi))
    })
}

pub async fn retrieve(state: web::Data<State>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let id = path.into_inner();
    handle_as(&state, &req, &[], Some(&id), |store, _| {
        store
            .intents
            .get(&id)
            .cloned()
            .map(|pi| (200, pi))
            .ok_or_else(|| StripeError::missing(&id, "intent"))
    })
}

pub async fn update(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let id = path.into_inner();
    handle(&state, &req, &body, |store, f| {
        known(
            f,
            &[
                "amount",
                "currency",
                "metadata",
                "payment_method",
                "description",
                "receipt_email",
                "expand",
            ],
        )?;
        let amount = amount(f, "amount")?;
        let currency = if f.get("currency").is_some() {
            Some(currency(f)?)
        } else {
            None
        };
        with_intent(store, &id, |pi| {
            if !matches!(
                status(pi),
                "requires_payment_method" | "requires_confirmation" | "requires_action"
            ) {
                return Err(StripeError::state(format!(
                    "This PaymentIntent's status is {}; it can no longer be updated.",
                    status(pi)
                )));
            }
            if let Some(a) = amount {
                pi["amount"] = json!(a);
            }
            if let Some(c) = currency {
                pi["currency"] = json!(c);
            }
            if let Some(pm) = f.get("payment_method") {
                pi["payment_method"] = json!(pm);
                pi["status"] = json!("requires_confirmation");
            }
            for k in ["description", "receipt_email"] {
                if let Some(v) = f.get(k) {
                    pi[k] = json!(v);
                }
            }
            merge_metadata(pi, f);
            Ok(())
        })
    })
}

pub async fn confirm(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let id = path.into_inner();
    handle_as(&state, &req, &body, Some(&id), |store, f| {
        known(f, &["payment_method", "return_url", "expand", "client_secret"])?;
        with_intent(store, &id, |pi| confirm_intent(pi, f.get("payment_method")))
    })
}

pub async fn capture(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let id = path.into_inner();
    handle(&state, &req, &body, |store, f| {
        known(f, &["amount_to_capture", "metadata", "expand"])?;
        let to_capture = amount(f, "amount_to_capture")?;
        with_intent(store, &id, |pi| {
            if status(pi) != "requires_capture" {
                return Err(StripeError::state(format!(
                    "This PaymentIntent could not be captured because it has a status of {}.",
                    status(pi)
                )));
            }
            let capturable = pi["amount_capturable"].as_i64().unwrap_or(0);
            let amount = to_capture.unwrap_or(capturable);
            if amount > capturable {
                return Err(StripeError::invalid(
                    "amount_to_capture exceeds the amount capturable.",
                    Some("amount_to_capture"),
                ));
            }
            pi["status"] = json!("succeeded");
            pi["amount_received"] = json!(amount);
            pi["amount_capturable"] = json!(0);
            merge_metadata(pi, f);
            Ok(())
        })
    })
}

pub async fn cancel(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let id = path.into_inner();
    handle(&state, &req, &body, |store, f| {
        known(f, &["cancellation_reason", "expand"])?;
        let reason = f.get("cancellation_reason").map(str::to_owned);
        with_intent(store, &id, |pi| {
            let cancelable = [
                "requires_payment_method",
                "requires_capture",
                "requires_confirmation",
                "requires_action",
                "processing",
            ];
            if !cancelable.contains(&status(pi)) {
                return Err(StripeError::state(format!(
                    "You cannot cancel this PaymentIntent because it has a status of {}. Only a PaymentIntent with one of the \
                     following statuses may be canceled: {}.",
                    status(pi),
                    cancelable.join(", ")
                )));
            }
            pi["status"] = json!("canceled");
            pi["amount_capturable"] = json!(0);
            pi["canceled_at"] = json!(now());
            pi["cancellation_reason"] = json!(reason);
            Ok(())
        })
    })
}

impl Store {
    /// The events Stripe sends when an intent moves from `before` to `pi`'s status (`declined`:
    /// the confirmation was refused with a card error).
    pub(crate) fn emit_transition(&mut self, before: &str, pi: &Value, declined: Option<&StripeError>) {
        if declined.is_some_and(|e| e.status == 402) {
            let charge = self.charge_of(pi);
            self.emit("charge.failed", &charge);
            self.emit("payment_intent.payment_failed", pi);
            return;
        }
        let after = status(pi);
        if after == before {
            return;
        }
        match after {
            "processing" => self.emit("payment_intent.processing", pi),
            "requires_action" => self.emit("payment_intent.requires_action", pi),
            "requires_capture" => {
                let charge = self.charge_of(pi);
                self.emit("charge.succeeded", &charge);
                self.emit("payment_intent.amount_capturable_updated", pi);
            }
            "succeeded" => {
                let charge = self.charge_of(pi);
                self.emit(
                    if before == "requires_capture" {
                        "charge.captured"
                    } else {
                        "charge.succeeded"
                    },
                    &charge,
                );
                self.emit("payment_intent.succeeded", pi);
            }
            "canceled" => self.emit("payment_intent.canceled", pi),
            _ => {}
        }
    }
}

/// The customer completed (`complete`) or failed (`fail`) the authentication an intent in
/// `requires_action` asked for.
pub(crate) fn authenticate(
    store: &mut Store,
    id: &str,
    client_secret: &str,
    outcome: &str,
) -> Result<Value, StripeError> {
    let pi = store
        .intents
        .get_mut(id)
        .filter(|pi| pi["client_secret"].as_str() == Some(client_secret))
        .ok_or_else(|| StripeError::missing(id, "intent"))?;
    if status(pi) != "requires_action" {
        return Err(StripeError::state(format!(
            "This PaymentIntent is {}, not requires_action.",
            status(pi)
        )));
    }
    pi["next_action"] = Value::Null;
    let declined = match outcome {
        "complete" => {
            let amount = pi["amount"].clone();
            pi["latest_charge"] = json!(random_id("ch"));
            if pi["capture_method"] == "manual" {
                pi["status"] = json!("requires_capture");
                pi["amount_capturable"] = amount;
            } else {
                pi["status"] = json!("succeeded");
                pi["amount_received"] = amount;
            }
            None
        }
        "fail" => {
            let error = json!({"type": "card_error", "code": "payment_intent_authentication_failure",
                "message": "We are unable to authenticate your payment method. Please choose a different payment method and try again."});
            pi["status"] = json!("requires_payment_method");
            pi["payment_method"] = Value::Null;
            pi["last_payment_error"] = error.clone();
            Some(StripeError {
                status: 402,
                body: json!({ "error": error }),
            })
        }
        other => {
            return Err(StripeError::invalid(
                &format!("outcome {other:?}: complete or fail"),
                Some("outcome"),
            ));
        }
    };
    let snapshot = pi.clone();
    store.emit_transition("requires_action", &snapshot, declined.as_ref());
    match declined {
        Some(e) => Err(StripeError {
            status: 402,
            body: {
                let mut b = e.body;
                b["error"]["payment_intent"] = snapshot;
                b
            },
        }),
        None => Ok(snapshot),
    }
}

/// Settle a `processing` intent (emulator control): `succeeded` or `failed`; with `webhook:
/// false` the events are recorded but not sent (a lost webhook, for reconciliation tests).
pub(crate) fn settle(store: &mut Store, id: &str, outcome: &str, webhook: bool) -> Result<Value, StripeError> {
    let pi = store
        .intents
        .get_mut(id)
        .ok_or_else(|| StripeError::missing(id, "intent"))?;
    if status(pi) != "processing" {
        return Err(StripeError::state(format!(
            "This PaymentIntent is {}, not processing.",
            status(pi)
        )));
    }
    let declined = match outcome {
        "succeeded" => {
            pi["status"] = json!("succeeded");
            pi["amount_received"] = pi["amount"].clone();
            None
        }
        "failed" => {
            let error = json!({"type": "card_error", "code": "payment_method_provider_decline",
                               "message": "The payment was declined by the payment method's provider."});
            pi["status"] = json!("requires_payment_method");
            pi["payment_method"] = Value::Null;
            pi["last_payment_error"] = error.clone();
            Some(StripeError {
                status: 402,
                body: error,
            })
        }
        other => {
            return Err(StripeError::invalid(
                &format!("outcome {other:?}: succeeded or failed"),
                Some("outcome"),
            ));
        }
    };
    let snapshot = pi.clone();
    let queued = store.outbound.len();
    store.emit_transition("processing", &snapshot, declined.as_ref());
    if !webhook {
        store.outbound.truncate(queued);
    }
    Ok(snapshot)
}
