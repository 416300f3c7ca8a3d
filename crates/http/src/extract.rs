//! Request extractors: the caller's identity and the request id.

use crate::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use ordo_auth::{AuthError, Authenticator, Principal, Role};
use std::future::Future;
use std::pin::Pin;

/// The request id set by [`crate::observe`].
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A caller with a valid bearer token (any role).
#[derive(Clone, Debug)]
pub struct Authenticated(pub Principal);

/// A caller with a valid token and the admin role (else 403).
#[derive(Clone, Debug)]
pub struct AdminOnly(pub Principal);

async fn authenticate(req: HttpRequest) -> Result<Principal, ApiError> {
    let auth = req
        .app_data::<web::Data<Authenticator>>()
        .ok_or_else(|| ApiError::internal("no Authenticator in app data"))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized(&AuthError::MissingToken))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized(&AuthError::Malformed))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized(&AuthError::Malformed))?;
    let principal = auth.verify(token.trim()).await.map_err(|e| {
        tracing::info!(reason = %e, "token refused");
        ApiError::unauthorized(&e)
    })?;
    req.extensions_mut().insert(principal.clone());
    Ok(principal)
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await.map(Authenticated) })
    }
}

impl FromRequest for AdminOnly {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let p = authenticate(req).await?;
            if p.role != Role::Admin {
                return Err(ApiError::forbidden("admin_only", "this endpoint needs the admin role"));
            }
            Ok(AdminOnly(p))
        })
    }
}
