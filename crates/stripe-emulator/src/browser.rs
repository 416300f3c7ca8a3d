//! What a browser talks to: the Stripe.js subset at `/v3/` (`static/stripe-v3.js`), the
//! authentication challenge of a `requires_action` intent, and CORS on the API (a storefront's
//! page on another origin calls `/v1/payment_intents/{id}/confirm` with the publishable key, as it
//! calls api.stripe.com).

use crate::{State, intents, respond};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

const STRIPE_JS: &str = include_str!("../static/stripe-v3.js");

pub async fn stripe_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header(("access-control-allow-origin", "*"))
        .body(STRIPE_JS)
}

#[derive(Debug, serde::Deserialize)]
pub struct Authenticate {
    client_secret: String,
    /// `complete` or `fail`
    outcome: String,
}

/// `POST /_emulator/payment_intents/{id}/authenticate` `{"client_secret", "outcome"}`: the
/// customer's answer to the 3-D Secure challenge, as the Stripe.js subset's dialog sends it.
pub async fn authenticate(
    state: web::Data<State>,
    path: web::Path<String>,
    body: web::Json<Authenticate>,
) -> HttpResponse {
    let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let result = intents::authenticate(&mut store, &path, &body.client_secret, &body.outcome);
    let events = std::mem::take(&mut store.outbound);
    drop(store);
    state.dispatch(events);
    match result {
        Ok(pi) => respond(200, &pi, false),
        Err(e) => respond(e.status, &e.body, false),
    }
}

/// CORS: preflights answered, every answer readable from any origin (the keys, not cookies, are
/// the credentials, as with Stripe's API).
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == actix_web::http::Method::OPTIONS {
        let res = HttpResponse::NoContent()
            .insert_header(("access-control-allow-origin", "*"))
            .insert_header(("access-control-allow-methods", "GET, POST"))
            .insert_header((
                "access-control-allow-headers",
                "authorization, content-type, idempotency-key, stripe-version",
            ))
            .insert_header(("access-control-max-age", "600"))
            .finish();
        return Ok(req.into_response(res).map_into_boxed_body());
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    res.headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    Ok(res)
}
