//! The whole payment path: emulator (its webhooks pointed at the payment service), payment
//! service and order service sharing one test database and NATS namespace.

use crate::shop::{Caller, Catalog, Shop};
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
    /// The payment service retries a failed event for about half a minute (500 ms doubling to
    /// 2 s) instead of a few seconds, so a test can act between two attempts.
    pub slow_retries: bool,
    /// The order service's token validation (default: the test keys).
    pub order_auth: Option<ordo_config::AuthConfig>,
    /// Unpaid orders expire after this many seconds (swept every second).
    pub unpaid_ttl_secs: Option<u64>,
    /// Run on a NATS server of the test's own with ordo's authorization (each service its own
    /// user and subject permissions) instead of a namespace on the shared one.
    pub authorized_nats: bool,
    /// More token issuers every service trusts (e.g. the operators' OpenID Connect provider).
    pub trusted_issuers: Vec<ordo_config::TrustedIssuerConfig>,
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
        cfg.auth.trusted_issuers = o.trusted_issuers.clone();
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
        if o.slow_retries {
            cfg.consumer.backoff_initial_ms = 500;
            cfg.consumer.backoff_max_ms = 2_000;
        }
        let payment = ordo_payment::build(cfg).await.unwrap();
        let payment_base = format!("http://127.0.0.1:{}", payment.port());
        tokio::spawn(payment.run_until_stopped());
        if !o.no_endpoint {
            let signing = o.signing.unwrap_or(vec![SECRET]);
            emulator.add_endpoint(&format!("{payment_base}/webhooks/stripe"), &signing);
        }
        let trusted = o.trusted_issuers;
        let shop = Shop::start_on(db, bus, |c| {
            if let Some(auth) = o.order_auth {
                c.auth = auth;
            }
            c.auth.trusted_issuers = trusted;
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

// ---- the money path (tests/payment/amounts.rs, unpayable.rs, operations.rs) ----------------

/// The cart's total as the order service computes it.
pub async fn cart_total(s: &Stack, who: &Caller, cart: &str) -> i64 {
    let (code, doc) = s.shop.get(&format!("/store/carts/{cart}"), who).await;
    assert_eq!(code, 200, "{doc}");
    doc["data"]["attributes"]["totals"]["total"].as_i64().unwrap()
}

pub fn items(doc: &Value) -> Vec<Value> {
    doc["data"]["attributes"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// What Stripe (the emulator) holds for the intent: (amount, status).
pub fn at_stripe(s: &Stack, pi: &str) -> (i64, String) {
    let store = s.emulator.state.store.lock().unwrap();
    let i = &store.intents[pi];
    (i["amount"].as_i64().unwrap(), i["status"].as_str().unwrap().to_owned())
}

pub async fn set_quantity(s: &Stack, who: &Caller, cart: &str, line: &str, q: i64) -> (u16, Value) {
    s.shop
        .send(
            "PATCH",
            &format!("/store/carts/{cart}/line-items/{line}"),
            who,
            Some(json!({"data": {"type": "line-items", "attributes": {"quantity": q}}})),
            None,
        )
        .await
}

pub fn pi_of(session: &Value) -> String {
    session["payment_intent_id"].as_str().unwrap().to_owned()
}

/// No consumer dead-lettered anything, once the retries of anything failing are spent (the
/// tests' consumers back off 20 → 200 ms for 16 attempts: under 3 s).
/// A payment session for `who`'s digital cart, and the order service's rejection of that payment
/// published although it has not succeeded: the payment service cannot refund it yet and, after
/// its attempts, dead-letters the event. The PaymentIntent's id.
pub async fn reject_an_unpaid_payment(s: &Stack, who: &Caller) -> String {
    let cart = s.digital_cart(who).await;
    let pi = pi_of(&s.session(who, &cart).await);
    let mut meta = ordo_events::EventMetadata::for_event::<ordo_events::order::v1::OrderPaymentRejected>(
        &s.tenant.to_string(),
        &cart,
        0,
    );
    meta.tenant_id = s.tenant.to_string();
    let event = ordo_events::order::v1::OrderPaymentRejected {
        meta: Some(meta),
        cart_id: cart,
        payment_intent_id: pi.clone(),
        reason: "cart_empty".into(),
        ..Default::default()
    };
    s.shop.publish(s.tenant, &event).await;
    pi
}

pub async fn assert_no_dead_letters(s: &Stack) {
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let dead = dead_letters(s).await;
    assert!(dead.is_empty(), "{dead:?}");
}

/// Everything the order and payment services dead-lettered.
pub async fn dead_letters(s: &Stack) -> Vec<(String, String)> {
    let su = s.superuser().await;
    let mut out = Vec::new();
    for schema in ["orders", "payments"] {
        let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select subject, error from {schema}.dead_letters"
        )))
        .fetch_all(&su)
        .await
        .unwrap();
        out.extend(rows);
    }
    out
}

/// Change the intent at Stripe behind ordo's back (a form body such as `amount=999`), as the
/// update of a crashed request or a change that never committed would have.
pub async fn set_at_stripe(s: &Stack, pi: &str, form: &'static str) {
    let res = s
        .http
        .post(format!("{}v1/payment_intents/{pi}", s.emulator.url()))
        .bearer_auth(KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// The refunds Stripe (the emulator) holds for the intent: (amount, currency).
pub fn refunds_at_stripe(s: &Stack, pi: &str) -> Vec<(i64, String)> {
    let store = s.emulator.state.store.lock().unwrap();
    store
        .refunds
        .values()
        .filter(|r| r["payment_intent"] == pi)
        .map(|r| {
            (
                r["amount"].as_i64().unwrap(),
                r["currency"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Wait until Stripe holds refunds of the intent; returns them.
pub async fn wait_refunds_at_stripe(s: &Stack, pi: &str) -> Vec<(i64, String)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let refunds = refunds_at_stripe(s, pi);
        if !refunds.is_empty() {
            return refunds;
        }
        assert!(std::time::Instant::now() < deadline, "nothing refunded for {pi}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until Stripe has refunded `total` of the intent in all.
pub async fn wait_refunded_at_stripe(s: &Stack, pi: &str, total: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let refunded = s
            .emulator
            .state
            .store
            .lock()
            .unwrap()
            .refunded
            .get(pi)
            .copied()
            .unwrap_or(0);
        if refunded == total {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Stripe refunded {refunded} of {pi}, not {total}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until the order is paid; it must have captured exactly its total, `amount`.
pub async fn assert_paid_exactly(s: &Stack, order: &str, amount: i64) {
    let done = s.wait_order(order, |o| status(&o["data"]) == "paid").await;
    assert_eq!(done["data"]["attributes"]["totals"]["total"], amount);
    assert_eq!(done["data"]["attributes"]["captured_amount"], amount);
}

/// The newest event of type `E` in the order service's outbox.
pub async fn last_order_event<E: ordo_events::Event>(s: &Stack) -> E {
    let payload: Vec<u8> =
        sqlx::query_scalar("select payload from orders.outbox where subject = $1 order by id desc limit 1")
            .bind(E::SUBJECT)
            .fetch_one(&s.superuser().await)
            .await
            .unwrap();
    ordo_events::decode(&payload).unwrap()
}
