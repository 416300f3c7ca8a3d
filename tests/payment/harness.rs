//! The whole payment path: emulator (its webhooks pointed at the payment service), payment
//! service and order service sharing one test database and NATS namespace.

use crate::support::{Caller, Catalog, Shop};
use ordo_stripe_emulator::{Emulator, Faults};
use ordo_testkit::{TestBus, TestDb, service_config};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

pub const KEY: &str = "sk_test_ordo";
pub const SECRET: &str = "whsec_test_primary";

pub struct Stack {
    pub shop: Shop,
    pub emulator: Emulator,
    pub payment_base: String,
    pub http: reqwest::Client,
    pub tenant: Uuid,
    pub catalog: Catalog,
    /// The test's own NATS with ordo's authorization, when asked for.
    pub nats: Option<ordo_testkit::peers::NatsServer>,
}

#[derive(Default)]
pub struct Options {
    /// Secrets the payment service accepts (default: SECRET).
    pub accepted: Option<Vec<&'static str>>,
    /// Secrets the emulator signs with (default: SECRET); `None` inside: no endpoint registered.
    pub signing: Option<Vec<&'static str>>,
    pub no_endpoint: bool,
    pub reconcile_after_secs: Option<u64>,
    /// The order service's token validation (default: the test keys).
    pub order_auth: Option<ordo_config::AuthConfig>,
    /// Unpaid orders expire after this many seconds (swept every second).
    pub unpaid_ttl_secs: Option<u64>,
    /// Run on a NATS server of the test's own with ordo's authorization (each service its own
    /// user and subject permissions) instead of a namespace on the shared one.
    pub authorized_nats: bool,
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(o: Options) -> Stack {
        ordo_auth::install_crypto_provider();
        let db = TestDb::create().await;
        let nats = if o.authorized_nats {
            Some(ordo_testkit::peers::NatsServer::start().await)
        } else {
            None
        };
        let bus = match &nats {
            Some(server) => TestBus::authenticated(server).await,
            None => TestBus::create().await,
        };
        let emulator = ordo_stripe_emulator::start("127.0.0.1:0", KEY).await.unwrap();
        let mut cfg = service_config("payment", &db, &bus);
        cfg.database.max_connections = 10;
        cfg.stripe.api_base = emulator.url();
        cfg.stripe.webhook_secrets = o
            .accepted
            .unwrap_or(vec![SECRET])
            .into_iter()
            .map(|s| ordo_config::Secret::new(s.to_owned()))
            .collect();
        cfg.stripe.attempts = 8;
        cfg.stripe.timeout_ms = 5_000;
        cfg.stripe.reconcile_interval_secs = 1;
        cfg.stripe.reconcile_after_secs = o.reconcile_after_secs.unwrap_or(600);
        let payment = ordo_payment::build(cfg).await.unwrap();
        let payment_base = format!("http://127.0.0.1:{}", payment.port());
        tokio::spawn(payment.run_until_stopped());
        if !o.no_endpoint {
            let signing = o.signing.unwrap_or(vec![SECRET]);
            emulator.add_endpoint(&format!("{payment_base}/webhooks/stripe"), &signing);
        }
        let shop = Shop::start_on(db, bus, |c| {
            if let Some(auth) = o.order_auth {
                c.auth = auth;
            }
            if let Some(ttl) = o.unpaid_ttl_secs {
                c.checkout.unpaid_order_ttl_secs = ttl;
                c.checkout.sweep_interval_secs = 1;
            }
        })
        .await;
        let tenant = shop.tenant;
        let catalog = shop.seed(tenant, None).await;
        Stack {
            shop,
            emulator,
            payment_base,
            // No idle connections: a kept-alive connection the emulator closes just as it is
            // reused fails a non-idempotent confirm with IncompleteMessage.
            http: reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap(),
            tenant,
            catalog,
            nats,
        }
    }

    pub fn customer(&self, name: &str) -> Caller {
        Caller::customer(self.tenant, name)
    }

    pub fn admin(&self) -> Caller {
        Caller::admin(self.tenant)
    }

    /// A cart of `who` with one digital item, ready for checkout.
    pub async fn digital_cart(&self, who: &Caller) -> String {
        self.shop
            .ready_cart(who, &self.catalog, &[(&self.catalog.digital, 1)])
            .await
    }

    /// `POST /store/carts/{id}/payment-session` → the session's attributes.
    pub async fn session(&self, who: &Caller, cart: &str) -> Value {
        let doc = self
            .shop
            .ok("POST", &format!("/store/carts/{cart}/payment-session"), who, None, 200)
            .await;
        doc["data"]["attributes"].clone()
    }

    /// Confirm at "Stripe" as Stripe.js would: (HTTP status, intent or error).
    pub async fn confirm(&self, pi: &str, payment_method: &str) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}v1/payment_intents/{pi}/confirm", self.emulator.url()))
            .bearer_auth(KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("payment_method={payment_method}"))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    pub async fn complete(&self, who: &Caller, cart: &str) -> Value {
        self.shop
            .ok("POST", &format!("/store/carts/{cart}/complete"), who, None, 200)
            .await["data"]
            .clone()
    }

    pub async fn set_faults(&self, f: Faults) {
        let res = self
            .http
            .post(format!("{}_emulator/faults", self.emulator.url()))
            .json(&f)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    /// Every PaymentIntent the emulator holds.
    pub async fn intents(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}_emulator/payment_intents", self.emulator.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["data"].as_array().unwrap().clone()
    }

    /// A refund started in Stripe's dashboard.
    pub async fn dashboard_refund(&self, pi: &str, amount: Option<i64>) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}_emulator/refunds", self.emulator.url()))
            .json(&json!({"payment_intent": pi, "amount": amount}))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    /// Deliver one Stripe event to the payment service ourselves, signed as Stripe would.
    pub async fn deliver(&self, event: &Value) -> u16 {
        let body = serde_json::to_vec(event).unwrap();
        let t = time::OffsetDateTime::now_utc().unix_timestamp();
        let header = ordo_stripe_emulator::webhooks::signature_header(&body, &[SECRET.to_owned()], t);
        self.http
            .post(format!("{}/webhooks/stripe", self.payment_base))
            .header("stripe-signature", header)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn wait_webhooks(&self) {
        assert!(
            self.emulator.webhooks_idle(Duration::from_secs(30)).await,
            "webhooks stopped going out: {:?}",
            self.emulator.state.stats.snapshot()
        );
    }

    /// Wait for the order to satisfy `pred` (as admin).
    pub async fn wait_order(&self, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.shop.wait_order(self.tenant, id, pred).await
    }

    /// The admin's view of the order of a cart, once it exists.
    pub async fn order_of_cart(&self, cart: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let su = self.shop.db.superuser_pool().await;
            let id: Option<Uuid> = sqlx::query_scalar("select id from orders.orders where cart_id = $1::uuid")
                .bind(cart)
                .fetch_optional(&su)
                .await
                .unwrap();
            if let Some(id) = id {
                return self
                    .shop
                    .ok("GET", &format!("/admin/orders/{id}"), &self.admin(), None, 200)
                    .await["data"]
                    .clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cart {cart} never became an order"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn superuser(&self) -> sqlx::PgPool {
        self.shop.db.superuser_pool().await
    }
}

pub fn status(order: &Value) -> &str {
    order["attributes"]["status"].as_str().unwrap_or("")
}

/// History rows of `order` whose trigger is `trigger`.
pub fn history_count(order: &Value, trigger: &str) -> usize {
    order["attributes"]["history"]
        .as_array()
        .map(|h| h.iter().filter(|r| r["trigger"] == trigger).count())
        .unwrap_or(0)
}
