//! A running order service with its own database and streams, an HTTP client that signs
//! requests as a given caller, and a seeded catalog.

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use ordo_config::ServiceConfig;
use ordo_events::{Event, headers};
use ordo_testkit::{TestBus, TestDb, service_config, token};
use serde_json::{Value, json};
use uuid::Uuid;

pub struct Shop {
    pub db: TestDb,
    pub bus: TestBus,
    pub base: String,
    pub tenant: Uuid,
    client: reqwest::Client,
}

#[derive(Clone, Debug)]
pub struct Caller {
    pub token: String,
    pub tenant: Uuid,
    pub sub: String,
}

impl Caller {
    pub fn customer(tenant: Uuid, sub: &str) -> Caller {
        Caller {
            token: token(sub, tenant, "customer"),
            tenant,
            sub: sub.into(),
        }
    }
    pub fn admin(tenant: Uuid) -> Caller {
        Caller {
            token: token("admin", tenant, "admin"),
            tenant,
            sub: "admin".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Catalog {
    pub region: String,
    pub shipping: String,
    pub digital: String,
    pub physical: String,
}

impl Shop {
    pub async fn start() -> Shop {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServiceConfig)) -> Shop {
        Self::start_on(TestDb::create().await, TestBus::create().await, tweak).await
    }

    /// The order service on an existing database and namespace (beside other services).
    pub async fn start_on(db: TestDb, bus: TestBus, tweak: impl FnOnce(&mut ServiceConfig)) -> Shop {
        let mut cfg = service_config("order", &db, &bus);
        cfg.database.max_connections = 10;
        cfg.checkout.rate_burst = 1_000;
        cfg.checkout.rate_per_sec = 1_000;
        tweak(&mut cfg);
        let running = ordo_order::build(cfg).await.unwrap();
        let base = format!("http://127.0.0.1:{}", running.port());
        tokio::spawn(running.run_until_stopped());
        // Idle connections are dropped before the server's keep-alive (actix: 5 s) can close
        // them under the client's feet (a request sent on one fails with IncompleteMessage).
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap();
        Shop {
            db,
            bus,
            base,
            tenant: Uuid::now_v7(),
            client,
        }
    }

    /// Send a request; unsafe methods get a fresh Idempotency-Key unless `key` is given.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        who: &Caller,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(m.clone(), format!("{}{path}", self.base))
            .bearer_auth(&who.token);
        if m != reqwest::Method::GET {
            let k = key.map(str::to_owned).unwrap_or_else(|| Uuid::now_v7().to_string());
            req = req.header("idempotency-key", k);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/vnd.api+json")
                .body(b.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, who: &Caller) -> (u16, Value) {
        self.send("GET", path, who, None, None).await
    }

    pub async fn post(&self, path: &str, who: &Caller, body: Value) -> (u16, Value) {
        self.send("POST", path, who, Some(body), None).await
    }

    /// Must succeed with `status`; returns the body.
    pub async fn ok(&self, method: &str, path: &str, who: &Caller, body: Option<Value>, status: u16) -> Value {
        let (s, b) = self.send(method, path, who, body, None).await;
        assert_eq!(s, status, "{method} {path}: {b}");
        b
    }

    /// A region (EUR, 19 % tax, DE/AT), a shipping option (4.90), a digital variant (12.99,
    /// unlimited) and a physical variant (25.00, `stock` units).
    pub async fn seed(&self, tenant: Uuid, stock: Option<i64>) -> Catalog {
        let admin = Caller::admin(tenant);
        let region = self
            .ok(
                "POST",
                "/admin/regions",
                &admin,
                Some(json!({"data": {"type": "regions", "attributes":
                {"name": "EU", "currency": "EUR", "tax_rate_bp": 1900, "countries": ["DE", "AT"]}}})),
                201,
            )
            .await["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let shipping = self
            .ok(
                "POST",
                "/admin/shipping-options",
                &admin,
                Some(json!({"data": {"type": "shipping-options",
                "attributes": {"region_id": region, "name": "Standard", "price": 490}}})),
                201,
            )
            .await["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let sku = Uuid::now_v7().simple().to_string();
        let product = self
            .ok(
                "POST",
                "/admin/products",
                &admin,
                Some(json!({"data": {"type": "products", "attributes": {
                "title": "Moonlight Comics #1", "variants": [
                    {"sku": format!("D-{sku}"), "title": "PDF", "kind": "digital", "asset_key": "comics/moon-1.pdf",
                     "prices": [{"currency": "EUR", "amount": 1299}]},
                    {"sku": format!("P-{sku}"), "title": "Print", "kind": "physical", "inventory": stock,
                     "prices": [{"currency": "EUR", "amount": 2500}, {"currency": "USD", "amount": 2700}]}]}}})),
                201,
            )
            .await;
        let variants = product["data"]["attributes"]["variants"].as_array().unwrap().clone();
        Catalog {
            region,
            shipping,
            digital: variants[0]["id"].as_str().unwrap().to_owned(),
            physical: variants[1]["id"].as_str().unwrap().to_owned(),
        }
    }

    /// A complete-able cart of `who` holding `items` (variant, quantity), with email, address and
    /// shipping method. Returns the cart id.
    pub async fn ready_cart(&self, who: &Caller, cat: &Catalog, items: &[(&str, i64)]) -> String {
        let cart = self
            .ok(
                "POST",
                "/store/carts",
                who,
                Some(json!({"data": {"type": "carts", "attributes": {"region_id": cat.region}}})),
                201,
            )
            .await["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for (variant, q) in items {
            self.ok(
                "POST",
                &format!("/store/carts/{cart}/line-items"),
                who,
                Some(json!({"data": {"type": "line-items", "attributes": {"variant_id": variant, "quantity": q}}})),
                200,
            )
            .await;
        }
        self.ok("PATCH", &format!("/store/carts/{cart}"), who, Some(json!({"data": {"type": "carts", "attributes": {
            "email": format!("{}@example.com", who.sub),
            "shipping_address": {"name": "Ada Lovelace", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}}}})), 200).await;
        self.ok(
            "POST",
            &format!("/store/carts/{cart}/shipping-method"),
            who,
            Some(json!({"data": {"type": "shipping-methods", "attributes": {"shipping_option_id": cat.shipping}}})),
            200,
        )
        .await;
        cart
    }

    /// Publish an event on NATS as another service would (tenant and event id in headers).
    pub async fn publish<E: Event>(&self, tenant: Uuid, event: &E) {
        let id = &event.meta().unwrap().event_id;
        let mut h = HeaderMap::new();
        h.insert(headers::MSG_ID, format!("{id}-{}", Uuid::now_v7()).as_str()); // let redeliveries through
        h.insert(headers::EVENT_ID, id.as_str());
        h.insert(headers::TENANT, tenant.to_string().as_str());
        h.insert(headers::EVENT_TYPE, E::SUBJECT);
        let msg = PublishMessage::build().payload(event.encode_to_vec().into()).headers(h);
        self.bus
            .bus
            .jetstream()
            .send_publish(self.bus.bus.subject(E::SUBJECT), msg)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Poll the order (as admin) until `pred` holds; fails the test after 20 s.
    pub async fn wait_order(&self, tenant: Uuid, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let admin = Caller::admin(tenant);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (_, doc) = self.get(&format!("/admin/orders/{id}"), &admin).await;
            if pred(&doc) {
                return doc;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "order never reached the awaited state: {doc}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// A fingerprint of every table a request could touch, to prove a refused request wrote nothing.
pub async fn snapshot(shop: &Shop) -> String {
    let su = shop.db.superuser_pool().await;
    let mut out = String::new();
    let tables = [
        "carts",
        "cart_lines",
        "orders",
        "order_lines",
        "order_state_history",
        "variants",
        "variant_prices",
        "regions",
        "outbox",
    ];
    for t in tables {
        let h: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select md5(string_agg(x::text, '|' order by x::text)) from orders.{t} x"
        )))
        .fetch_one(&su)
        .await
        .unwrap();
        out.push_str(&format!("{t}={h:?};"));
    }
    out
}
