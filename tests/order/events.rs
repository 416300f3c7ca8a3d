//! Payment and delivery events, delivered twice and out of order, move the order to the
//! documented state with one history row per real transition.

use ordo_events::EventMetadata;
use ordo_events::delivery::v1::*;
use ordo_events::payment::v1::*;
use ordo_tests::shop::*;
use serde_json::Value;
use uuid::Uuid;

fn meta<E: ordo_events::Event>(tenant: Uuid, agg: &str) -> Option<EventMetadata> {
    Some(EventMetadata::for_event::<E>(&tenant.to_string(), agg, 1))
}

fn transitions(doc: &Value) -> Vec<(String, String)> {
    doc["data"]["attributes"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["trigger"].as_str().unwrap().to_owned(),
                h["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_events_reach_the_documented_state() {
    let shop = Shop::start().await;
    let t = shop.tenant;
    let cat = shop.seed(t, Some(10)).await;
    let alice = Caller::customer(t, "alice");
    let cart = shop
        .ready_cart(&alice, &cat, &[(&cat.digital, 1), (&cat.physical, 1)])
        .await;
    let order = shop
        .ok("POST", &format!("/store/carts/{cart}/complete"), &alice, None, 200)
        .await;
    let id = order["data"]["id"].as_str().unwrap().to_owned();
    let total = order["data"]["attributes"]["totals"]["total"].as_i64().unwrap();
    let lines = order["data"]["attributes"]["lines"].as_array().unwrap().clone();
    let line_of = |kind: &str| {
        lines.iter().find(|l| l["kind"] == kind).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (digital, physical) = (line_of("digital"), line_of("physical"));
    let eur = |a: i64| Some(ordo_events::money(a, "EUR"));

    let processing = PaymentProcessing {
        meta: meta::<PaymentProcessing>(t, "pi_1"),
        order_id: id.clone(),
        payment_intent_id: "pi_1".into(),
        ..Default::default()
    };
    let succeeded = PaymentSucceeded {
        meta: meta::<PaymentSucceeded>(t, "pi_1"),
        order_id: id.clone(),
        payment_intent_id: "pi_1".into(),
        amount: eur(total),
        ..Default::default()
    };
    let grants = GrantsIssued {
        meta: meta::<GrantsIssued>(t, &id),
        order_id: id.clone(),
        grants: vec![Grant {
            grant_id: Uuid::now_v7().to_string(),
            line_id: digital.clone(),
            asset_key: "comics/moon-1.pdf".into(),
            max_downloads: 5,
        }],
    };
    let downloaded = Downloaded {
        meta: meta::<Downloaded>(t, &id),
        order_id: id.clone(),
        grant_id: Uuid::now_v7().to_string(),
        line_id: digital.clone(),
    };
    let shipped = ShipmentCreated {
        meta: meta::<ShipmentCreated>(t, &id),
        order_id: id.clone(),
        shipment_id: "s1".into(),
        carrier: "DHL".into(),
        tracking_number: "123".into(),
        line_ids: vec![physical.clone()],
    };
    let arrived = ShipmentDelivered {
        meta: meta::<ShipmentDelivered>(t, &id),
        order_id: id.clone(),
        shipment_id: "s1".into(),
        line_ids: vec![physical.clone()],
    };

    // Out of order: the download before its grant; everything twice; processing after success.
    shop.publish(t, &downloaded).await;
    shop.publish(t, &succeeded).await;
    shop.publish(t, &grants).await;
    shop.publish(t, &succeeded).await; // duplicate
    shop.publish(t, &downloaded).await; // duplicate
    // Paid, the digital line granted and downloaded; the parcel not shipped yet.
    let digital_delivered = |d: &serde_json::Value| {
        d["data"]["attributes"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| !l["delivered_at"].is_null())
    };
    let doc = shop.wait_order(t, &id, digital_delivered).await;
    let a = &doc["data"]["attributes"];
    assert_eq!(
        (
            a["status"].as_str(),
            a["payment_status"].as_str(),
            a["fulfillment_status"].as_str()
        ),
        (Some("paid"), Some("captured"), Some("partially_fulfilled")),
        "{doc}"
    );
    shop.publish(t, &processing).await; // late (the order is paid already): ignored
    shop.publish(t, &arrived).await; // before its shipment: waits
    shop.publish(t, &shipped).await;
    shop.publish(t, &shipped).await;
    shop.publish(t, &grants).await;
    let doc = shop
        .wait_order(t, &id, |d| d["data"]["attributes"]["status"] == "delivered")
        .await;
    let a = &doc["data"]["attributes"];
    assert_eq!(
        (a["status"].as_str(), a["fulfillment_status"].as_str()),
        (Some("delivered"), Some("delivered")),
        "{doc}"
    );
    assert_eq!(a["captured_amount"].as_i64(), Some(total));
    // Give stragglers (duplicates, the late processing event) time to be handled, then judge.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let (_, doc) = shop.get(&format!("/admin/orders/{id}"), &Caller::admin(t)).await;
    let got = transitions(&doc);
    let want: Vec<(String, String)> = [
        ("cart_completed", "pending"),
        ("payment_succeeded", "paid"),
        ("lines_fulfilled", "paid"),
        ("lines_delivered", "paid"),
        ("lines_fulfilled", "fulfilled"),
        ("lines_delivered", "delivered"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "one history row per real change, in the order they applied");
    let su = shop.db.superuser_pool().await;
    let paid_events: i64 =
        sqlx::query_scalar("select count(*) from orders.outbox where subject = 'ordo.order.v1.paid'")
            .fetch_one(&su)
            .await
            .unwrap();
    let delivered_events: i64 =
        sqlx::query_scalar("select count(*) from orders.outbox where subject = 'ordo.order.v1.delivered'")
            .fetch_one(&su)
            .await
            .unwrap();
    assert_eq!((paid_events, delivered_events), (1, 1));
    let dead: i64 = sqlx::query_scalar("select count(*) from orders.dead_letters")
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(dead, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_payment_returns_to_pending_and_a_retry_pays() {
    let shop = Shop::start().await;
    let t = shop.tenant;
    let cat = shop.seed(t, None).await;
    let alice = Caller::customer(t, "alice");
    let cart = shop.ready_cart(&alice, &cat, &[(&cat.digital, 1)]).await;
    let order = shop
        .ok("POST", &format!("/store/carts/{cart}/complete"), &alice, None, 200)
        .await;
    let id = order["data"]["id"].as_str().unwrap().to_owned();
    let total = order["data"]["attributes"]["totals"]["total"].as_i64().unwrap();
    let processing = PaymentProcessing {
        meta: meta::<PaymentProcessing>(t, "pi_1"),
        order_id: id.clone(),
        payment_intent_id: "pi_1".into(),
        ..Default::default()
    };
    shop.publish(t, &processing).await;
    shop.wait_order(t, &id, |d| d["data"]["attributes"]["status"] == "processing")
        .await;
    let failed = PaymentFailed {
        meta: meta::<PaymentFailed>(t, "pi_1"),
        order_id: id.clone(),
        payment_intent_id: "pi_1".into(),
        failure_code: "card_declined".into(),
        ..Default::default()
    };
    shop.publish(t, &failed).await;
    shop.publish(t, &failed).await;
    let doc = shop
        .wait_order(t, &id, |d| d["data"]["attributes"]["payment_status"] == "failed")
        .await;
    let a = &doc["data"]["attributes"];
    assert_eq!(
        (a["status"].as_str(), a["failed_payment_attempts"].as_i64()),
        (Some("pending"), Some(1))
    );
    let succeeded = PaymentSucceeded {
        meta: meta::<PaymentSucceeded>(t, "pi_1"),
        order_id: id.clone(),
        payment_intent_id: "pi_1".into(),
        amount: Some(ordo_events::money(total, "EUR")),
        ..Default::default()
    };
    shop.publish(t, &succeeded).await;
    let doc = shop
        .wait_order(t, &id, |d| d["data"]["attributes"]["status"] == "paid")
        .await;
    assert_eq!(doc["data"]["attributes"]["status"], "paid");
    let history = transitions(&doc);
    assert_eq!(
        history.iter().filter(|(k, _)| k == "payment_failed").count(),
        1,
        "the failure is recorded once"
    );
}
