//! The local demo behind `make run`.
//!
//! - [`mint`] signs a development token (HS256 with the secret of `deploy/local/dev.toml`, which
//!   only `make run` configures; production verifies RS/ES/EdDSA keys or a JWKS URL).
//! - [`Demo::seed`] creates the demo shop through the admin API, once: a region, a shipping
//!   option, a product with a digital and a physical variant. Running it again changes nothing.
//! - [`Demo::buy`] is a customer buying the digital product: cart → line → e-mail → payment
//!   session → card confirmed at (emulated) Stripe as Stripe.js would → complete → the webhook
//!   makes the order `paid`. Every step is printed as the curl command that does the same.
//!
//! The black-box payment tests run [`Demo`] against a test stack, so the walkthrough cannot rot.

use anyhow::{Context as _, anyhow, bail};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The demo shop's tenant (fixed, so `seed` and `buy` find each other across runs).
pub const TENANT: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_de30);
pub const REGION_NAME: &str = "Demo EU";
pub const PRODUCT_TITLE: &str = "Ordo Demo Zine";
pub const DIGITAL_SKU: &str = "DEMO-ZINE-PDF";
pub const PHYSICAL_SKU: &str = "DEMO-ZINE-PRINT";
/// The object the digital variant delivers (uploaded by `seed` when the delivery service is given).
pub const ASSET_KEY: &str = "demo/zine.pdf";

/// A development token for `sub` acting as `role` (`customer` or `admin`) in `tenant`, valid
/// for `ttl`, signed with the configured HS secret.
pub fn mint(
    auth: &ordo_config::AuthConfig,
    sub: &str,
    tenant: Uuid,
    role: &str,
    ttl: Duration,
) -> anyhow::Result<String> {
    let secret = auth
        .hs_secret
        .as_ref()
        .ok_or_else(|| anyhow!("no auth.hs_secret configured: demo tokens need deploy/local/dev.toml (make run)"))?;
    if !auth.algorithms.iter().any(|a| a == "HS256") {
        bail!("HS256 is not among auth.algorithms: the services would refuse a demo token");
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), json!(sub));
    claims.insert(auth.tenant_claim.clone(), json!(tenant.to_string()));
    claims.insert(auth.role_claim.clone(), json!(role));
    claims.insert("iss".into(), json!(auth.issuer));
    claims.insert("aud".into(), json!(auth.audience));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + ttl.as_secs() as i64));
    let key = EncodingKey::from_secret(secret.expose().as_bytes());
    Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)?)
}

/// Where the demo talks to, and as whom.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The order service (gateway), e.g. `http://127.0.0.1:8080`.
    pub order_url: String,
    /// The Stripe emulator, e.g. `http://127.0.0.1:12111`.
    pub stripe_url: String,
    pub stripe_key: String,
    pub admin_token: String,
    pub customer_token: String,
    /// Print each step (the binary) or stay quiet (tests).
    pub verbose: bool,
    /// The delivery service, e.g. `http://127.0.0.1:8082`: when set, seeding also uploads the
    /// PDF the digital variant delivers.
    pub delivery_url: Option<String>,
    http: reqwest::Client,
}

/// What `seed` created or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    pub region_id: String,
    pub digital_variant_id: String,
    pub physical_variant_id: String,
    /// False when the shop was already there.
    pub created: bool,
}

/// The outcome of `buy`.
#[derive(Debug, Clone)]
pub struct Bought {
    pub order_id: String,
    pub number: i64,
    pub payment_intent_id: String,
    /// The order as the customer finally sees it (`GET /store/orders/{id}`).
    pub order: Value,
}

/// One HTTP exchange, kept for printing.
struct Step<'a> {
    method: &'a str,
    url: String,
    /// `$ADMIN`, `$CUSTOMER` or the Stripe key, as shown in the curl line.
    auth_shown: &'a str,
    token: &'a str,
    body: Option<Body>,
    /// Print the curl line (off for repeated polls).
    show: bool,
}

enum Body {
    JsonApi(Value),
    Form(String),
}

impl Demo {
    pub fn new(
        order_url: &str,
        stripe_url: &str,
        stripe_key: &str,
        admin_token: String,
        customer_token: String,
    ) -> anyhow::Result<Demo> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Demo {
            order_url: order_url.trim_end_matches('/').to_owned(),
            stripe_url: stripe_url.trim_end_matches('/').to_owned(),
            stripe_key: stripe_key.to_owned(),
            admin_token,
            customer_token,
            verbose: false,
            delivery_url: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .pool_max_idle_per_host(0)
                .build()?,
        })
    }

    fn say(&self, line: &str) {
        if self.verbose {
            println!("{line}");
        }
    }

    /// Send one step; print it as curl and the answer's status. Returns (status, body).
    async fn send(&self, step: Step<'_>) -> anyhow::Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(step.method.as_bytes())?;
        let mut req = self.http.request(method.clone(), &step.url).bearer_auth(step.token);
        let mut curl = format!(
            "curl -s -X {} '{}' -H \"Authorization: Bearer {}\"",
            step.method, step.url, step.auth_shown
        );
        if method != reqwest::Method::GET && step.url.starts_with(&self.order_url) {
            let key = Uuid::now_v7().to_string();
            curl.push_str(&format!(" -H 'Idempotency-Key: {key}'"));
            req = req.header("idempotency-key", key);
        }
        match &step.body {
            Some(Body::JsonApi(v)) => {
                curl.push_str(&format!(" -H 'Content-Type: application/vnd.api+json' -d '{v}'"));
                req = req
                    .header("content-type", "application/vnd.api+json")
                    .body(v.to_string());
            }
            Some(Body::Form(f)) => {
                curl.push_str(&format!(" -d '{f}'"));
                req = req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(f.clone());
            }
            None => {}
        }
        if step.show {
            self.say(&format!("    $ {curl}"));
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("{} {} (is `make run` running?)", step.method, step.url))?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, body))
    }

    async fn expect(&self, step: Step<'_>, want: u16) -> anyhow::Result<Value> {
        let what = format!("{} {}", step.method, step.url);
        let (status, body) = self.send(step).await?;
        if status != want {
            bail!("{what} answered {status} (expected {want}): {body}");
        }
        Ok(body)
    }

    fn admin<'a>(&'a self, method: &'a str, path: &str, body: Option<Value>) -> Step<'a> {
        Step {
            method,
            url: format!("{}{path}", self.order_url),
            auth_shown: "$ADMIN",
            token: &self.admin_token,
            body: body.map(Body::JsonApi),
            show: true,
        }
    }

    fn customer<'a>(&'a self, method: &'a str, path: &str, body: Option<Value>) -> Step<'a> {
        Step {
            method,
            url: format!("{}{path}", self.order_url),
            auth_shown: "$CUSTOMER",
            token: &self.customer_token,
            body: body.map(Body::JsonApi),
            show: true,
        }
    }

    /// Wait until every URL answers 2xx (services starting up), or fail after `timeout`.
    pub async fn wait_ready(&self, urls: &[String], timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for url in urls {
            loop {
                match self.http.get(url).send().await {
                    Ok(r) if r.status().is_success() => break,
                    outcome => {
                        if Instant::now() >= deadline {
                            bail!("{url} is not ready after {timeout:?}: {outcome:?}");
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
        Ok(())
    }

    /// The demo shop, created through the admin API unless it exists. The product is created
    /// last, so its presence means the whole shop is there.
    pub async fn seed(&self) -> anyhow::Result<Seeded> {
        if let Some(delivery) = &self.delivery_url {
            self.upload_zine(delivery).await?;
        }
        let products = self.expect(self.admin("GET", "/admin/products", None), 200).await?;
        let regions = self.expect(self.admin("GET", "/admin/regions", None), 200).await?;
        let region = find(&regions["data"], |r| r["attributes"]["name"] == REGION_NAME)
            .map(id_of)
            .transpose()?;
        if let (Some(region_id), Some((digital, physical))) = (&region, demo_variants(&products["data"])) {
            return Ok(Seeded {
                region_id: region_id.clone(),
                digital_variant_id: digital,
                physical_variant_id: physical,
                created: false,
            });
        }
        let region_id = match region {
            Some(id) => id,
            None => id_of(
                &self
                    .expect(
                        self.admin(
                            "POST",
                            "/admin/regions",
                            Some(json!({"data": {"type": "regions", "attributes": {"name": REGION_NAME,
                                "currency": "EUR", "tax_rate_bp": 1900, "countries": ["DE", "AT", "FR", "NL"]}}})),
                        ),
                        201,
                    )
                    .await?["data"],
            )?,
        };
        self.expect(
            self.admin(
                "POST",
                "/admin/shipping-options",
                Some(json!({"data": {"type": "shipping-options",
                    "attributes": {"region_id": region_id, "name": "Standard post", "price": 490}}})),
            ),
            201,
        )
        .await?;
        let product = self
            .expect(
                self.admin(
                    "POST",
                    "/admin/products",
                    Some(json!({"data": {"type": "products", "attributes": {
                        "title": PRODUCT_TITLE, "variants": [
                        {"sku": DIGITAL_SKU, "title": "PDF", "kind": "digital", "asset_key": ASSET_KEY,
                         "prices": [{"currency": "EUR", "amount": 1299}]},
                        {"sku": PHYSICAL_SKU, "title": "Print", "kind": "physical", "inventory": 100,
                         "prices": [{"currency": "EUR", "amount": 2500}]}]}}})),
                ),
                201,
            )
            .await?;
        let (digital, physical) = demo_variants(&json!([product["data"]]))
            .ok_or_else(|| anyhow!("the created product lacks the demo variants: {product}"))?;
        Ok(Seeded {
            region_id,
            digital_variant_id: digital,
            physical_variant_id: physical,
            created: true,
        })
    }

    /// A customer buys the digital product and pays with Stripe's test card; returns once the
    /// order is `paid` (or fails after `wait`).
    pub async fn buy(&self, email: &str, wait: Duration) -> anyhow::Result<Bought> {
        self.say("[1/8] The storefront reads the regions and the catalog");
        let regions = self.expect(self.customer("GET", "/store/regions", None), 200).await?;
        let region_id = find(&regions["data"], |r| r["attributes"]["name"] == REGION_NAME)
            .map(id_of)
            .ok_or_else(|| anyhow!("no `{REGION_NAME}` region: run `ordo-demo seed` first"))??;
        let products = self.expect(self.customer("GET", "/store/products", None), 200).await?;
        let (digital, _) =
            demo_variants(&products["data"]).ok_or_else(|| anyhow!("no demo product: run `ordo-demo seed` first"))?;
        self.say(&format!("    → region {region_id}, digital variant {digital}"));

        self.say("[2/8] Create a cart in the region");
        let cart = self
            .expect(
                self.customer(
                    "POST",
                    "/store/carts",
                    Some(json!({"data": {"type": "carts", "attributes": {"region_id": region_id}}})),
                ),
                201,
            )
            .await?;
        let cart_id = id_of(&cart["data"])?;
        self.say(&format!("    → cart {cart_id}"));

        self.say("[3/8] Put the PDF in it");
        let with_line = self
            .expect(
                self.customer(
                    "POST",
                    &format!("/store/carts/{cart_id}/line-items"),
                    Some(json!({"data": {"type": "line-items", "attributes": {"variant_id": digital, "quantity": 1}}})),
                ),
                200,
            )
            .await?;
        self.say(&format!(
            "    → total {}",
            with_line["data"]["attributes"]["totals"]["total"]
        ));

        self.say("[4/8] Give the e-mail address (a digital-only cart needs no shipping address)");
        self.expect(
            self.customer(
                "PATCH",
                &format!("/store/carts/{cart_id}"),
                Some(json!({"data": {"type": "carts", "attributes": {"email": email}}})),
            ),
            200,
        )
        .await?;

        self.say("[5/8] Open a payment session (the order service asks the payment service, which asks Stripe)");
        let session = self
            .expect(
                self.customer("POST", &format!("/store/carts/{cart_id}/payment-session"), None),
                200,
            )
            .await?;
        let attrs = &session["data"]["attributes"];
        let pi = attrs["payment_intent_id"]
            .as_str()
            .ok_or_else(|| anyhow!("no payment_intent_id in {session}"))?
            .to_owned();
        self.say(&format!(
            "    → PaymentIntent {pi} for {} {}; the browser gets client_secret {}",
            attrs["amount"],
            attrs["currency"].as_str().unwrap_or("?"),
            attrs["client_secret"].as_str().unwrap_or("?")
        ));

        self.say("[6/8] Pay with Stripe's test card (in a browser Stripe.js does this with the client secret)");
        let confirmed = self
            .expect(
                Step {
                    method: "POST",
                    url: format!("{}/v1/payment_intents/{pi}/confirm", self.stripe_url),
                    auth_shown: &self.stripe_key,
                    token: &self.stripe_key,
                    body: Some(Body::Form("payment_method=pm_card_visa".into())),
                    show: true,
                },
                200,
            )
            .await?;
        self.say(&format!(
            "    → {}; Stripe now sends payment_intent.succeeded to the payment service's webhook",
            confirmed["status"].as_str().unwrap_or("?")
        ));

        self.say("[7/8] Complete the checkout: the cart becomes an order");
        let order = self
            .expect(
                self.customer("POST", &format!("/store/carts/{cart_id}/complete"), None),
                200,
            )
            .await?;
        let order_id = id_of(&order["data"])?;
        let number = order["data"]["attributes"]["number"].as_i64().unwrap_or_default();
        self.say(&format!(
            "    → order #{number} ({order_id}), status {}",
            order["data"]["attributes"]["status"].as_str().unwrap_or("?")
        ));

        self.say("[8/8] Watch the order until the webhook has made it paid");
        let deadline = Instant::now() + wait;
        let mut last = String::new();
        let mut first = true;
        loop {
            let mut step = self.customer("GET", &format!("/store/orders/{order_id}"), None);
            step.show = std::mem::take(&mut first);
            let doc = self.expect(step, 200).await?;
            let a = &doc["data"]["attributes"];
            let now = format!(
                "status {}, payment {}",
                a["status"].as_str().unwrap_or("?"),
                a["payment_status"].as_str().unwrap_or("?")
            );
            if now != last {
                self.say(&format!("    → {now}"));
                last = now;
            }
            // Paid; with the delivery service running it may already be fulfilled (the PDF's
            // download grant) by the time we look.
            if a["payment_status"] == "captured"
                && matches!(a["status"].as_str(), Some("paid" | "fulfilled" | "delivered"))
            {
                return Ok(Bought {
                    order_id,
                    number,
                    payment_intent_id: pi,
                    order: doc,
                });
            }
            if Instant::now() >= deadline {
                bail!("order {order_id} did not become paid within {wait:?}: {doc}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A one-page PDF: the file the demo zine's digital variant delivers.
pub fn zine_pdf() -> Vec<u8> {
    let text = "BT /F1 24 Tf 72 720 Td (Ordo Demo Zine - thank you for testing ordo) Tj ET";
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    let xref = pdf.len();
    pdf.push_str(&format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1));
    for off in offsets {
        pdf.push_str(&format!("{off:010} 00000 n \n"));
    }
    pdf.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    pdf.into_bytes()
}

impl Demo {
    /// Upload the zine's PDF to the delivery service unless it is there.
    async fn upload_zine(&self, delivery: &str) -> anyhow::Result<()> {
        let base = delivery.trim_end_matches('/');
        let list: Value = self
            .http
            .get(format!("{base}/admin/assets"))
            .bearer_auth(&self.admin_token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if find(&list["data"], |a| a["id"] == ASSET_KEY).is_some() {
            return Ok(());
        }
        self.http
            .put(format!("{base}/admin/assets/{ASSET_KEY}"))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/pdf")
            .body(zine_pdf())
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The order's first download link, as the customer asks for it (waits until the delivery
    /// service has granted the download).
    pub async fn download_link(&self, order_id: &str, wait: Duration) -> anyhow::Result<String> {
        self.say("[+] Ask for the PDF's download link (the order service asks the delivery service)");
        let deadline = Instant::now() + wait;
        let mut first = true;
        loop {
            let mut step = self.customer("GET", &format!("/store/orders/{order_id}/download-links"), None);
            step.show = std::mem::take(&mut first);
            if let Ok(doc) = self.expect(step, 200).await
                && let Some(url) = doc["data"][0]["attributes"]["url"].as_str()
            {
                return Ok(url.to_owned());
            }
            if Instant::now() >= deadline {
                bail!("no download link for order {order_id} within {wait:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn find(list: &Value, pred: impl Fn(&Value) -> bool) -> Option<&Value> {
    list.as_array()?.iter().find(|v| pred(v))
}

fn id_of(resource: &Value) -> anyhow::Result<String> {
    resource["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no id in {resource}"))
}

/// The demo product's (digital, physical) variant ids, if it is in `products`.
fn demo_variants(products: &Value) -> Option<(String, String)> {
    let product = find(products, |p| p["attributes"]["title"] == PRODUCT_TITLE)?;
    let variants = product["attributes"]["variants"].as_array()?;
    let id = |sku: &str| {
        variants
            .iter()
            .find(|v| v["sku"] == sku)
            .and_then(|v| v["id"].as_str())
            .map(str::to_owned)
    };
    Some((id(DIGITAL_SKU)?, id(PHYSICAL_SKU)?))
}
