//! Signing in and out: the sign-in page, the redirect to the OpenID Connect provider and its
//! callback, the development sign-in (only with the development configuration), sign-out.

use crate::AppState;
use crate::session::{LOGIN_COOKIE, PendingSignIn, SESSION_COOKIE, Session, now, random_token};
use crate::web::{Form, PageError, PageResult, html, local_path, see_other};
use actix_web::http::StatusCode;
use actix_web::http::header::{LOCATION, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use std::time::Duration;

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    return_to: &'a str,
    oidc: bool,
    dev: bool,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ReturnTo {
    return_to: Option<String>,
}

fn sign_in_page(state: &AppState, return_to: &str, error: Option<String>, status: StatusCode) -> PageResult {
    let page = SignInPage {
        return_to,
        oidc: state.oidc.is_some(),
        dev: state.dev_sign_in(),
        error,
    };
    let mut res = html(&page)?;
    *res.status_mut() = status;
    Ok(res)
}

pub async fn page(state: web::Data<AppState>, q: web::Query<ReturnTo>) -> PageResult {
    let return_to = local_path(q.return_to.as_deref().unwrap_or("/"));
    sign_in_page(&state, &return_to, None, StatusCode::OK)
}

/// To the provider, remembering state, nonce and the PKCE verifier in a signed cookie.
pub async fn start(state: web::Data<AppState>, q: web::Query<ReturnTo>) -> PageResult {
    let return_to = local_path(q.return_to.as_deref().unwrap_or("/"));
    let Some(oidc) = &state.oidc else {
        return Err(PageError::NotFound);
    };
    match oidc.start(&return_to).await {
        Ok((url, pending)) => Ok(HttpResponse::SeeOther()
            .insert_header((LOCATION, url))
            .insert_header((
                SET_COOKIE,
                state.signer.set_cookie(LOGIN_COOKIE, &pending, pending.expires_at),
            ))
            .finish()),
        Err(e) => sign_in_page(&state, &return_to, Some(e.to_string()), StatusCode::SERVICE_UNAVAILABLE),
    }
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider sent the browser back: exchange the code, check the ID token, start a session.
pub async fn callback(state: web::Data<AppState>, req: HttpRequest, q: web::Query<Callback>) -> PageResult {
    let Some(oidc) = &state.oidc else {
        return Err(PageError::NotFound);
    };
    let pending: Option<PendingSignIn> = state.signer.read(&req, LOGIN_COOKIE);
    let refuse = |why: String, status: StatusCode| -> PageResult {
        tracing::info!(reason = %why, "sign-in refused");
        metrics::counter!("ordo_dashboard_sign_ins_total", "result" => "refused").increment(1);
        let mut res = sign_in_page(&state, "/", Some(why), status)?;
        if let Ok(v) = state.signer.clear_cookie(LOGIN_COOKIE).parse() {
            res.headers_mut().append(SET_COOKIE, v);
        }
        Ok(res)
    };
    if let Some(e) = &q.error {
        let why = q.error_description.as_deref().unwrap_or(e);
        return refuse(format!("the sign-in provider refused: {why}"), StatusCode::FORBIDDEN);
    }
    let (Some(pending), Some(code), Some(st)) = (pending, q.code.as_deref(), q.state.as_deref()) else {
        return refuse(
            crate::oidc::SignInError::StateMismatch.to_string(),
            StatusCode::BAD_REQUEST,
        );
    };
    match oidc
        .finish(&pending, code, st, state.config.dashboard.session_ttl_secs)
        .await
    {
        Ok(session) => {
            metrics::counter!("ordo_dashboard_sign_ins_total", "result" => "signed_in").increment(1);
            tracing::info!(subject = %session.subject, tenant = %session.tenant_id, "operator signed in");
            Ok(signed_in(&state, &session, &pending.return_to))
        }
        Err(e @ crate::oidc::SignInError::NotOperator) => refuse(e.to_string(), StatusCode::FORBIDDEN),
        Err(e) => refuse(e.to_string(), StatusCode::BAD_REQUEST),
    }
}

fn signed_in(state: &AppState, session: &Session, return_to: &str) -> HttpResponse {
    let mut res = see_other(&local_path(return_to));
    for line in [
        state.signer.set_cookie(SESSION_COOKIE, session, session.expires_at),
        state.signer.clear_cookie(LOGIN_COOKIE),
    ] {
        if let Ok(v) = line.parse() {
            res.headers_mut().append(SET_COOKIE, v);
        }
    }
    res
}

/// The development sign-in: the demo tenant's operator, with a token minted from the
/// development secret. Not routed unless the development configuration turned it on.
pub async fn dev(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> PageResult {
    if !state.dev_sign_in() {
        return Err(PageError::NotFound);
    }
    // No session yet to hold a CSRF token: a browser's cross-site post says so in its headers.
    let cross_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site");
    let origin_ok = req
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|o| state.config.dashboard.public_url.trim_end_matches('/') == o);
    if cross_site || !origin_ok {
        return Err(PageError::Csrf);
    }
    let pairs = crate::web::form_pairs(&body);
    let return_to = pairs
        .iter()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| local_path(v))
        .unwrap_or_else(|| "/".into());
    let ttl = state.config.dashboard.session_ttl_secs;
    let subject = "demo-operator";
    let token = ordo_demo::mint(
        &state.config.auth,
        subject,
        ordo_demo::TENANT,
        "admin",
        Duration::from_secs(ttl),
    )
    .map_err(|e| PageError::Internal(e.to_string()))?;
    let session = Session {
        subject: subject.into(),
        email: "operator@demo.local".into(),
        tenant_id: ordo_demo::TENANT,
        token,
        csrf: random_token(),
        expires_at: now() + ttl as i64,
    };
    tracing::info!("development sign-in as the demo operator");
    Ok(signed_in(&state, &session, &return_to))
}

/// Clear the session cookie, then end the provider's session too when it offers an
/// `end_session_endpoint` (it sends the browser back to the sign-in page).
pub async fn sign_out(state: web::Data<AppState>, form: Form) -> PageResult {
    tracing::info!(subject = %form.operator.subject, "operator signed out");
    let provider = match &state.oidc {
        Some(oidc) => oidc.end_session_url().await,
        None => None,
    };
    let mut res = see_other(provider.as_deref().unwrap_or("/sign-in"));
    if let Ok(v) = state.signer.clear_cookie(SESSION_COOKIE).parse() {
        res.headers_mut().append(SET_COOKIE, v);
    }
    Ok(res)
}
