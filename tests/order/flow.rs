//! The whole storefront flow over HTTP, and who can see the resulting order.

use ordo_tests::shop::*;
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storefront_flow_creates_an_order_only_its_customer_and_tenant_see() {
    let shop = Shop::start().await;
    let tenant = shop.tenant;
    let cat = shop.seed(tenant, Some(5)).await;
    let alice = Caller::customer(tenant, "alice");

    // Browse, create a cart, fill it.
    let (s, products) = shop.get("/store/products", &alice).await;
    assert_eq!(s, 200);
    let v = &products["data"][0]["attributes"]["variants"][1];
    assert_eq!(v["in_stock"], true);
    assert!(
        v.get("inventory").is_none() && v.get("asset_key").is_none(),
        "customers do not see stock levels or assets"
    );
    let cart = shop
        .ready_cart(&alice, &cat, &[(&cat.digital, 2), (&cat.physical, 1)])
        .await;
    let (s, doc) = shop.get(&format!("/store/carts/{cart}"), &alice).await;
    assert_eq!(s, 200);
    let totals = &doc["data"]["attributes"]["totals"];
    // 2 × 12.99 + 25.00 = 50.98; shipping 4.90; tax 19 % per line, half-up: 4.94 + 4.75 + 0.93
    assert_eq!(totals["subtotal"], 5098);
    assert_eq!(totals["shipping"], 490);
    assert_eq!(totals["tax"], 494 + 475 + 93);
    assert_eq!(totals["total"], 5098 + 490 + 494 + 475 + 93);
    let (s, opts) = shop.get(&format!("/store/carts/{cart}/shipping-options"), &alice).await;
    assert_eq!((s, opts["data"][0]["attributes"]["price"].as_i64()), (200, Some(490)));

    // Complete.
    let order = shop
        .ok("POST", &format!("/store/carts/{cart}/complete"), &alice, None, 200)
        .await;
    let a = &order["data"]["attributes"];
    let order_id = order["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            a["status"].as_str(),
            a["payment_status"].as_str(),
            a["fulfillment_status"].as_str()
        ),
        (Some("pending"), Some("awaiting"), Some("not_fulfilled"))
    );
    assert_eq!(a["display_number"], "#1001");
    assert_eq!(a["totals"]["total"], totals["total"]);
    assert_eq!(a["lines"].as_array().unwrap().len(), 2);
    assert_eq!(a["history"][0]["to"], "pending");
    assert_eq!(a["history"][0]["trigger"], "cart_completed");

    // Stock was reserved; the cart is closed.
    let admin = Caller::admin(tenant);
    let (_, products) = shop.get("/admin/products", &admin).await;
    assert_eq!(products["data"][0]["attributes"]["variants"][1]["inventory"], 4);
    let (s, e) = shop
        .post(
            &format!("/store/carts/{cart}/line-items"),
            &alice,
            json!({"data": {"type": "line-items", "attributes": {"variant_id": cat.digital, "quantity": 1}}}),
        )
        .await;
    assert_eq!((s, e["errors"][0]["code"].as_str()), (409, Some("cart_completed")));

    // Visible to its customer (read and list), to its tenant's admin; not to anyone else.
    assert_eq!(shop.get(&format!("/store/orders/{order_id}"), &alice).await.0, 200);
    let (_, mine) = shop.get("/store/orders", &alice).await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    assert_eq!(shop.get(&format!("/admin/orders/{order_id}"), &admin).await.0, 200);
    let bob = Caller::customer(tenant, "bob");
    assert_eq!(shop.get(&format!("/store/orders/{order_id}"), &bob).await.0, 404);
    assert_eq!(
        shop.get("/store/orders", &bob).await.1["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let other = Uuid::now_v7();
    assert_eq!(
        shop.get(&format!("/admin/orders/{order_id}"), &Caller::admin(other))
            .await
            .0,
        404
    );
    assert_eq!(
        shop.get("/admin/orders", &Caller::admin(other)).await.1["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // The placed event went out through the outbox.
    let placed: i64 = sqlx::query_scalar("select count(*) from orders.outbox where subject = 'ordo.order.v1.placed'")
        .fetch_one(&shop.db.superuser_pool().await)
        .await
        .unwrap();
    assert_eq!(placed, 1);

    // The customer cancels the pending order: stock comes back.
    let canceled = shop
        .ok("POST", &format!("/store/orders/{order_id}/cancel"), &alice, None, 200)
        .await;
    assert_eq!(canceled["data"]["attributes"]["status"], "canceled");
    let (_, products) = shop.get("/admin/products", &admin).await;
    assert_eq!(products["data"][0]["attributes"]["variants"][1]["inventory"], 5);
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_and_require() {
    let shop = Shop::start().await;
    let cat = shop.seed(shop.tenant, None).await;
    let alice = Caller::customer(shop.tenant, "alice");
    let body = json!({"data": {"type": "carts", "attributes": {"region_id": cat.region}}});
    let (s1, first) = shop
        .send("POST", "/store/carts", &alice, Some(body.clone()), Some("k-1"))
        .await;
    let (s2, second) = shop
        .send("POST", "/store/carts", &alice, Some(body.clone()), Some("k-1"))
        .await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first, second, "the replay is the first response");
    let other_body =
        json!({"data": {"type": "carts", "attributes": {"region_id": cat.region, "email": "x@example.com"}}});
    let (s, e) = shop
        .send("POST", "/store/carts", &alice, Some(other_body), Some("k-1"))
        .await;
    assert_eq!(
        (s, e["errors"][0]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    // Another caller may use the same key independently.
    let (s, b) = shop
        .send(
            "POST",
            "/store/carts",
            &Caller::customer(shop.tenant, "bob"),
            Some(body.clone()),
            Some("k-1"),
        )
        .await;
    assert_eq!(s, 201);
    assert_ne!(b["data"]["id"], first["data"]["id"]);
    // One cart for alice despite two calls.
    let n: i64 = sqlx::query_scalar("select count(*) from orders.carts where customer_id = 'alice'")
        .fetch_one(&shop.db.superuser_pool().await)
        .await
        .unwrap();
    assert_eq!(n, 1);
    // Missing key.
    let res = reqwest::Client::new()
        .post(format!("{}/store/carts", shop.base))
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let e: serde_json::Value = res.json().await.unwrap();
    assert_eq!(e["errors"][0]["code"], "missing_idempotency_key");
    assert_eq!(e["errors"][0]["source"]["header"], "Idempotency-Key");
}

#[tokio::test]
async fn idempotency_replay_is_marked_and_a_running_request_answers_409() {
    let shop = Shop::start().await;
    let cat = shop.seed(shop.tenant, None).await;
    let alice = Caller::customer(shop.tenant, "alice");
    let body = json!({"data": {"type": "carts", "attributes": {"region_id": cat.region}}}).to_string();
    let post = |key: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/store/carts", shop.base))
            .bearer_auth(&alice.token)
            .header("idempotency-key", key)
            .header("content-type", "application/vnd.api+json")
            .body(body.clone())
            .send()
    };
    let first = post("same").await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let replay = post("same").await.unwrap();
    assert_eq!(replay.status().as_u16(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");

    // A request with this key "still running": hold the very lock a running request holds.
    let su = shop.db.superuser_pool().await;
    let mut holder = su.acquire().await.unwrap();
    sqlx::query("select pg_advisory_lock(hashtext($1), hashtext($2))")
        .bind(format!("{}/alice", shop.tenant))
        .bind("busy")
        .execute(&mut *holder)
        .await
        .unwrap();
    let busy = post("busy").await.unwrap();
    assert_eq!(busy.status().as_u16(), 409);
    assert!(busy.headers().contains_key("retry-after"));
    let e: serde_json::Value = busy.json().await.unwrap();
    assert_eq!(e["errors"][0]["code"], "idempotency_in_progress");
    sqlx::query("select pg_advisory_unlock_all()")
        .execute(&mut *holder)
        .await
        .unwrap();
    // Once it is no longer running, the key works (nothing was stored for the refused call).
    assert_eq!(post("busy").await.unwrap().status().as_u16(), 201);
    let n: i64 = sqlx::query_scalar("select count(*) from orders.carts")
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(n, 2);
}
