//! The services' public HTTP APIs, called with the signed-in operator's token: every rule
//! (row-level security, roles, idempotency, validation) is applied where it always is. An
//! answer that is not a success becomes an [`ApiFailure`] carrying the API's own words.

use crate::config::DashboardSection;
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The service a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Order,
    Payment,
    Delivery,
    Notification,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Order,
        Service::Payment,
        Service::Delivery,
        Service::Notification,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Service::Order => "order",
            Service::Payment => "payment",
            Service::Delivery => "delivery",
            Service::Notification => "notification",
        }
    }

    pub fn parse(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A call that did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiFailure {
    /// 401: the token expired or was revoked; the operator signs in again.
    #[error("your session has ended")]
    SignedOut,
    /// 404: not there, or another tenant's (row-level security cannot tell them apart).
    #[error("not found")]
    NotFound,
    /// A 4xx with the API's error: its detail, stable code and the field at fault.
    #[error("{detail}")]
    Refused {
        status: u16,
        code: String,
        detail: String,
        field: Option<String>,
    },
    /// The service did not answer, or answered 5xx.
    #[error("the {service} service is unavailable right now ({why}); submitting the same form again is safe")]
    Unavailable { service: &'static str, why: String },
}

impl ApiFailure {
    /// The message shown next to a form.
    pub fn words(&self) -> String {
        match self {
            ApiFailure::Refused { detail, code, .. } => format!("{detail} ({code})"),
            other => other.to_string(),
        }
    }
}

/// A client of the four services.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    order: String,
    payment: String,
    delivery: String,
    notification: String,
}

impl Api {
    pub fn new(cfg: &DashboardSection) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.request_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let trim = |u: &str| u.trim_end_matches('/').to_owned();
        Ok(Api {
            http,
            order: trim(&cfg.order_url),
            payment: trim(&cfg.payment_url),
            delivery: trim(&cfg.delivery_url),
            notification: trim(&cfg.notification_url),
        })
    }

    /// The underlying HTTP client (shared with the sign-in).
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    fn base(&self, s: Service) -> &str {
        match s {
            Service::Order => &self.order,
            Service::Payment => &self.payment,
            Service::Delivery => &self.delivery,
            Service::Notification => &self.notification,
        }
    }

    /// `GET path` (with its query) as `token`, the document parsed as `T`.
    pub async fn get<T: DeserializeOwned>(&self, s: Service, path: &str, token: &str) -> Result<T, ApiFailure> {
        let body = self.call(Method::GET, s, path, token, None, None).await?;
        serde_json::from_slice(&body).map_err(|e| ApiFailure::Unavailable {
            service: s.name(),
            why: format!("unexpected answer: {e}"),
        })
    }

    /// A state-changing call: `body` as JSON:API, `key` as its Idempotency-Key (the form's, so a
    /// double submit is answered once).
    pub async fn send(
        &self,
        method: Method,
        s: Service,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
        key: Option<&str>,
    ) -> Result<serde_json::Value, ApiFailure> {
        let raw = self.call(method, s, path, token, body, key).await?;
        Ok(serde_json::from_slice(&raw).unwrap_or_default())
    }

    async fn call(
        &self,
        method: Method,
        s: Service,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
        key: Option<&str>,
    ) -> Result<bytes::Bytes, ApiFailure> {
        let started = std::time::Instant::now();
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base(s)))
            .bearer_auth(token)
            .header("accept", "application/vnd.api+json");
        if let Some(b) = body {
            req = req
                .header("content-type", "application/vnd.api+json")
                .body(b.to_string());
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let unavailable = |why: String| ApiFailure::Unavailable { service: s.name(), why };
        let res = req.send().await.map_err(|e| unavailable(e.to_string()))?;
        let status = res.status().as_u16();
        let raw = res.bytes().await.map_err(|e| unavailable(e.to_string()))?;
        metrics::histogram!("ordo_dashboard_api_seconds", "service" => s.name(), "method" => method.to_string())
            .record(started.elapsed().as_secs_f64());
        match status {
            200..=299 => Ok(raw),
            401 => Err(ApiFailure::SignedOut),
            404 => Err(ApiFailure::NotFound),
            400..=499 => {
                let doc: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
                let e = &doc["errors"][0];
                let field = e["source"]["pointer"]
                    .as_str()
                    .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned())
                    .or_else(|| e["source"]["parameter"].as_str().map(str::to_owned));
                Err(ApiFailure::Refused {
                    status,
                    code: e["code"].as_str().unwrap_or("refused").to_owned(),
                    detail: e["detail"]
                        .as_str()
                        .or(e["title"].as_str())
                        .unwrap_or("the request was refused")
                        .to_owned(),
                    field,
                })
            }
            _ => {
                tracing::warn!(service = s.name(), status, path, "service error");
                Err(unavailable(format!("HTTP {status}")))
            }
        }
    }
}
