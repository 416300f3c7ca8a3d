//! Bad input gets the documented 4xx JSON:API error (stable code, pointer to the field) and
//! nothing is written.

use ordo_tests::shop::*;
use serde_json::{Value, json};

/// (method, path, raw body, status, code, pointer)
type Case<'a> = (&'a str, String, String, u16, &'a str, Option<&'a str>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_matrix() {
    let shop = Shop::start_with(|c| c.http.body_limit_bytes = 16 * 1024).await;
    let t = shop.tenant;
    let cat = shop.seed(t, Some(3)).await;
    let admin = Caller::admin(t);
    let alice = Caller::customer(t, "alice");
    // A USD-only variant and an inactive one.
    let p = shop
        .ok("POST", "/admin/products", &admin, Some(json!({"data": {"type": "products", "attributes": {"title": "US only",
            "variants": [{"sku": "US-1", "title": "US", "kind": "physical", "prices": [{"currency": "USD", "amount": 100}]},
                         {"sku": "OLD-1", "title": "Old", "kind": "physical", "prices": [{"currency": "EUR", "amount": 100}]}]}}})), 201)
        .await;
    let usd_only = p["data"]["attributes"]["variants"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inactive = p["data"]["attributes"]["variants"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    shop.ok(
        "PATCH",
        &format!("/admin/variants/{inactive}"),
        &admin,
        Some(json!({"data": {"type": "variants", "attributes": {"active": false}}})),
        200,
    )
    .await;
    let cart = shop
        .ok(
            "POST",
            "/store/carts",
            &alice,
            Some(json!({"data": {"type": "carts", "attributes": {"region_id": cat.region}}})),
            201,
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let lines = format!("/store/carts/{cart}/line-items");
    let line = |v: Value, q: Value| {
        json!({"data": {"type": "line-items", "attributes": {"variant_id": v, "quantity": q}}}).to_string()
    };
    let addr = |country: &str| {
        json!({"data": {"type": "carts", "attributes": {"shipping_address":
        {"name": "A", "line1": "1 St", "city": "X", "postal_code": "1", "country": country}}}})
        .to_string()
    };
    let big =
        json!({"data": {"type": "carts", "attributes": {"email": format!("{}@example.com", "a".repeat(20_000))}}})
            .to_string();

    let cases: Vec<Case> = vec![
        ("POST", lines.clone(), "{\"data\": ".into(), 400, "malformed_json", None),
        ("POST", lines.clone(), "".into(), 400, "malformed_json", None),
        ("POST", lines.clone(), json!({"data": {"type": "line-items", "attributes": {"variant_id": cat.digital, "quantity": 1, "unit_price": 1}}}).to_string(), 422, "unknown_field", Some("/data/attributes/unit_price")),
        ("POST", lines.clone(), json!({"data": {"type": "line-items", "attributes": {"variant_id": cat.digital, "quantity": 1}, "meta": {}}}).to_string(), 422, "unknown_field", Some("/data/meta")),
        ("POST", lines.clone(), json!({"data": {"type": "line-items", "attributes": {"variant_id": cat.digital}}}).to_string(), 422, "missing_field", Some("/data/attributes")),
        ("POST", lines.clone(), line(json!(cat.digital), json!(0)), 422, "invalid_quantity", Some("/data/attributes/quantity")),
        ("POST", lines.clone(), line(json!(cat.digital), json!(-1)), 422, "invalid_quantity", Some("/data/attributes/quantity")),
        ("POST", lines.clone(), line(json!(cat.digital), json!(1_000_000_000)), 422, "invalid_quantity", Some("/data/attributes/quantity")),
        ("POST", lines.clone(), line(json!(cat.digital), json!("2")), 422, "invalid_body", Some("/data/attributes/quantity")),
        ("POST", lines.clone(), line(json!(uuid::Uuid::now_v7()), json!(1)), 422, "unknown_variant", Some("/data/attributes/variant_id")),
        ("POST", lines.clone(), line(json!("not-a-uuid"), json!(1)), 422, "invalid_body", Some("/data/attributes/variant_id")),
        ("POST", lines.clone(), line(json!(inactive), json!(1)), 422, "variant_inactive", Some("/data/attributes/variant_id")),
        ("POST", lines.clone(), line(json!(usd_only), json!(1)), 422, "currency_not_offered", Some("/data/attributes/variant_id")),
        ("POST", lines.clone(), json!({"data": {"type": "carts", "attributes": {"variant_id": cat.digital, "quantity": 1}}}).to_string(), 409, "type_mismatch", Some("/data/type")),
        ("PATCH", format!("/store/carts/{cart}"), json!({"data": {"type": "carts", "attributes": {"email": "not-an-email"}}}).to_string(), 422, "invalid_email", Some("/data/attributes/email")),
        ("PATCH", format!("/store/carts/{cart}"), json!({"data": {"type": "carts", "attributes": {"status": "completed"}}}).to_string(), 422, "unknown_field", Some("/data/attributes/status")),
        ("PATCH", format!("/store/carts/{cart}"), json!({"data": {"type": "carts", "attributes": {"tenant_id": uuid::Uuid::now_v7()}}}).to_string(), 422, "unknown_field", Some("/data/attributes/tenant_id")),
        ("PATCH", format!("/store/carts/{cart}"), addr("FR"), 422, "country_not_in_region", Some("/data/attributes/shipping_address/country")),
        ("PATCH", format!("/store/carts/{cart}"), addr("Germany"), 422, "invalid_country", Some("/data/attributes/shipping_address/country")),
        ("PATCH", format!("/store/carts/{cart}"), json!({"data": {"type": "carts", "attributes": {"shipping_address": {"country": "DE"}}}}).to_string(), 422, "missing_field", Some("/data/attributes/shipping_address/name")),
        ("PATCH", format!("/store/carts/{cart}"), big, 413, "payload_too_large", None),
        ("POST", format!("/store/carts/{cart}/complete"), "".into(), 422, "cart_empty", Some("/data/attributes/items")),
        ("POST", "/store/carts".into(), json!({"data": {"type": "carts", "attributes": {"region_id": uuid::Uuid::now_v7()}}}).to_string(), 422, "unknown_region", Some("/data/attributes/region_id")),
        ("POST", "/admin/regions".into(), json!({"data": {"type": "regions", "attributes": {"name": "X", "currency": "eur", "tax_rate_bp": 0, "countries": ["DE"]}}}).to_string(), 422, "invalid_currency", Some("/data/attributes/currency")),
        ("POST", "/admin/regions".into(), json!({"data": {"type": "regions", "attributes": {"name": "X", "currency": "EUR", "tax_rate_bp": 10001, "countries": ["DE"]}}}).to_string(), 422, "invalid_tax_rate", Some("/data/attributes/tax_rate_bp")),
        ("POST", "/admin/products".into(), json!({"data": {"type": "products", "attributes": {"title": "X", "variants": [{"sku": "bad sku", "title": "X", "kind": "physical", "prices": [{"currency": "EUR", "amount": 1}]}]}}}).to_string(), 422, "invalid_sku", Some("/data/attributes/variants/0/sku")),
        ("POST", "/admin/products".into(), json!({"data": {"type": "products", "attributes": {"title": "X", "variants": [{"sku": "N1", "title": "X", "kind": "physical", "prices": [{"currency": "EUR", "amount": -5}]}]}}}).to_string(), 422, "invalid_amount", Some("/data/attributes/variants/0/prices/0/amount")),
        ("GET", "/store/orders/not-a-uuid".into(), "".into(), 404, "not_found", None),
        ("GET", "/admin/orders?page[size]=101".into(), "".into(), 400, "invalid_parameter", None),
        ("GET", "/admin/orders?filter[status]=shipped".into(), "".into(), 400, "invalid_parameter", None),
        ("GET", "/admin/orders?sort=email".into(), "".into(), 400, "invalid_parameter", None),
        ("GET", "/admin/orders?page[after]=garbage".into(), "".into(), 400, "invalid_parameter", None),
    ];
    let before = snapshot(&shop).await;
    let client = reqwest::Client::new();
    for (method, path, body, status, code, pointer) in &cases {
        let who = if path.starts_with("/admin/") { &admin } else { &alice };
        let mut req = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", shop.base),
            )
            .bearer_auth(&who.token)
            .header("content-type", "application/vnd.api+json");
        if *method != "GET" {
            req = req
                .header("idempotency-key", uuid::Uuid::now_v7().to_string())
                .body(body.clone());
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), *status, "{method} {path} {body:.200}");
        assert_eq!(res.headers()["content-type"], "application/vnd.api+json");
        let v: Value = res.json().await.unwrap();
        let err = &v["errors"][0];
        assert_eq!(err["code"], *code, "{method} {path}: {v}");
        assert_eq!(err["status"], status.to_string());
        if let Some(p) = pointer {
            assert_eq!(err["source"]["pointer"], *p, "{method} {path}: {v}");
        }
    }
    // Missing Idempotency-Key on an otherwise valid request.
    let res = client
        .post(format!("{}{lines}", shop.base))
        .bearer_auth(&alice.token)
        .header("content-type", "application/vnd.api+json")
        .body(line(json!(cat.digital), json!(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["errors"][0]["code"],
        "missing_idempotency_key"
    );
    assert_eq!(snapshot(&shop).await, before, "a refused request wrote something");
}

#[tokio::test]
async fn checkout_endpoints_are_rate_limited_per_caller() {
    let shop = Shop::start_with(|c| {
        c.checkout.rate_burst = 5;
        c.checkout.rate_per_sec = 1;
    })
    .await;
    let cat = shop.seed(shop.tenant, None).await;
    let alice = Caller::customer(shop.tenant, "alice");
    let body = json!({"data": {"type": "carts", "attributes": {"region_id": cat.region}}});
    let send = |who: Caller| {
        let (base, body) = (shop.base.clone(), body.to_string());
        async move {
            reqwest::Client::new()
                .post(format!("{base}/store/carts"))
                .bearer_auth(&who.token)
                .header("idempotency-key", uuid::Uuid::now_v7().to_string())
                .header("content-type", "application/vnd.api+json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let mut statuses = Vec::new();
    let mut retry_after = None;
    let started = std::time::Instant::now();
    for _ in 0..8 {
        let res = send(alice.clone()).await;
        statuses.push(res.status().as_u16());
        if res.status().as_u16() == 429 {
            retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(res.json::<Value>().await.unwrap()["errors"][0]["code"], "rate_limited");
        }
    }
    // The burst of five, then refusals — except one token refilled per whole second the loop
    // took on a loaded machine.
    let refilled = started.elapsed().as_secs() as usize;
    assert_eq!(statuses[..6], [201, 201, 201, 201, 201, 429], "{statuses:?}");
    assert!(
        statuses[6..].iter().filter(|s| **s == 201).count() <= refilled,
        "{statuses:?} after {refilled} s"
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    // The same subject in another tenant is another caller with a bucket of its own: its whole
    // burst gets past the limiter (the region is not that tenant's, so each is refused for that).
    let elsewhere = Caller::customer(uuid::Uuid::now_v7(), "alice");
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(send(elsewhere.clone()).await.status().as_u16());
    }
    assert!(!codes.contains(&429), "buckets are per tenant and subject: {codes:?}");
    // Another caller is not affected.
    assert_eq!(
        shop.post("/store/carts", &Caller::customer(shop.tenant, "bob"), body)
            .await
            .0,
        201
    );
}
