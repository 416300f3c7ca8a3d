//! A client of one service's JSON:API, called with a bearer token. An answer that is not a
//! success becomes an [`ApiFailure`] carrying the API's own words: its detail, stable code and
//! the field at fault (the last segment of the error's JSON pointer, or its query parameter).

use reqwest::Method;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A call that did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiFailure {
    /// 401: the token expired or was revoked; sign in again.
    #[error("your session has ended")]
    SignedOut,
    /// 404: not there, or not the caller's (row-level security cannot tell them apart).
    #[error("not found")]
    NotFound,
    /// A 4xx with the API's error.
    #[error("{detail}")]
    Refused {
        status: u16,
        code: String,
        detail: String,
        /// e.g. `amount`, `postal_code`, `filter[q]`
        field: Option<String>,
        /// The whole JSON pointer, e.g. `/data/attributes/shipping_address/postal_code`.
        pointer: Option<String>,
    },
    /// The service did not answer, or answered 5xx.
    #[error("the {service} service is unavailable right now ({why}); submitting the same form again is safe")]
    Unavailable { service: String, why: String },
}

impl ApiFailure {
    /// The message shown next to a form: the detail and the stable code.
    pub fn words(&self) -> String {
        match self {
            ApiFailure::Refused { detail, code, .. } => format!("{detail} ({code})"),
            other => other.to_string(),
        }
    }

    /// A refusal made here, before any call (the form's own checks), for `field`.
    pub fn field(field: &str, code: &str, detail: String) -> ApiFailure {
        ApiFailure::Refused {
            status: 422,
            code: code.to_owned(),
            detail,
            field: Some(field.to_owned()),
            pointer: None,
        }
    }

    /// The stable code of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiFailure::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// One service: its name (for messages and metrics), its base URL, a shared HTTP client.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    name: &'static str,
    base: String,
    http: reqwest::Client,
}

/// An HTTP client for [`ServiceClient`]s: timeouts and pooling as the front ends want them.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
}

impl ServiceClient {
    pub fn new(name: &'static str, base: &str, http: reqwest::Client) -> ServiceClient {
        ServiceClient {
            name,
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `GET path` (with its query) as `token`, the document parsed as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, token: &str) -> Result<T, ApiFailure> {
        let body = self.call(Method::GET, path, token, None, None).await?;
        serde_json::from_slice(&body).map_err(|e| ApiFailure::Unavailable {
            service: self.name.to_owned(),
            why: format!("unexpected answer: {e}"),
        })
    }

    /// A state-changing call: `body` as JSON:API, `key` as its Idempotency-Key.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
        key: Option<&str>,
    ) -> Result<serde_json::Value, ApiFailure> {
        let raw = self.call(method, path, token, body, key).await?;
        Ok(serde_json::from_slice(&raw).unwrap_or_default())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
        key: Option<&str>,
    ) -> Result<bytes::Bytes, ApiFailure> {
        let started = std::time::Instant::now();
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
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
        let unavailable = |why: String| ApiFailure::Unavailable {
            service: self.name.to_owned(),
            why,
        };
        let res = req.send().await.map_err(|e| unavailable(e.to_string()))?;
        let status = res.status().as_u16();
        let raw = res.bytes().await.map_err(|e| unavailable(e.to_string()))?;
        metrics::histogram!("ordo_web_api_seconds", "service" => self.name, "method" => method.to_string())
            .record(started.elapsed().as_secs_f64());
        match status {
            200..=299 => Ok(raw),
            401 => Err(ApiFailure::SignedOut),
            404 => Err(ApiFailure::NotFound),
            400..=499 => Err(refusal(status, &raw)),
            _ => {
                tracing::warn!(service = self.name, status, path, "service error");
                Err(unavailable(format!("HTTP {status}")))
            }
        }
    }
}

/// A JSON:API error document as a refusal.
fn refusal(status: u16, raw: &[u8]) -> ApiFailure {
    let doc: serde_json::Value = serde_json::from_slice(raw).unwrap_or_default();
    let e = &doc["errors"][0];
    let pointer = e["source"]["pointer"].as_str().map(str::to_owned);
    let field = pointer
        .as_deref()
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned())
        .or_else(|| e["source"]["parameter"].as_str().map(str::to_owned));
    ApiFailure::Refused {
        status,
        code: e["code"].as_str().unwrap_or("refused").to_owned(),
        detail: e["detail"]
            .as_str()
            .or(e["title"].as_str())
            .unwrap_or("the request was refused")
            .to_owned(),
        field,
        pointer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_its_field() {
        let raw = br#"{"errors":[{"status":"422","code":"invalid_postal_code","detail":"not a postal code","source":{"pointer":"/data/attributes/shipping_address/postal_code"}}]}"#;
        let f = refusal(422, raw);
        assert_eq!(f.words(), "not a postal code (invalid_postal_code)");
        match f {
            ApiFailure::Refused { field, pointer, .. } => {
                assert_eq!(field.as_deref(), Some("postal_code"));
                assert_eq!(
                    pointer.as_deref(),
                    Some("/data/attributes/shipping_address/postal_code")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
