//! `/v1/refunds`: create (full, partial, repeated — never beyond what was captured), retrieve
//! and list, for refunds of a succeeded PaymentIntent.

use crate::{State, Store, StripeError, handle, now, random_id};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

pub async fn create(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    handle(&state, &req, &body, |store, f| {
        if let Some(k) = f
            .keys()
            .find(|k| !["payment_intent", "amount", "reason", "metadata", "expand"].contains(k))
        {
            return Err(StripeError::invalid(
                &format!("Received unknown parameter: {k}"),
                Some(k),
            ));
        }
        let pi_id = f
            .get("payment_intent")
            .ok_or_else(|| {
                StripeError::invalid(
                    "One of the following params should be provided for this request: payment_intent or charge.",
                    None,
                )
            })?
            .to_owned();
        let reason = f.get("reason");
        if let Some(r) = reason.filter(|r| !["duplicate", "fraudulent", "requested_by_customer"].contains(r)) {
            return Err(StripeError::invalid(&format!("Invalid reason: {r}"), Some("reason")));
        }
        let refund = refund(store, &pi_id, f.int("amount")?, reason, json!(f.map("metadata")))?;
        Ok((200, refund))
    })
}

/// Refund `amount` (default: what is left) of a succeeded intent — from the API or, without
/// any key or idempotency, from the emulator's "dashboard".
pub(crate) fn refund(
    store: &mut Store,
    pi_id: &str,
    amount: Option<i64>,
    reason: Option<&str>,
    metadata: serde_json::Value,
) -> Result<serde_json::Value, StripeError> {
    let pi = store
        .intents
        .get(pi_id)
        .ok_or_else(|| StripeError::missing(pi_id, "payment_intent"))?;
    if pi["status"] != "succeeded" {
        return Err(StripeError::invalid(
            &format!("This PaymentIntent ({pi_id}) does not have a successful charge to refund."),
            Some("payment_intent"),
        ));
    }
    let received = pi["amount_received"].as_i64().unwrap_or(0);
    let (currency, charge) = (pi["currency"].clone(), pi["latest_charge"].clone());
    let refunded = store.refunded.get(pi_id).copied().unwrap_or(0);
    let remaining = received - refunded;
    if remaining <= 0 {
        return Err(StripeError {
            status: 400,
            body: json!({"error": {"type": "invalid_request_error", "code": "charge_already_refunded",
                "message": format!("Charge {} has already been refunded.", charge.as_str().unwrap_or(""))}}),
        });
    }
    let amount = match amount {
        None => remaining,
        Some(a) if a < 1 => return Err(StripeError::invalid("Amount must be at least 1.", Some("amount"))),
        Some(a) if a > remaining => {
            return Err(StripeError {
                status: 400,
                body: json!({"error": {"type": "invalid_request_error", "code": "amount_too_large", "param": "amount",
                    "message": format!("Refund amount ({a}) is greater than unrefunded amount on charge ({remaining})")}}),
            });
        }
        Some(a) => a,
    };
    let id = random_id("re");
    let refund = json!({
        "id": id, "object": "refund", "amount": amount, "created": now(), "currency": currency,
        "payment_intent": pi_id, "charge": charge, "status": "succeeded", "reason": reason,
        "metadata": metadata, "seq": store.refunds.len(),
    });
    store.refunded.insert(pi_id.to_owned(), refunded + amount);
    store.refunds.insert(id, refund.clone());
    let pi = store.intents.get(pi_id).cloned().unwrap_or_default();
    let charge = store.charge_of(&pi);
    store.emit("charge.refunded", &charge);
    store.emit("refund.created", &refund);
    Ok(refund)
}

pub async fn retrieve(state: web::Data<State>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let id = path.into_inner();
    handle(&state, &req, &[], |store, _| {
        store
            .refunds
            .get(&id)
            .cloned()
            .map(|r| (200, r))
            .ok_or_else(|| StripeError {
                status: 404,
                body: json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
                "message": format!("No such refund: '{id}'"), "param": "id"}}),
            })
    })
}

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    payment_intent: Option<String>,
    limit: Option<usize>,
    starting_after: Option<String>,
}

/// `GET /v1/refunds`: newest first, `payment_intent`, `limit` (1–100, default 10), `starting_after`.
pub async fn list(state: web::Data<State>, req: HttpRequest, q: web::Query<ListQuery>) -> HttpResponse {
    handle(&state, &req, &[], |store, _| {
        let limit = q.limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(StripeError::invalid("limit must be between 1 and 100", Some("limit")));
        }
        let mut all: Vec<&serde_json::Value> = store
            .refunds
            .values()
            .filter(|r| q.payment_intent.as_deref().is_none_or(|pi| r["payment_intent"] == pi))
            .collect();
        all.sort_by_key(|r| std::cmp::Reverse((r["created"].as_i64().unwrap_or(0), r["seq"].as_u64().unwrap_or(0))));
        let start = match &q.starting_after {
            Some(after) => {
                all.iter().position(|r| r["id"] == after.as_str()).ok_or_else(|| {
                    StripeError::invalid(&format!("No such refund: '{after}'"), Some("starting_after"))
                })? + 1
            }
            None => 0,
        };
        let rest = &all[start.min(all.len())..];
        let data: Vec<serde_json::Value> = rest.iter().take(limit).map(|r| (*r).clone()).collect();
        Ok((
            200,
            json!({"object": "list", "data": data, "has_more": rest.len() > limit, "url": "/v1/refunds"}),
        ))
    })
}
