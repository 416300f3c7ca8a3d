//! Stripe `Event` objects: every state change the emulator makes is recorded as an event
//! (`payment_intent.succeeded`, `charge.refunded`, …) that `/v1/events` lists and retrieves and
//! the webhook dispatcher sends to registered endpoints.

use crate::{State, Store, StripeError, handle, now, random_id};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

/// The API version the emulator renders objects in.
pub const API_VERSION: &str = "2025-09-30.clover";

impl Store {
    /// Record an event of `kind` about `object` (a snapshot of it now) and queue it for webhooks.
    pub fn emit(&mut self, kind: &str, object: &Value) {
        let id = random_id("evt");
        let event = json!({
            "id": id, "object": "event", "api_version": API_VERSION, "created": now(),
            "data": {"object": object}, "livemode": false, "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null}, "type": kind,
        });
        self.event_index.insert(id, self.events.len());
        self.events.push(event.clone());
        self.outbound.push(event);
    }

    /// The charge object behind a PaymentIntent's latest charge.
    pub fn charge_of(&self, pi: &Value) -> Value {
        let pi_id = pi["id"].as_str().unwrap_or_default();
        let captured = pi["amount_received"].as_i64().unwrap_or(0);
        let refunded = self.refunded.get(pi_id).copied().unwrap_or(0);
        let failed = !pi["last_payment_error"].is_null() && pi["status"] == "requires_payment_method";
        json!({
            "id": pi["latest_charge"], "object": "charge", "amount": pi["amount"], "amount_captured": captured,
            "amount_refunded": refunded, "captured": captured > 0, "created": now(), "currency": pi["currency"],
            "livemode": false, "metadata": pi["metadata"], "paid": !failed, "payment_intent": pi_id,
            "payment_method": pi["payment_method"], "refunded": captured > 0 && refunded >= captured,
            "status": if failed { "failed" } else { "succeeded" },
            "failure_code": if failed { pi["last_payment_error"]["code"].clone() } else { Value::Null },
            "failure_message": if failed { pi["last_payment_error"]["message"].clone() } else { Value::Null },
        })
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
    starting_after: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `GET /v1/events`: newest first, `limit` (1–100, default 10), `starting_after`, `type`.
pub async fn list(state: web::Data<State>, req: HttpRequest, q: web::Query<ListQuery>) -> HttpResponse {
    handle(&state, &req, &[], |store, _| {
        let limit = q.limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(StripeError::invalid("limit must be between 1 and 100", Some("limit")));
        }
        let mut end = store.events.len();
        if let Some(after) = &q.starting_after {
            end = *store
                .event_index
                .get(after)
                .ok_or_else(|| StripeError::invalid(&format!("No such event: '{after}'"), Some("starting_after")))?;
        }
        let matching = store.events[..end]
            .iter()
            .rev()
            .filter(|e| q.kind.as_deref().is_none_or(|k| e["type"] == k));
        let mut data: Vec<Value> = matching.take(limit + 1).cloned().collect();
        let has_more = data.len() > limit;
        data.truncate(limit);
        Ok((
            200,
            json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/events"}),
        ))
    })
}

/// `GET /v1/events/{id}`.
pub async fn retrieve(state: web::Data<State>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let id = path.into_inner();
    handle(&state, &req, &[], |store, _| {
        store
            .event_index
            .get(&id)
            .map(|i| (200, store.events[*i].clone()))
            .ok_or_else(|| StripeError {
                status: 404,
                body: json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
                    "message": format!("No such event: '{id}'"), "param": "id"}}),
            })
    })
}
