//! The services' public HTTP APIs, called with the signed-in operator's token: every rule
//! (row-level security, roles, idempotency, validation) is applied where it always is. An
//! answer that is not a success becomes an [`ApiFailure`] carrying the API's own words.

use crate::config::DashboardSection;
pub use ordo_web::client::ApiFailure;
use ordo_web::client::ServiceClient;
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

/// A client of the four services.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    order: ServiceClient,
    payment: ServiceClient,
    delivery: ServiceClient,
    notification: ServiceClient,
}

impl Api {
    pub fn new(cfg: &DashboardSection) -> anyhow::Result<Api> {
        let http = ordo_web::client::http_client(Duration::from_millis(cfg.request_timeout_ms))?;
        let client = |s: Service, base: &str| ServiceClient::new(s.name(), base, http.clone());
        Ok(Api {
            order: client(Service::Order, &cfg.order_url),
            payment: client(Service::Payment, &cfg.payment_url),
            delivery: client(Service::Delivery, &cfg.delivery_url),
            notification: client(Service::Notification, &cfg.notification_url),
            http,
        })
    }

    /// The underlying HTTP client (shared with the sign-in).
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    fn of(&self, s: Service) -> &ServiceClient {
        match s {
            Service::Order => &self.order,
            Service::Payment => &self.payment,
            Service::Delivery => &self.delivery,
            Service::Notification => &self.notification,
        }
    }

    /// `GET path` (with its query) as `token`, the document parsed as `T`.
    pub async fn get<T: DeserializeOwned>(&self, s: Service, path: &str, token: &str) -> Result<T, ApiFailure> {
        self.of(s).get(path, token).await
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
        self.of(s).send(method, path, token, body, key).await
    }
}
