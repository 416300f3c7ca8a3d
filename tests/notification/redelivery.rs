//! Exactly one message per (event, kind), whatever the bus delivers twice; and an SMTP server
//! that is down for a while, or for good.

use crate::mail::Mailed;
use async_nats::jetstream::message::PublishMessage;
use ordo_events::{Context, headers};
use ordo_tests::delivery_stack::bytes;
use std::time::{Duration, Instant};

/// One paid digital order of `name`, and one placed then canceled: four messages.
async fn two_orders(m: &Mailed, name: &str) {
    let s = &m.shop.s;
    let who = s.customer(name);
    let paid = m.shop.paid_order(&who, 0).await;
    let cart = s.digital_cart(&who).await;
    s.session(&who, &cart).await;
    let canceled = s.complete(&who, &cart).await["id"].as_str().unwrap().to_owned();
    s.shop
        .ok("POST", &format!("/store/orders/{canceled}/cancel"), &who, None, 200)
        .await;
    s.wait_order(&paid, |o| o["data"]["attributes"]["payment_status"] == "captured")
        .await;
}

/// Wait until none of the notification service's consumers has anything left to do.
async fn consumers_idle(m: &Mailed) {
    let bus = &m.shop.s.shop.bus.bus;
    let deadline = Instant::now() + Duration::from_secs(30);
    for (context, name) in [
        (Context::Order, "notification_order_events"),
        (Context::Payment, "notification_payment_events"),
        (Context::Delivery, "notification_delivery_events"),
    ] {
        let stream = bus.jetstream().get_stream(bus.stream_name(context)).await.unwrap();
        loop {
            let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream.get_consumer(name).await.unwrap();
            let info = consumer.info().await.unwrap();
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{name} still busy: {info:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn every_event_delivered_three_times_still_makes_one_message_each() {
    let m = Mailed::start().await;
    m.shop.upload(bytes(1000)).await;
    two_orders(&m, "cy").await;
    let first = m.wait_mail(4).await;
    consumers_idle(&m).await;

    // Every event of the three streams again, twice, as a redelivering bus would bring them
    // (same event id, new message id so that JetStream does not drop them itself).
    let bus = &m.shop.s.shop.bus.bus;
    let mut copies = 0;
    for context in [Context::Order, Context::Payment, Context::Delivery] {
        let mut stream = bus.jetstream().get_stream(bus.stream_name(context)).await.unwrap();
        let last = stream.info().await.unwrap().state.last_sequence;
        for seq in 1..=last {
            let Ok(msg) = stream.get_raw_message(seq).await else {
                continue;
            };
            for copy in 0..2 {
                let mut h = msg.headers.clone();
                let id = h.get(headers::EVENT_ID).map(|v| v.to_string()).unwrap_or_default();
                h.insert(headers::MSG_ID, format!("{id}-again-{copy}").as_str());
                let publish = PublishMessage::build().payload(msg.payload.clone()).headers(h);
                bus.jetstream()
                    .send_publish(msg.subject.to_string(), publish)
                    .await
                    .unwrap()
                    .await
                    .unwrap();
                copies += 1;
            }
        }
    }
    assert!(copies >= 16, "only {copies} copies published");
    consumers_idle(&m).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // the sender's poll, had anything been queued
    let after = m.smtp.messages();
    assert_eq!(after.len(), first.len(), "no second message for any event");
    let db = m.shop.superuser().await;
    let (rows, sent): (i64, i64) =
        sqlx::query_as("select count(*), count(*) filter (where status = 'sent') from notifications.messages")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((rows, sent), (4, 4));
}

#[tokio::test]
async fn while_the_smtp_server_is_down_nothing_is_lost_and_nothing_arrives_twice() {
    let mut m = Mailed::start_with(|n| n.max_attempts = 100).await;
    m.shop.upload(bytes(1000)).await;
    m.smtp.stop();
    two_orders(&m, "di").await;

    // Attempts fail and are recorded; the messages wait.
    let db = m.shop.superuser().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (waiting, tried): (i64, i64) = sqlx::query_as(
            "select count(*) filter (where status = 'pending'),
                    count(*) filter (where attempts >= 2 and last_error is not null)
             from notifications.messages",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        if waiting == 4 && tried >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "waiting {waiting}, tried twice {tried}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin = m.shop.s.admin();
    let listed: serde_json::Value = m
        .shop
        .http
        .get(format!(
            "{}/admin/notifications?filter[status]=pending",
            m.notification_base
        ))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = listed["data"].as_array().unwrap();
    assert_eq!(listed.len(), 4);
    assert!(
        listed
            .iter()
            .any(|x| x["attributes"]["last_error"].as_str().is_some_and(|e| !e.is_empty())),
        "{listed:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(m.smtp.messages().is_empty());

    // Back up: everything arrives, once, each order's messages in their order.
    m.smtp.resume().await;
    let mails = m.wait_mail(4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails_again = m.smtp.messages();
    assert_eq!(mails_again.len(), 4, "nothing twice");
    let mut ids: Vec<&str> = mails.iter().map(|x| x.message_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let subjects: Vec<&str> = mails.iter().map(|x| x.subject.as_str()).collect();
    let pos = |s: &str| subjects.iter().position(|x| x.contains(s)).unwrap_or(usize::MAX);
    assert!(
        pos("your order #1001") < pos("payment received for order #1001"),
        "{subjects:?}"
    );
    assert!(
        pos("your order #1002") < pos("order #1002 was canceled"),
        "{subjects:?}"
    );
    let rows: Vec<(String, i32)> = sqlx::query_as("select status, attempts from notifications.messages order by seq")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(rows.iter().all(|(s, _)| s == "sent"), "{rows:?}");
    assert!(rows.iter().any(|(_, a)| *a >= 2), "{rows:?}");
}

#[tokio::test]
async fn a_message_that_cannot_be_sent_is_given_up_after_its_attempts_and_says_so() {
    let mut m = Mailed::start_with(|n| n.max_attempts = 3).await;
    m.smtp.stop();
    let s = &m.shop.s;
    let eve = s.customer("eve");
    let cart = s.digital_cart(&eve).await;
    s.session(&eve, &cart).await;
    s.complete(&eve, &cart).await;
    let db = m.shop.superuser().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let failed: Option<(i32, String)> =
            sqlx::query_as("select attempts, last_error from notifications.messages where status = 'failed'")
                .fetch_optional(&db)
                .await
                .unwrap();
        if let Some((attempts, error)) = failed {
            assert_eq!(attempts, 3);
            assert!(!error.is_empty());
            break;
        }
        assert!(Instant::now() < deadline, "never given up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The dead letter is told: notification.failed, with the order.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let told: i64 = sqlx::query_scalar(
            "select count(*) from notifications.outbox where subject like '%notification.v1.failed'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        if told == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no notification.failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It stays given up when the server returns.
    m.smtp.resume().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(m.smtp.messages().is_empty());
}
