//! Operators: listing with filters, sort and cursor pagination; stats; expiry of unpaid orders
//! and idle carts.

use ordo_tests::shop::*;
use serde_json::{Value, json};
use std::collections::HashSet;

async fn place(shop: &Shop, cat: &Catalog, who: &Caller, qty: i64) -> Value {
    let cart = shop.ready_cart(who, cat, &[(&cat.physical, qty)]).await;
    shop.ok("POST", &format!("/store/carts/{cart}/complete"), who, None, 200)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_filter_sort_and_paginate() {
    let shop = Shop::start().await;
    let t = shop.tenant;
    let cat = shop.seed(t, None).await;
    let admin = Caller::admin(t);
    let mut ids = Vec::new();
    for i in 0..7 {
        let who = Caller::customer(t, &format!("c{}", i % 3));
        ids.push(
            place(&shop, &cat, &who, i + 1).await["data"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Cancel two so statuses differ.
    for id in &ids[..2] {
        shop.ok("POST", &format!("/admin/orders/{id}/cancel"), &admin, None, 200)
            .await;
    }
    // Walk all pages of size 3, newest first.
    let mut seen = Vec::new();
    let mut next = Some("/admin/orders?page[size]=3&sort=-created_at".to_owned());
    while let Some(path) = next {
        let (s, page) = shop.get(&path, &admin).await;
        assert_eq!(s, 200, "{page}");
        for o in page["data"].as_array().unwrap() {
            seen.push(o["id"].as_str().unwrap().to_owned());
        }
        next = page["links"]["next"].as_str().map(str::to_owned);
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "every order once, newest first, across pages");
    // Sort by total ascending: quantities 1..=7 give increasing totals.
    let (_, page) = shop.get("/admin/orders?sort=total&page[size]=100", &admin).await;
    let by_total: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(by_total, ids.iter().map(String::as_str).collect::<Vec<_>>());
    let items: Vec<i64> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["attributes"]["items"].as_i64().unwrap())
        .collect();
    assert_eq!(items, (1..=7).collect::<Vec<_>>(), "each order's units");
    // Filters.
    let (_, canceled) = shop.get("/admin/orders?filter[status]=canceled", &admin).await;
    let got: HashSet<&str> = canceled["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids[..2].iter().map(String::as_str).collect());
    let (_, pending) = shop
        .get(
            "/admin/orders?filter[status]=pending&filter[payment_status]=awaiting",
            &admin,
        )
        .await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 5);
    let (_, unfulfilled) = shop
        .get("/admin/orders?filter[fulfillment_status]=canceled", &admin)
        .await;
    assert_eq!(unfulfilled["data"].as_array().unwrap().len(), 2);
    let (_, by_email) = shop.get("/admin/orders?filter[q]=C1@EXAMPLE.COM", &admin).await;
    assert_eq!(
        by_email["data"].as_array().unwrap().len(),
        2,
        "c1 placed orders 2 and 5"
    );
    let (_, by_number) = shop.get("/admin/orders?filter[q]=%231003", &admin).await;
    assert_eq!(by_number["data"][0]["attributes"]["number"], 1003);
    let (_, none) = shop
        .get("/admin/orders?filter[created_from]=2100-01-01T00:00:00Z", &admin)
        .await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    // Customers cannot use admin filters.
    let (s, _) = shop.get("/store/orders?filter[q]=x", &Caller::customer(t, "c0")).await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_revenue_and_compare_periods() {
    let shop = Shop::start().await;
    let t = shop.tenant;
    let cat = shop.seed(t, None).await;
    let alice = Caller::customer(t, "alice");
    let a = place(&shop, &cat, &alice, 1).await;
    let b = place(&shop, &cat, &alice, 2).await;
    // Pay order a through an event, as the payment service would.
    let id = a["data"]["id"].as_str().unwrap().to_owned();
    let total = a["data"]["attributes"]["totals"]["total"].as_i64().unwrap();
    let paid = ordo_events::payment::v1::PaymentSucceeded {
        meta: Some(ordo_events::EventMetadata::for_event::<
            ordo_events::payment::v1::PaymentSucceeded,
        >(&t.to_string(), "pi", 1)),
        order_id: id.clone(),
        payment_intent_id: "pi_1".into(),
        amount: Some(ordo_events::money(total, "EUR")),
        ..Default::default()
    };
    shop.publish(t, &paid).await;
    shop.wait_order(t, &id, |d| d["data"]["attributes"]["status"] == "paid")
        .await;
    // A partial refund of it, as the payment service reports one.
    let refund = ordo_events::payment::v1::PaymentRefunded {
        meta: Some(ordo_events::EventMetadata::for_event::<
            ordo_events::payment::v1::PaymentRefunded,
        >(&t.to_string(), "pi", 2)),
        order_id: id.clone(),
        payment_intent_id: "pi_1".into(),
        refund_id: "re_1".into(),
        amount: Some(ordo_events::money(100, "EUR")),
        ..Default::default()
    };
    shop.publish(t, &refund).await;
    shop.wait_order(t, &id, |d| d["data"]["attributes"]["refunded_amount"] == 100)
        .await;
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let path = format!(
        "/admin/stats?filter[created_from]={}&filter[created_to]={}",
        fmt(now - time::Duration::days(1)),
        fmt(now + time::Duration::hours(1))
    )
    .replace('+', "%2B");
    let (s, doc) = shop.get(&path, &Caller::admin(t)).await;
    assert_eq!(s, 200, "{doc}");
    let st = &doc["data"][0]["attributes"];
    assert_eq!(st["currency"], "EUR");
    assert_eq!(st["orders"], 2);
    assert_eq!(
        st["revenue"],
        total - 100,
        "only captured money counts, less what was refunded"
    );
    assert_eq!(st["average_order_value"], total - 100);
    assert_eq!(
        (st["refunds"]["count"].as_i64(), st["refunds"]["amount"].as_i64()),
        (Some(1), Some(100))
    );
    assert!(st["refunds"]["amount_change_percent"].is_null());
    assert_eq!(st["by_status"], json!({"paid": 1, "pending": 1}));
    assert_eq!(st["awaiting_fulfillment"], 1);
    assert_eq!(st["previous_period"]["orders"], 0);
    assert!(st["previous_period"]["orders_change_percent"].is_null());
    assert_eq!(
        st["daily"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["orders"].as_i64().unwrap())
            .sum::<i64>(),
        2
    );
    let _ = b;
    // The next day's numbers: these orders are its previous period.
    let next_day = format!(
        "/admin/stats?filter[created_from]={}&filter[created_to]={}",
        fmt(now + time::Duration::hours(1)),
        fmt(now + time::Duration::hours(25))
    )
    .replace('+', "%2B");
    let (_, doc) = shop.get(&next_day, &Caller::admin(t)).await;
    let st = &doc["data"][0]["attributes"];
    let prev = &st["previous_period"];
    assert_eq!(
        (st["orders"].as_i64(), prev["orders"].as_i64()),
        (Some(0), Some(2)),
        "{doc}"
    );
    assert_eq!(prev["average_order_value"], total - 100);
    assert_eq!(prev["awaiting_fulfillment"], 1);
    assert_eq!(prev["awaiting_fulfillment_change_percent"], -100.0);
    assert!(
        prev["average_order_value_change_percent"].is_null(),
        "no paid order now"
    );
    // Other tenants see nothing of it.
    let (_, other) = shop.get(&path, &Caller::admin(uuid::Uuid::now_v7())).await;
    assert_eq!(other["data"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_orders_expire_and_release_stock_idle_carts_expire() {
    let shop = Shop::start_with(|c| {
        c.checkout.unpaid_order_ttl_secs = 1;
        c.checkout.sweep_interval_secs = 1;
        c.checkout.cart_idle_secs = 3;
    })
    .await;
    let t = shop.tenant;
    let cat = shop.seed(t, Some(5)).await;
    let alice = Caller::customer(t, "alice");
    let order = place(&shop, &cat, &alice, 2).await;
    let id = order["data"]["id"].as_str().unwrap().to_owned();
    let idle = shop
        .ok(
            "POST",
            "/store/carts",
            &alice,
            Some(json!({"data": {"type": "carts", "attributes": {"region_id": cat.region}}})),
            201,
        )
        .await;
    let idle = idle["data"]["id"].as_str().unwrap().to_owned();
    let doc = shop
        .wait_order(t, &id, |d| d["data"]["attributes"]["status"] == "canceled")
        .await;
    let history = doc["data"]["attributes"]["history"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last["actor"].as_str(), last["detail"]["reason"].as_str()),
        (Some("system:expiry"), Some("expired"))
    );
    let (_, products) = shop.get("/admin/products", &Caller::admin(t)).await;
    assert_eq!(
        products["data"][0]["attributes"]["variants"][1]["inventory"], 5,
        "stock released"
    );
    let su = shop.db.superuser_pool().await;
    let canceled: i64 =
        sqlx::query_scalar("select count(*) from orders.outbox where subject = 'ordo.order.v1.canceled'")
            .fetch_one(&su)
            .await
            .unwrap();
    assert_eq!(canceled, 1);
    tokio::time::sleep(std::time::Duration::from_millis(3_300)).await;
    let (_, cart) = shop.get(&format!("/store/carts/{idle}"), &alice).await;
    assert_eq!(cart["data"]["attributes"]["status"], "expired");
    let (s, e) = shop
        .post(
            &format!("/store/carts/{idle}/line-items"),
            &alice,
            json!({"data": {"type": "line-items", "attributes": {"variant_id": cat.digital, "quantity": 1}}}),
        )
        .await;
    assert_eq!((s, e["errors"][0]["code"].as_str()), (409, Some("cart_expired")));
}
