//! The storefront on the whole stack: order, payment, delivery (its links reachable) and
//! notification services trusting the storefront's customer tokens through its JWKS, the Stripe
//! emulator (serving its Stripe.js subset), and `ordo-storefront` selling the stack's tenant.

use crate::delivery_stack::{DeliveryStack, Mailbox};

/// The secret the notification service signs order links with, and the storefront checks.
pub const LINK_SECRET: &str = "order-link-secret-for-tests";

pub struct StorefrontStack {
    pub shop: DeliveryStack,
    pub mail: Mailbox,
    /// `http://127.0.0.1:<port>`
    pub base: String,
}

impl StorefrontStack {
    pub async fn start() -> StorefrontStack {
        let port = ordo_testkit::peers::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let trusted = ordo_config::TrustedIssuerConfig {
            issuer: base.clone(),
            audience: "ordo-storefront".into(),
            algorithms: vec!["EdDSA".into()],
            public_keys: vec![],
            jwks_url: Some(format!("{base}/.well-known/jwks.json")),
        };
        let shop = DeliveryStack::start_trusting(vec![trusted.clone()], true).await;
        let order_page = format!("{base}/orders/{{order_id}}");
        let mail = shop
            .start_notification(vec![trusted], |n| {
                n.order_page_url = order_page;
                n.order_link_secret = ordo_config::Secret::new(LINK_SECRET.into());
            })
            .await;
        let mut cfg = ordo_storefront::StorefrontConfig::defaults();
        cfg.http.port = port;
        let s = &mut cfg.storefront;
        s.public_url = base.clone();
        s.tenant_id = shop.s.tenant;
        s.region_id = uuid::Uuid::parse_str(&shop.s.catalog.region).unwrap();
        s.shop_name = "Moonlight Comics".into();
        s.order_url = shop.s.shop.base.clone();
        let stripe = shop.s.emulator.url();
        s.stripe_js_url = format!("{stripe}v3/");
        s.stripe_api_origin = stripe.trim_end_matches('/').to_owned();
        s.stripe_publishable_key = ordo_stripe_emulator::publishable_key(crate::stack::KEY);
        s.cookie_key = ordo_config::Secret::new("c".repeat(32));
        s.order_link_secret = ordo_config::Secret::new(LINK_SECRET.into());
        let running = ordo_storefront::build(cfg).await.unwrap();
        tokio::spawn(running.run_until_stopped());
        StorefrontStack { shop, mail, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
