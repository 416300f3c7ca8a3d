//! The whole life of two orders, as the customers' mailboxes see it.

use crate::mail::{Mail, Mailed};
use ordo_notification::compose::money;
use ordo_tests::delivery_stack::{PUBLIC_BASE, bytes};
use serde_json::{Value, json};

fn attr<'a>(order: &'a Value, name: &str) -> &'a Value {
    &order["data"]["attributes"][name]
}

#[tokio::test]
async fn every_step_of_an_order_reaches_the_customer_in_order_with_the_right_content() {
    let m = Mailed::start().await;
    let shop = &m.shop;
    let s = &shop.s;
    let admin = s.admin();
    let file = bytes(20_000);
    shop.upload(file.clone()).await;

    // The tenant's sender.
    let res = shop
        .http
        .put(format!("{}/admin/notification-settings", m.notification_base))
        .bearer_auth(&admin.token)
        .header("content-type", "application/vnd.api+json")
        .body(
            json!({"data": {"type": "notification-settings", "attributes": {
                "store_name": "Moon & Stars Comics", "sender": "hello@moon.test"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Ada: a PDF and a print. Placed, a declined card, a good card, shipped, partly refunded.
    let ada = s.customer("ada");
    let cat = &s.catalog;
    let cart = s
        .shop
        .ready_cart(&ada, cat, &[(&cat.digital, 1), (&cat.physical, 1)])
        .await;
    let pi = s.session(&ada, &cart).await["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let order = s.complete(&ada, &cart).await["id"].as_str().unwrap().to_owned();
    assert_eq!(s.confirm(&pi, "pm_card_chargeDeclined").await.0, 402);
    m.wait_mail(2).await;
    assert_eq!(s.confirm(&pi, "pm_card_visa").await.0, 200);
    let paid = s
        .wait_order(&order, |o| attr(o, "fulfillment_status") == "partially_fulfilled")
        .await;
    m.wait_mail(3).await;
    let physical: Vec<&str> = attr(&paid, "lines")
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "physical")
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    s.shop
        .ok(
            "POST",
            &format!("/admin/orders/{order}/shipments"),
            &admin,
            Some(json!({"data": {"type": "shipments", "attributes": {
                "carrier": "DHL", "tracking_number": "00340434161094042557", "line_ids": physical}}})),
            201,
        )
        .await;
    m.wait_mail(4).await;
    s.shop
        .ok(
            "POST",
            &format!("/admin/orders/{order}/refunds"),
            &admin,
            Some(json!({"data": {"type": "refunds", "attributes": {"amount": 500, "reason": "dented corner"}}})),
            202,
        )
        .await;
    m.wait_mail(5).await;

    // Bo: placed, then canceled by Bo.
    let bo = s.customer("bo");
    let cart = s.digital_cart(&bo).await;
    s.session(&bo, &cart).await;
    let order_b = s.complete(&bo, &cart).await["id"].as_str().unwrap().to_owned();
    m.wait_mail(6).await;
    s.shop
        .ok("POST", &format!("/store/orders/{order_b}/cancel"), &bo, None, 200)
        .await;
    let all = m.wait_mail(7).await;

    // Ada's five, in order.
    let mine: Vec<&Mail> = all.iter().filter(|x| x.to.contains("ada@example.com")).collect();
    let subjects: Vec<&str> = mine.iter().map(|x| x.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "Moon & Stars Comics: your order #1001",
            "Moon & Stars Comics: the payment for order #1001 failed",
            "Moon & Stars Comics: payment received for order #1001",
            "Moon & Stars Comics: order #1001 has shipped",
            "Moon & Stars Comics: €5.00 refunded for order #1001",
        ]
    );
    for x in &mine {
        assert!(
            x.from.contains("Moon & Stars Comics") && x.from.contains("<hello@moon.test>"),
            "{}",
            x.from
        );
        assert!(
            x.message_id.starts_with('<') && x.message_id.ends_with("@ordo>"),
            "{}",
            x.message_id
        );
        assert!(
            x.text.contains(&format!("https://shop.test/orders/{order}")),
            "{}",
            x.text
        );
        assert!(
            x.html.contains("Moon &amp; Stars Comics") || x.html.contains("Moon &#38; Stars Comics"),
            "{}",
            x.html
        );
    }
    let placed = s.wait_order(&order, |_| true).await;
    let total = attr(&placed, "totals")["total"].as_i64().unwrap();
    let confirmation = &mine[0].text;
    for l in attr(&placed, "lines").as_array().unwrap() {
        let line = format!(
            "1 x {}  {}",
            l["title"].as_str().unwrap(),
            money(l["unit_price"].as_i64().unwrap(), "EUR")
        );
        assert!(confirmation.contains(&line), "{line:?} in {confirmation}");
    }
    assert!(
        confirmation.contains(&format!("Total:    {}", money(total, "EUR"))),
        "{confirmation}"
    );
    assert!(
        confirmation.contains(&format!("Shipping: {}", money(490, "EUR"))),
        "{confirmation}"
    );
    assert!(
        mine[1]
            .text
            .contains("You can pay again here: https://shop.test/orders/"),
        "{}",
        mine[1].text
    );
    // Payment received: the amount and a download link that works.
    let received = &mine[2].text;
    assert!(
        received.contains(&format!("We received your payment of {}", money(total, "EUR"))),
        "{received}"
    );
    let url = received
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{PUBLIC_BASE}/downloads/")))
        .expect("a download link")
        .replace(PUBLIC_BASE, &shop.delivery_base);
    let (code, _, body) = shop.fetch(&url, None).await;
    assert_eq!((code, body == file), (200, true));
    assert!(received.contains("We will tell you when your parcel ships."));
    assert!(
        received.contains(", 5 downloads)"),
        "the delivery service's allowance: {received}"
    );
    assert!(
        mine[3].text.contains("has shipped with DHL") && mine[3].text.contains("Tracking number: 00340434161094042557")
    );
    assert!(
        mine[3].text.contains("1 x ") && !mine[3].text.contains("PDF"),
        "only the print ships: {}",
        mine[3].text
    );
    assert!(
        mine[4].text.contains(&format!("We refunded {}", money(500, "EUR"))),
        "{}",
        mine[4].text
    );

    // Bo's two.
    let bo_mail: Vec<_> = all.iter().filter(|x| x.to.contains("bo@example.com")).collect();
    // The cancellation says why (the event used to carry "canceled" whatever the reason).
    let canceled = bo_mail.last().unwrap();
    assert!(
        canceled.text.contains("was canceled (at your request)"),
        "{}",
        canceled.text
    );
    let bos: Vec<&str> = bo_mail.iter().map(|x| x.subject.as_str()).collect();
    assert_eq!(
        bos,
        [
            "Moon & Stars Comics: your order #1002",
            "Moon & Stars Comics: order #1002 was canceled"
        ]
    );

    // Each recorded as sent once, each with its notification.sent event.
    let db = shop.superuser().await;
    let sent: Vec<(String, i32)> = sqlx::query_as("select status, attempts from notifications.messages order by seq")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(sent, vec![("sent".to_owned(), 1); 7]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let events: i64 =
            sqlx::query_scalar("select count(*) from notifications.outbox where subject like '%notification.v1.sent'")
                .fetch_one(&db)
                .await
                .unwrap();
        if events == 7 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{events} notification.sent events"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A payment for a cart emptied after its payment session can become no order: it is refunded
/// in full, and the customer hears exactly that (one message, no order link), nothing else.
#[tokio::test]
async fn a_payment_that_became_no_order_is_refunded_and_the_customer_is_told() {
    let m = Mailed::start().await;
    let s = &m.shop.s;
    let cy = s.customer("cy");
    let cart = s.digital_cart(&cy).await;
    let pi = s.session(&cy, &cart).await["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, doc) = s.shop.get(&format!("/store/carts/{cart}"), &cy).await;
    let line = doc["data"]["attributes"]["items"][0]["id"].as_str().unwrap().to_owned();
    let (code, _) = s
        .shop
        .send(
            "DELETE",
            &format!("/store/carts/{cart}/line-items/{line}"),
            &cy,
            None,
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(s.confirm(&pi, "pm_card_visa").await.0, 200);
    let mail = m.wait_mail(1).await;
    assert_eq!(mail[0].to, "cy@example.com");
    assert!(
        mail[0]
            .subject
            .ends_with(&format!("your payment of {} was refunded", money(1546, "EUR"))),
        "{}",
        mail[0].subject
    );
    assert!(
        mail[0]
            .text
            .contains("could not turn it into an order (the cart was empty)"),
        "{}",
        mail[0].text
    );
    assert!(!mail[0].text.contains("Your order:"), "{}", mail[0].text);
    // Nothing more arrives (no refund mail for an order that does not exist), nothing is stuck.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(m.smtp.messages().len(), 1);
    let db = s.superuser().await;
    for schema in ["orders", "payments", "notifications"] {
        let dead: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select count(*) from {schema}.dead_letters"
        )))
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(dead, 0, "{schema}");
    }
}

/// All four services on a NATS server with ordo's authorization, each as its own user: a paid
/// PDF is granted (delivery consumes order.paid), mailed with a link the notification service
/// asked the delivery service for, downloaded, and the order delivered — so the permissions in
/// deploy/local/nats-auth.conf are enough for the whole path (the refusals are tested in
/// tests/payment/nats_auth.rs).
#[tokio::test]
async fn the_whole_path_runs_with_each_service_as_its_own_nats_user() {
    let m = Mailed::start_authorized().await;
    let shop = &m.shop;
    let s = &shop.s;
    let file = bytes(5_000);
    shop.upload(file.clone()).await;
    let dee = s.customer("dee");
    let order = shop.paid_order(&dee, 0).await;
    let mail = m.wait_mail(2).await;
    let received = &mail[1];
    assert!(received.subject.contains("payment received"), "{}", received.subject);
    let url = received
        .text
        .split_whitespace()
        .find(|w| w.starts_with(PUBLIC_BASE))
        .expect("a download link in the mail")
        .replace(PUBLIC_BASE, &shop.delivery_base);
    let (code, _, body) = shop.fetch(&url, None).await;
    assert_eq!(code, 200);
    assert_eq!(body, file);
    shop.wait_status(&order, "delivered").await;
}
