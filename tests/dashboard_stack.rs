//! The operators' dashboard on the whole stack: order, payment, delivery and notification
//! services (trusting a real OpenID Connect provider beside the test keys), the Stripe emulator,
//! and `ordo-dashboard` signing operators in at that provider.

use crate::browser::Browser;
use crate::delivery_stack::DeliveryStack;
use crate::oidc::OidcProvider;
use serde_json::json;
use std::time::{Duration, Instant};

/// The dashboard's client id at the provider (the services' audience for its tokens).
pub const CLIENT: &str = "ordo-dashboard";
/// An operator of the stack's tenant.
pub const OPERATOR: &str = "op-ada";
/// A customer of the stack's tenant.
pub const CUSTOMER: &str = "cu-bo";

pub struct DashboardStack {
    pub shop: DeliveryStack,
    pub idp: OidcProvider,
    pub notification_base: String,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub mail: crate::delivery_stack::Mailbox,
}

impl DashboardStack {
    pub async fn start() -> DashboardStack {
        let idp = OidcProvider::start(&[]).await;
        let trusted = ordo_config::TrustedIssuerConfig {
            issuer: idp.issuer.clone(),
            audience: CLIENT.into(),
            algorithms: vec!["RS256".into()],
            public_keys: vec![],
            jwks_url: Some(idp.jwks_url()),
        };
        let shop = DeliveryStack::start_trusting(vec![trusted.clone()], false).await;
        let tenant = shop.s.tenant;
        idp.set_user(
            OPERATOR,
            json!({"tenant_id": tenant, "role": "admin", "email": "ada@shop.test"}),
        )
        .await;
        idp.set_user(
            CUSTOMER,
            json!({"tenant_id": tenant, "role": "customer", "email": "bo@shop.test"}),
        )
        .await;

        let mail = shop.start_notification(vec![trusted], |_| {}).await;
        let notification_base = mail.base.clone();

        let port = ordo_testkit::peers::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut d = ordo_dashboard::DashboardConfig::defaults();
        d.http.port = port;
        let c = &mut d.dashboard;
        c.public_url = base.clone();
        c.order_url = shop.s.shop.base.clone();
        c.payment_url = shop.s.payment_base.clone();
        c.delivery_url = shop.delivery_base.clone();
        c.notification_url = notification_base.clone();
        c.oidc.issuer = idp.issuer.clone();
        c.oidc.client_id = CLIENT.into();
        c.oidc.client_secret = ordo_config::Secret::new("unused".into());
        c.session_key = ordo_config::Secret::new("k".repeat(32));
        let running = ordo_dashboard::build(d).await.unwrap();
        tokio::spawn(running.run_until_stopped());
        DashboardStack {
            shop,
            idp,
            notification_base,
            base,
            mail,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sign `sub` in the way a person does: open the dashboard, follow "Sign in", type the
    /// subject into the provider's form, come back.
    pub async fn sign_in(&self, b: &Browser, sub: &str) {
        b.goto(&self.url("/")).await;
        b.click("#sign-in").await;
        b.fill("input[name=sub]", sub).await;
        b.click("input[name=sub] ~ button, form button[type=submit]:not([name=action])")
            .await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !b.url().await.starts_with(&self.base) {
            assert!(
                Instant::now() < deadline,
                "the provider did not send the browser back: {}",
                b.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `ordo_session=…` as the browser holds it, for requests made beside the browser.
pub async fn session_cookie(b: &Browser) -> String {
    let cookies = b.cookies().await;
    let c = cookies.iter().find(|c| c["name"] == "ordo_session").expect("signed in");
    format!("ordo_session={}", c["value"].as_str().unwrap())
}

/// The hidden `csrf` and `idempotency_key` of the form with id `form` in a page's HTML.
pub fn form_secrets(html: &str, form: &str) -> (String, String) {
    let start = html
        .find(&format!("id=\"{form}\""))
        .unwrap_or_else(|| panic!("no form {form}"));
    let rest = &html[start..];
    let value = |name: &str| {
        let at = rest.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
        rest[at..rest[at..].find('"').unwrap() + at].to_owned()
    };
    (value("csrf"), value("idempotency_key"))
}
