//! Shipments through the gateway, and the mixed order: fulfilled only when the parcel ships,
//! delivered only when it arrives, whatever the download did before.

use ordo_tests::delivery_stack::*;
use serde_json::{Value, json};

fn lines_of<'a>(order: &'a Value, kind: &str) -> Vec<&'a str> {
    order["data"]["attributes"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == kind)
        .map(|l| l["id"].as_str().unwrap())
        .collect()
}

fn shipment(carrier: &str, tracking: &str, lines: &[&str]) -> Value {
    json!({"data": {"type": "shipments", "attributes": {
        "carrier": carrier, "tracking_number": tracking, "line_ids": lines}}})
}

fn attr<'a>(order: &'a Value, name: &str) -> &'a str {
    order["data"]["attributes"][name].as_str().unwrap_or("")
}

/// The order's shipments as the delivery service lists them for `who`.
async fn shipments_of(shop: &DeliveryStack, order: &str, who: &ordo_tests::shop::Caller) -> Vec<Value> {
    let res = shop
        .http
        .get(format!("{}/admin/orders/{order}/shipments", shop.delivery_base))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    doc["data"].as_array().unwrap().clone()
}

/// How many history rows of the order lead to `status`.
fn transitions_to(order: &Value, status: &str) -> usize {
    order["data"]["attributes"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["to"] == status)
        .count()
}

#[tokio::test]
async fn a_mixed_order_is_fulfilled_by_its_shipment_and_delivered_when_the_parcel_arrives() {
    let shop = DeliveryStack::start().await;
    let file = bytes(50_000);
    shop.upload(file.clone()).await;
    let ada = shop.s.customer("ada");
    let admin = shop.s.admin();
    let order = shop.paid_order(&ada, 2).await;

    // The digital line is handed over at once; the order waits for the parcel.
    let partly = shop
        .s
        .wait_order(&order, |o| attr(o, "fulfillment_status") == "partially_fulfilled")
        .await;
    assert_eq!(attr(&partly, "status"), "paid");
    let physical = lines_of(&partly, "physical");
    let digital = lines_of(&partly, "digital");
    assert_eq!((physical.len(), digital.len()), (1, 1));

    // Downloading delivers the digital line, not the order.
    let url = shop.link(&ada, &order).await;
    let (code, _, body) = shop.fetch(&url, None).await;
    assert_eq!((code, body == file), (200, true));
    let downloaded = shop
        .s
        .wait_order(&order, |o| {
            o["data"]["attributes"]["lines"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["kind"] == "digital" && !l["delivered_at"].is_null())
        })
        .await;
    assert_eq!(attr(&downloaded, "status"), "paid", "{downloaded}");

    // Refusals leave nothing behind.
    let path = format!("/admin/orders/{order}/shipments");
    let bad = [
        (shipment("", "T1", &physical), 422, "invalid_shipment"),
        (shipment("DHL", "T1", &[]), 422, "invalid_shipment"),
        (shipment("DHL", "T1", &digital), 422, "line_not_physical"),
        (
            shipment("DHL", "T1", &[&uuid::Uuid::now_v7().to_string()]),
            422,
            "line_unknown",
        ),
        (
            shipment("DHL", "T1", &[physical[0], physical[0]]),
            422,
            "invalid_shipment",
        ),
    ];
    for (body, status, code) in bad {
        let (s, b) = shop.s.shop.post(&path, &admin, body.clone()).await;
        assert_eq!(
            (s, b["errors"][0]["code"].as_str().unwrap_or("")),
            (status, code),
            "{body}: {b}"
        );
    }
    let (s, _) = shop.s.shop.post(&path, &ada, shipment("DHL", "T1", &physical)).await;
    assert_eq!(s, 403, "a customer cannot ship");
    let db = shop.superuser().await;
    let count: i64 = sqlx::query_scalar("select count(*) from delivery.shipments")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 0);

    // The parcel ships: fulfilled.
    let created = shop
        .s
        .shop
        .ok(
            "POST",
            &path,
            &admin,
            Some(shipment(" DHL ", "00340434161094042557", &physical)),
            201,
        )
        .await;
    let shipment_id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["attributes"]["carrier"], "DHL");
    assert_eq!(created["data"]["attributes"]["status"], "shipped");
    let fulfilled = shop.wait_status(&order, "fulfilled").await;
    assert_eq!(attr(&fulfilled, "fulfillment_status"), "partially_delivered");
    // The customer reads the carrier and tracking number in their order's history.
    let (_, mine) = shop.s.shop.get(&format!("/store/orders/{order}"), &ada).await;
    let shipped = mine["data"]["attributes"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["to"] == "fulfilled")
        .unwrap()
        .clone();
    assert_eq!(
        (
            shipped["detail"]["carrier"].as_str(),
            shipped["detail"]["tracking_number"].as_str()
        ),
        (Some("DHL"), Some("00340434161094042557")),
        "{shipped}"
    );
    assert_eq!(shipped["detail"]["shipment_id"], shipment_id.as_str());
    let (s, b) = shop.s.shop.post(&path, &admin, shipment("UPS", "T2", &physical)).await;
    assert_eq!(
        (s, b["errors"][0]["code"].as_str()),
        (409, Some("line_already_shipped"))
    );

    // It arrives: delivered. Saying so again changes nothing.
    let done = format!("{path}/{shipment_id}/delivered");
    let first = shop.s.shop.ok("POST", &done, &admin, None, 200).await;
    assert_eq!(first["data"]["attributes"]["already_delivered"], false);
    let delivered = shop.wait_status(&order, "delivered").await;
    assert_eq!(attr(&delivered, "fulfillment_status"), "delivered");
    let again = shop.s.shop.ok("POST", &done, &admin, None, 200).await;
    assert_eq!(again["data"]["attributes"]["already_delivered"], true);
    let (s, _) = shop
        .s
        .shop
        .send(
            "POST",
            &format!("{path}/{}/delivered", uuid::Uuid::now_v7()),
            &admin,
            None,
            None,
        )
        .await;
    assert_eq!(s, 404);

    let after = shop.wait_status(&order, "delivered").await;
    let listed = shipments_of(&shop, &order, &admin).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], shipment_id.as_str());
    let a = &listed[0]["attributes"];
    assert_eq!(
        (a["carrier"].as_str(), a["tracking_number"].as_str()),
        (Some("DHL"), Some("00340434161094042557"))
    );
    assert_eq!(
        (a["status"].as_str(), a["delivered_at"].is_string()),
        (Some("delivered"), true)
    );
    assert_eq!(a["line_ids"], json!(physical));
    assert_eq!(transitions_to(&after, "delivered"), 1, "{after}");
    assert_eq!(transitions_to(&after, "fulfilled"), 1, "{after}");
    let events: Vec<String> = sqlx::query_scalar("select subject from delivery.outbox order by id")
        .fetch_all(&db)
        .await
        .unwrap();
    let shipped: Vec<&String> = events.iter().filter(|s| s.contains("shipment")).collect();
    assert_eq!(shipped.len(), 2, "{events:?}");
    assert!(shipped[0].ends_with("shipment_created") && shipped[1].ends_with("shipment_delivered"));
}

#[tokio::test]
async fn other_tenants_get_404_and_a_refunded_order_ships_nothing_more() {
    let shop = DeliveryStack::start().await;
    let admin = shop.s.admin();
    let bo = shop.s.customer("bo");
    let order = shop.paid_order(&bo, 3).await;
    let partly = shop
        .s
        .wait_order(&order, |o| attr(o, "fulfillment_status") == "partially_fulfilled")
        .await;
    let physical = lines_of(&partly, "physical");
    let path = format!("/admin/orders/{order}/shipments");
    let created = shop
        .s
        .shop
        .ok("POST", &path, &admin, Some(shipment("GLS", "A1", &physical)), 201)
        .await;
    shop.wait_status(&order, "fulfilled").await;
    let done = format!("{path}/{}/delivered", created["data"]["id"].as_str().unwrap());

    // Another tenant's admin sees neither the order nor the shipment.
    let stranger = ordo_tests::shop::Caller::admin(uuid::Uuid::now_v7());
    let (s, _) = shop
        .s
        .shop
        .post(&path, &stranger, shipment("GLS", "A2", &physical))
        .await;
    assert_eq!(s, 404);
    let (s, _) = shop.s.shop.send("POST", &done, &stranger, None, None).await;
    assert_eq!(s, 404);
    assert!(shipments_of(&shop, &order, &stranger).await.is_empty());
    assert_eq!(shipments_of(&shop, &order, &admin).await.len(), 1);

    // A full refund: no further shipment; the parcel already on its way may still arrive (recorded,
    // the refunded order stays refunded).
    let captured = partly["data"]["attributes"]["captured_amount"].as_i64().unwrap();
    shop.s
        .shop
        .ok(
            "POST",
            &format!("/admin/orders/{order}/refunds"),
            &admin,
            Some(json!({"data": {"type": "refunds", "attributes": {"amount": captured, "reason": "lost"}}})),
            202,
        )
        .await;
    shop.wait_status(&order, "refunded").await;
    let db = shop.superuser().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sqlx::query_scalar::<_, Option<String>>(
        "select revoked_reason from delivery.orders where order_id = $1::uuid",
    )
    .bind(&order)
    .fetch_one(&db)
    .await
    .unwrap()
    .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "delivery never heard of the refund"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (s, b) = shop.s.shop.post(&path, &admin, shipment("GLS", "A3", &physical)).await;
    assert_eq!(
        (s, b["errors"][0]["code"].as_str()),
        (409, Some("order_refunded_or_canceled")),
        "{b}"
    );
    shop.s.shop.ok("POST", &done, &admin, None, 200).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after = shop.wait_status(&order, "refunded").await;
    assert_eq!(attr(&after, "status"), "refunded");
}

/// Found by `make chaos`: an order replica died after the delivery service had committed the
/// shipment but before the gateway stored its answer under the Idempotency-Key. The operator's
/// retry (same key) ran again and was refused with 409 line_already_shipped. The retry must get
/// the shipment that exists.
#[tokio::test]
async fn a_shipment_retried_after_its_answer_was_lost_is_that_shipment() {
    let shop = DeliveryStack::start().await;
    shop.upload(bytes(1_000)).await;
    let ada = shop.s.customer("ada");
    let admin = shop.s.admin();
    let order = shop.paid_order(&ada, 1).await;
    let paid = shop
        .s
        .wait_order(&order, |o| attr(o, "fulfillment_status") == "partially_fulfilled")
        .await;
    let physical = lines_of(&paid, "physical");
    // Storing the gateway's answer fails once, after the shipment was created: the crash
    // between the delivery service's commit and the gateway's.
    let su = shop.s.superuser().await;
    ordo_tests::crash::fail_next_insert(&su, "orders", "idempotency_keys", "ordo_order").await;
    let path = format!("/admin/orders/{order}/shipments");
    let body = shipment("DHL", "00340434161094042557", &physical);
    let key = uuid::Uuid::now_v7().to_string();
    let (first, answer) = shop
        .s
        .shop
        .send("POST", &path, &admin, Some(body.clone()), Some(&key))
        .await;
    assert!(first >= 500, "the first attempt should fail: {first} {answer}");
    let db = shop.superuser().await;
    let made: Vec<uuid::Uuid> = sqlx::query_scalar("select id from delivery.shipments")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(made.len(), 1, "the shipment was made before the crash");

    let (retry, doc) = shop
        .s
        .shop
        .send("POST", &path, &admin, Some(body.clone()), Some(&key))
        .await;
    assert_eq!(retry, 201, "{doc}");
    assert_eq!(doc["data"]["id"], made[0].to_string().as_str());
    // Now stored: a third attempt replays it; still one shipment.
    let (again, replay) = shop.s.shop.send("POST", &path, &admin, Some(body), Some(&key)).await;
    assert_eq!((again, &replay["data"]["id"]), (201, &doc["data"]["id"]));
    let count: i64 = sqlx::query_scalar("select count(*) from delivery.shipments")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}
