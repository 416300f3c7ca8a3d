//! `POST /webhooks/stripe`: verify the signature over the raw body, store the event by its id (a
//! repeat is a no-op), apply it, answer 2xx — all in one short transaction with no call to
//! Stripe. An event that needs a read from Stripe is left to the reconciler, woken at once. An
//! event of a type ordo does not act on ([`stripe_events::HANDLED`]) is answered 2xx without
//! touching the database.

use crate::stripe_events::{self, Outcome, StripeEvent};
use crate::{AppState, signature, store};
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_http::ApiError;

ordo_http::endpoints!(receive_stripe_webhook);

/// What Stripe is told.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReceivedOut {
    /// Always true: the event is stored (when its type is one ordo handles; others are
    /// acknowledged and dropped).
    pub received: bool,
    /// Present (true) when the event had been received before; nothing was done again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
}

/// The bearer-less error answer of the webhook.
#[derive(Debug, utoipa::IntoResponses)]
pub enum WebhookErrors {
    /// Missing, forged or stale signature, or not a Stripe event; nothing stored
    #[response(status = 400, content_type = "application/vnd.api+json")]
    Refused(ordo_http::ErrorDocument),
    /// No webhook secret configured (webhook_secret_not_configured) or the database is busy
    #[response(status = 503, content_type = "application/vnd.api+json")]
    Unavailable(ordo_http::ErrorDocument),
}

#[utoipa::path(
    post,
    path = "/webhooks/stripe",
    tag = "webhooks",
    summary = "Receive a Stripe event (signed with the endpoint's secret)",
    request_body(content = String, content_type = "application/json",
        description = "A Stripe event, exactly as Stripe sent it (signed over these bytes)"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<hex HMAC-SHA256>[,v1=…]")),
    responses(
        (status = 200, description = "Stored (or already stored); applied, ignored or left for reconciliation. A type ordo does not handle is acknowledged and not stored", body = ReceivedOut),
        WebhookErrors,
    ),
)]
async fn receive_stripe_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
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
    if !stripe_events::HANDLED.contains(&event.kind.as_str()) {
        // Stripe sends what the endpoint subscribes to; a type ordo does not act on
        // (`payment_intent.created`, `charge.succeeded`, …) is acknowledged without a write.
        metrics::counter!("ordo_stripe_webhooks_total", "result" => "not_handled").increment(1);
        tracing::debug!(event = %event.id, kind = %event.kind, "Stripe event of a type not handled");
        return Ok(HttpResponse::Ok().json(ReceivedOut {
            received: true,
            duplicate: None,
        }));
    }
    let payload: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::bad_request("invalid_event", "the body is not JSON"))?;
    let mut tx = state.pool.begin().await?;
    let fresh = store::stripe_events::record(
        &mut tx,
        &event.id,
        &event.kind,
        event.created,
        event.payment_intent_id().as_deref(),
        &payload,
    )
    .await?;
    if !fresh {
        tx.commit().await?;
        metrics::counter!("ordo_stripe_webhooks_total", "result" => "duplicate").increment(1);
        return Ok(HttpResponse::Ok().json(ReceivedOut {
            received: true,
            duplicate: Some(true),
        }));
    }
    let outcome = stripe_events::apply_event(&mut tx, &event).await?;
    let label = match &outcome {
        Outcome::Applied => "applied",
        Outcome::Ignored(why) => why,
        Outcome::Doubt => "doubt",
    };
    match outcome {
        Outcome::Applied => {} // recorded so
        Outcome::Ignored(why) => store::stripe_events::processed(&mut tx, &event.id, why).await?,
        Outcome::Doubt => store::stripe_events::unprocessed(&mut tx, &event.id).await?,
    }
    tx.commit().await?;
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
    Ok(HttpResponse::Ok().json(ReceivedOut {
        received: true,
        duplicate: None,
    }))
}
