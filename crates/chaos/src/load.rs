//! The load under chaos: customers checking out (digital and physical lines; some browsers die
//! after paying, before completing), and an operator shipping, refunding and customers
//! downloading what was paid. Every call goes to a random replica and is retried as a
//! storefront would retry it (the same Idempotency-Key for an unsafe request) while replicas
//! die; what the clients saw is counted, and what they were told is kept for the invariants.

use crate::stack::KEY;
use rand::Rng;
use rand::seq::IndexedRandom;
use reqwest::{Client, Method};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a caller keeps retrying one request before giving up.
const PATIENCE: Duration = Duration::from_secs(45);

/// The shop the load buys from.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub tenant: Uuid,
    pub region: String,
    pub shipping: String,
    pub digital: String,
    /// Physical variants, each with `INITIAL_STOCK` units at the start.
    pub physical: Vec<String>,
}

pub const INITIAL_STOCK: i64 = 1_000_000;

/// What the clients saw and were told.
#[derive(Debug, Default)]
pub struct Record {
    /// Carts whose complete answered 2xx, with the order id it named.
    pub completed: BTreeMap<String, String>,
    /// Carts paid at Stripe whose customer never completed them (the browser died).
    pub abandoned_paid: Vec<String>,
    /// Checkouts given up because a request kept failing: (step, last error).
    pub gave_up: Vec<(String, String)>,
    /// Attempts that failed and were retried, by kind (connection, 5xx status, ...).
    pub retried: BTreeMap<String, u64>,
    /// Refunds an operator asked for and ordo accepted: (order id, amount).
    pub refunds: Vec<(String, i64)>,
    /// Orders whose parcel was shipped and marked delivered.
    pub shipments: Vec<String>,
    /// Orders whose file was downloaded whole.
    pub downloads: Vec<String>,
    /// Download links that did not serve the file: (order, status).
    pub download_failures: Vec<(String, u16)>,
}

#[derive(Debug, Clone)]
pub struct Api {
    http: Client,
    pub orders: Vec<String>,
    pub deliveries: Vec<String>,
    pub emulator: String,
    pub record: Arc<Mutex<Record>>,
}

fn kind_of(status: Option<u16>, err: &str) -> String {
    match status {
        Some(s) => format!("HTTP {s}"),
        None if err.contains("connect") => "connection refused".into(),
        None => "connection broken / timed out".into(),
    }
}

impl Api {
    pub fn new(orders: Vec<String>, deliveries: Vec<String>, emulator: String) -> Api {
        Api {
            http: Client::builder()
                .timeout(Duration::from_secs(15))
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .unwrap_or_default(),
            orders,
            deliveries,
            emulator,
            record: Arc::new(Mutex::new(Record::default())),
        }
    }

    fn note_retry(&self, kind: String) {
        if let Ok(mut r) = self.record.lock() {
            *r.retried.entry(kind).or_default() += 1;
        }
    }

    /// A request to a random order replica, retried (same Idempotency-Key) on a broken
    /// connection, a 5xx or a 429 for up to `PATIENCE`: (status, body) of the last answer.
    pub async fn order(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let key = Uuid::new_v4().to_string();
        let deadline = Instant::now() + PATIENCE;
        let mut pause = Duration::from_millis(100);
        loop {
            let base = self.orders.choose(&mut rand::rng()).cloned().unwrap_or_default();
            let mut req = self
                .http
                .request(method.clone(), format!("{base}{path}"))
                .bearer_auth(token)
                .header("idempotency-key", &key);
            if let Some(b) = &body {
                req = req
                    .header("content-type", "application/vnd.api+json")
                    .body(b.to_string());
            }
            let (status, err) = match req.send().await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    match res.text().await {
                        // 408: the server gave up waiting for the request (a slow moment):
                        // it did nothing, and HTTP lets the client send it again.
                        Ok(text) if status < 500 && status != 429 && status != 408 => {
                            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                            // The first attempt with this key still holds it (its replica was
                            // killed or frozen mid-request): ask again later.
                            if status == 409 && body["errors"][0]["code"] == "idempotency_in_progress" {
                                (Some(status), text)
                            } else {
                                return Ok((status, body));
                            }
                        }
                        Ok(text) => (Some(status), text),
                        Err(e) => (None, e.to_string()),
                    }
                }
                Err(e) => (None, format!("{e:?}")),
            };
            self.note_retry(kind_of(status, &err));
            if Instant::now() > deadline {
                return Err(format!("{method} {path}: {} {err}", status.unwrap_or(0)));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// A request that must succeed: the body of a 2xx, or why not.
    pub async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Result<Value, String> {
        match self.order(method.clone(), path, token, body).await? {
            (s, v) if (200..300).contains(&s) => Ok(v),
            (s, v) => Err(format!("{method} {path}: {s} {v}")),
        }
    }

    /// [`Api::ok`], asked again (a new request) while the answer is a 409 with error code
    /// `code`: the service has not heard of the state the caller already saw elsewhere (an
    /// order paid at the gateway, not yet at delivery).
    pub async fn ok_once_known(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        code: &str,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.order(method.clone(), path, token, body.clone()).await? {
                (s, v) if (200..300).contains(&s) => return Ok(v),
                (409, v) if v["errors"][0]["code"] == code && Instant::now() < deadline => {
                    self.note_retry(format!("HTTP 409 {code}"));
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                (s, v) => return Err(format!("{method} {path}: {s} {v}")),
            }
        }
    }

    /// Confirm a PaymentIntent as Stripe.js would; when the answer is lost, ask Stripe what
    /// happened and confirm again only if it did not.
    async fn confirm(&self, pi: &str, secret: &str) -> Result<(), String> {
        let pk = ordo_stripe_emulator::publishable_key(KEY);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let res = self
                .http
                .post(format!("{}v1/payment_intents/{pi}/confirm", self.emulator))
                .bearer_auth(&pk)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(ordo_http::form_urlencoded(&[
                    ("payment_method", "pm_card_visa"),
                    ("client_secret", secret),
                ]))
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    if r.bytes().await.is_ok() {
                        return Ok(());
                    }
                    self.note_retry("Stripe answer lost".into());
                }
                Ok(r) if r.status().is_client_error() => {
                    return Err(format!("confirm {pi}: {}", r.text().await.unwrap_or_default()));
                }
                _ => self.note_retry("Stripe answer lost".into()),
            }
            let status = self
                .http
                .get(format!("{}v1/payment_intents/{pi}", self.emulator))
                .bearer_auth(KEY)
                .send()
                .await
                .ok();
            if let Some(r) = status
                && let Ok(v) = r.json::<Value>().await
                && matches!(v["status"].as_str(), Some("succeeded" | "processing"))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("confirm {pi}: no answer"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One checkout; the cart and, when the customer completed it, the order.
    pub async fn checkout(&self, cat: &Catalog, abandon: bool) -> Result<(String, Option<String>), (String, String)> {
        let token = customer_token(cat.tenant);
        let step = |s: &'static str| move |e: String| (s.to_owned(), e);
        let cart = self
            .ok(
                Method::POST,
                "/store/carts",
                &token,
                Some(json!({"data": {"type": "carts", "attributes": {"region_id": cat.region}}})),
            )
            .await
            .map_err(step("cart"))?["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut lines = Vec::new();
        let (digital, physical) = {
            let mut rng = rand::rng();
            (rng.random_bool(0.6), rng.random_bool(0.7))
        };
        if digital || !physical {
            lines.push((cat.digital.clone(), 1));
        }
        if physical {
            let mut rng = rand::rng();
            let v = cat.physical.choose(&mut rng).cloned().unwrap_or_default();
            lines.push((v, rng.random_range(1..=2)));
        }
        for (variant, quantity) in lines {
            self.ok(
                Method::POST,
                &format!("/store/carts/{cart}/line-items"),
                &token,
                Some(json!({"data": {"type": "line-items", "attributes": {"variant_id": variant, "quantity": quantity}}})),
            )
            .await
            .map_err(step("line"))?;
        }
        self.ok(Method::PATCH, &format!("/store/carts/{cart}"), &token,
            Some(json!({"data": {"type": "carts", "attributes": {"email": "chaos@example.com",
                "shipping_address": {"name": "Ada Chaos", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}}}})))
            .await
            .map_err(step("details"))?;
        self.ok(
            Method::POST,
            &format!("/store/carts/{cart}/shipping-method"),
            &token,
            Some(json!({"data": {"type": "shipping-methods", "attributes": {"shipping_option_id": cat.shipping}}})),
        )
        .await
        .map_err(step("shipping"))?;
        let session = self
            .ok(
                Method::POST,
                &format!("/store/carts/{cart}/payment-session"),
                &token,
                None,
            )
            .await
            .map_err(step("payment session"))?;
        let attrs = &session["data"]["attributes"];
        let pi = attrs["payment_intent_id"].as_str().unwrap_or_default();
        let secret = attrs["client_secret"].as_str().unwrap_or_default();
        self.confirm(pi, secret).await.map_err(step("confirm"))?;
        if abandon {
            return Ok((cart, None));
        }
        let order = self
            .ok(Method::POST, &format!("/store/carts/{cart}/complete"), &token, None)
            .await
            .map_err(step("complete"))?;
        let id = order["data"]["id"].as_str().unwrap_or_default().to_owned();
        Ok((cart, Some(id)))
    }

    /// The admin's view of an order.
    pub async fn admin_order(&self, cat: &Catalog, id: &str) -> Result<Value, String> {
        self.ok(
            Method::GET,
            &format!("/admin/orders/{id}"),
            &admin_token(cat.tenant),
            None,
        )
        .await
        .map(|v| v["data"].clone())
    }

    /// After an order is paid: download its digital line (as its customer), ship its physical
    /// lines, and sometimes refund part or all of it (as the operator).
    pub async fn after_payment(&self, cat: &Catalog, id: &str, refund: Option<f64>) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let order = loop {
            let o = self.admin_order(cat, id).await?;
            if matches!(
                o["attributes"]["status"].as_str(),
                Some("paid" | "fulfilled" | "delivered")
            ) {
                break o;
            }
            if Instant::now() > deadline {
                return Err(format!("order {id} not paid after 60 s: {}", o["attributes"]["status"]));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let admin = admin_token(cat.tenant);
        let lines = order["attributes"]["lines"].as_array().cloned().unwrap_or_default();
        let physical: Vec<String> = lines
            .iter()
            .filter(|l| l["kind"] == "physical")
            .filter_map(|l| l["id"].as_str().map(str::to_owned))
            .collect();
        if lines.iter().any(|l| l["kind"] == "digital") {
            self.download(&admin, id).await?;
        }
        if !physical.is_empty() {
            // The delivery service learns of the payment from `order.paid`: until then (moments;
            // after a lost message, until the lost-event check), a shipment is refused with 409.
            let shipment = self
                .ok_once_known(Method::POST, &format!("/admin/orders/{id}/shipments"), &admin,
                    Some(json!({"data": {"type": "shipments", "attributes": {
                        "carrier": "DHL", "tracking_number": format!("JD{}", &Uuid::new_v4().simple().to_string()[..12]),
                        "line_ids": physical}}})), "order_not_paid")
                .await?;
            let sid = shipment["data"]["id"].as_str().unwrap_or_default();
            self.ok(
                Method::POST,
                &format!("/admin/orders/{id}/shipments/{sid}/delivered"),
                &admin,
                None,
            )
            .await?;
            if let Ok(mut r) = self.record.lock() {
                r.shipments.push(id.to_owned());
            }
        }
        if let Some(share) = refund {
            let total = order["attributes"]["totals"]["total"].as_i64().unwrap_or(0);
            let amount = ((total as f64 * share).round() as i64).clamp(1, total);
            self.ok(
                Method::POST,
                &format!("/admin/orders/{id}/refunds"),
                &admin,
                Some(json!({"data": {"type": "refunds", "attributes": {"amount": amount, "reason": "chaos"}}})),
            )
            .await?;
            if let Ok(mut r) = self.record.lock() {
                r.refunds.push((id.to_owned(), amount));
            }
        }
        Ok(())
    }

    /// Fetch a fresh download link of the order and download the file from a random delivery
    /// replica. Links are issued once the grants exist, a little after payment.
    async fn download(&self, admin: &str, id: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let links = self
                .order(Method::GET, &format!("/admin/orders/{id}/download-links"), admin, None)
                .await?;
            let url = links.1["data"]
                .as_array()
                .and_then(|l| l.first())
                .and_then(|l| l["attributes"]["url"].as_str())
                .map(str::to_owned);
            if let Some(u) = url {
                break u;
            }
            if Instant::now() > deadline {
                return Err(format!("order {id}: no download link after 60 s: {}", links.1));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let path = url.find("/downloads/").map(|i| url[i..].to_owned()).unwrap_or(url);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let base = self.deliveries.choose(&mut rand::rng()).cloned().unwrap_or_default();
            match self.http.get(format!("{base}{path}")).send().await {
                Ok(r) if r.status().is_success() => {
                    if r.bytes().await.is_ok() {
                        if let Ok(mut rec) = self.record.lock() {
                            rec.downloads.push(id.to_owned());
                        }
                        return Ok(());
                    }
                    self.note_retry("connection broken / timed out".into());
                }
                Ok(r) if r.status().is_client_error() => {
                    let status = r.status().as_u16();
                    if let Ok(mut rec) = self.record.lock() {
                        rec.download_failures.push((id.to_owned(), status));
                    }
                    return Ok(());
                }
                Ok(r) => self.note_retry(format!("HTTP {}", r.status().as_u16())),
                Err(e) => self.note_retry(kind_of(None, &format!("{e:?}"))),
            }
            if Instant::now() > deadline {
                return Err(format!("download of order {id}: no answer"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub fn customer_token(tenant: Uuid) -> String {
    let claims = ordo_testkit::claims(&format!("chaos-{}", Uuid::new_v4().simple()), tenant, "customer");
    ordo_testkit::mint_with(
        &claims,
        jsonwebtoken::Algorithm::ES256,
        Some("e1"),
        ordo_testkit::EC1_PRIVATE,
    )
}

pub fn admin_token(tenant: Uuid) -> String {
    ordo_testkit::token("chaos-operator", tenant, "admin")
}

/// The shop: a region, a shipping option, one digital variant (its file uploaded) and
/// `physical` physical variants with `INITIAL_STOCK` units each.
pub async fn seed(api: &Api, physical: usize) -> Result<Catalog, String> {
    let tenant = Uuid::now_v7();
    let admin = admin_token(tenant);
    let id = |v: Value| v["data"]["id"].as_str().unwrap_or_default().to_owned();
    let region = id(api
        .ok(
            Method::POST,
            "/admin/regions",
            &admin,
            Some(json!({"data": {"type": "regions", "attributes":
            {"name": "EU", "currency": "EUR", "tax_rate_bp": 1900, "countries": ["DE"]}}})),
        )
        .await?);
    let shipping = id(api
        .ok(
            Method::POST,
            "/admin/shipping-options",
            &admin,
            Some(json!({"data": {"type": "shipping-options",
                "attributes": {"region_id": region, "name": "Standard", "price": 490}}})),
        )
        .await?);
    let mut variants = vec![json!({"sku": "CHAOS-PDF", "title": "PDF", "kind": "digital",
        "asset_key": "chaos/comic.pdf", "prices": [{"currency": "EUR", "amount": 1299}]})];
    for i in 0..physical {
        variants.push(
            json!({"sku": format!("CHAOS-P{i}"), "title": format!("Print {i}"), "kind": "physical",
            "inventory": INITIAL_STOCK, "prices": [{"currency": "EUR", "amount": 2000 + i as i64}]}),
        );
    }
    let product = api
        .ok(
            Method::POST,
            "/admin/products",
            &admin,
            Some(json!({"data": {"type": "products", "attributes": {"title": "Chaos Comics", "variants": variants}}})),
        )
        .await?;
    let ids: Vec<String> = product["data"]["attributes"]["variants"]
        .as_array()
        .map(|vs| vs.iter().filter_map(|v| v["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let (digital, physical) = ids.split_first().ok_or("no variants created")?;
    let upload = api
        .http
        .put(format!(
            "{}/admin/assets/chaos/comic.pdf",
            api.deliveries.first().cloned().unwrap_or_default()
        ))
        .bearer_auth(&admin)
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.4 chaos comic".to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !upload.status().is_success() {
        return Err(format!("asset upload: {}", upload.status()));
    }
    Ok(Catalog {
        tenant,
        region,
        shipping,
        digital: digital.clone(),
        physical: physical.to_vec(),
    })
}
