//! `POST /webhooks/stripe`: verify the signature over the raw body, store the event by its id (a
//! repeat is a no-op), apply it, answer 2xx — all in one short transaction with no call to
//! Stripe. An event that needs a read from Stripe is left to the reconciler, woken at once.

use crate::AppState;
use crate::signature;
use crate::stripe_events::{self, Outcome, StripeEvent};
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_http::ApiError;
use serde_json::json;

fn db_err(e: sqlx::Error) -> ApiError {
    ApiError::internal(e)
}

#[utoipa::path(
    post,
    path = "/webhooks/stripe",
    tag = "webhooks",
    request_body(content = String, content_type = "application/json",
        description = "A Stripe event, exactly as Stripe sent it (signed over these bytes)"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<hex HMAC-SHA256>[,v1=…]")),
    responses(
        (status = 200, description = "Stored (or already stored); applied, ignored or left for reconciliation"),
        (status = 400, description = "Missing, forged or stale signature, or not a Stripe event; nothing stored"),
    ),
)]
pub async fn receive(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let header = req.headers().get("stripe-signature").and_then(|v| v.to_str().ok());
    let secrets: Vec<&str> = state
        .stripe_config
        .webhook_secrets
        .iter()
        .map(|s| s.expose().as_str())
        .collect();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Err(e) = signature::verify(header, &body, &secrets, state.stripe_config.webhook_tolerance_secs, now) {
        metrics::counter!("ordo_stripe_webhooks_total", "result" => format!("refused_{}", e.code())).increment(1);
        tracing::warn!(reason = e.code(), "Stripe webhook refused");
        if e == signature::SignatureError::NotConfigured {
            return Err(ApiError::unavailable("webhook_secret_not_configured"));
        }
        return Err(ApiError::bad_request(
            "invalid_signature",
            "the Stripe-Signature header does not verify",
        ));
    }
    let event: StripeEvent = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("invalid_event", "the body is not a Stripe event"))?;
    let payload: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::bad_request("invalid_event", "the body is not JSON"))?;
    let mut tx = state.pool.begin().await.map_err(db_err)?;
    let fresh: Option<String> = sqlx::query_scalar(
        "insert into payments.stripe_events (id, type, created, payment_intent_id, payload)
         values ($1, $2, $3, $4, $5) on conflict (id) do nothing returning id",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(event.created)
    .bind(event.payment_intent_id())
    .bind(&payload)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    if fresh.is_none() {
        tx.commit().await.map_err(db_err)?;
        metrics::counter!("ordo_stripe_webhooks_total", "result" => "duplicate").increment(1);
        return Ok(HttpResponse::Ok().json(json!({"received": true, "duplicate": true})));
    }
    let outcome = stripe_events::apply_event(&mut tx, &event).await.map_err(db_err)?;
    let label = match &outcome {
        Outcome::Applied => "applied",
        Outcome::Ignored(why) => why,
        Outcome::Doubt => "doubt",
    };
    if outcome != Outcome::Doubt {
        sqlx::query("update payments.stripe_events set processed_at = now(), outcome = $2 where id = $1")
            .bind(&event.id)
            .bind(label)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    if outcome == Outcome::Doubt {
        state.doubts.notify_one();
    }
    let result = if outcome == Outcome::Applied {
        "applied"
    } else if outcome == Outcome::Doubt {
        "doubt"
    } else {
        "ignored"
    };
    metrics::counter!("ordo_stripe_webhooks_total", "result" => result).increment(1);
    tracing::info!(event = %event.id, kind = %event.kind, outcome = label, "Stripe event");
    Ok(HttpResponse::Ok().json(json!({"received": true})))
}
