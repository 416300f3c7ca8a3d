//! Stripe misbehaving: lost responses, duplicated and shuffled webhooks, lost webhooks.

use futures::StreamExt;
use ordo_stripe_emulator::Faults;
use ordo_tests::stack::*;
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test]
async fn dropped_responses_still_make_exactly_one_intent_per_cart() {
    let s = Stack::start().await;
    let carts: Vec<(String, ordo_tests::shop::Caller)> = futures::stream::iter(0..30)
        .map(|i| {
            let s = &s;
            async move {
                let c = s.customer(&format!("drop{i}"));
                (s.digital_cart(&c).await, c)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    s.set_faults(Faults {
        drop_response_rate: 0.25,
        ..Default::default()
    })
    .await;
    let stack = &s;
    let sessions: Vec<String> = futures::stream::iter(carts.iter())
        .map(|(cart, c)| async move {
            stack.session(c, cart).await["payment_intent_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .buffer_unordered(8)
        .collect()
        .await;
    s.set_faults(Faults::default()).await;
    let dropped = s
        .emulator
        .state
        .stats
        .dropped_responses
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(dropped >= 1, "the fault was exercised: {dropped} responses dropped");
    let intents = s.intents().await;
    let mut per_cart: HashMap<String, usize> = HashMap::new();
    for pi in &intents {
        *per_cart
            .entry(pi["metadata"]["ordo_cart_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_cart.len(), 30);
    assert!(per_cart.values().all(|n| *n == 1), "{per_cart:?}");
    let mut unique = sessions.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 30);
}

#[tokio::test]
async fn a_thousand_orders_with_duplicated_shuffled_webhooks_end_right() {
    let s = Stack::start().await;
    s.set_faults(Faults {
        hold: true,
        copies_min: 1,
        copies_max: 5,
        ..Default::default()
    })
    .await;
    let n = 1000usize;
    let results: Vec<(usize, String, String)> = futures::stream::iter(0..n)
        .map(|i| {
            let s = &s;
            async move {
                let c = s.customer(&format!("bulk{i}"));
                let cart = s.digital_cart(&c).await;
                let pi = s.session(&c, &cart).await["payment_intent_id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                if i % 4 == 1 {
                    assert_eq!(s.confirm(&pi, "pm_card_chargeDeclined").await.0, 402);
                }
                assert_eq!(s.confirm(&pi, "pm_card_visa").await.0, 200);
                if i % 7 != 3 {
                    s.complete(&c, &cart).await; // the others never complete: the event does
                }
                if i.is_multiple_of(10) {
                    assert_eq!(s.dashboard_refund(&pi, None).await.0, 200);
                }
                (i, cart, pi)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let deliveries = s.emulator.state.release();
    assert!(deliveries >= n * 3, "every event at least once: {deliveries}");
    s.wait_webhooks().await;
    let su = s.superuser().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (paid, refunded): (i64, i64) = sqlx::query_as(
            "select count(*) filter (where status = 'paid'), count(*) filter (where status = 'refunded') from orders.orders",
        )
        .fetch_one(&su)
        .await
        .unwrap();
        if paid == 900 && refunded == 100 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "paid {paid}, refunded {refunded} (expected 900 / 100)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Exactly one paid transition per order, the failures recorded once per declined order.
    let rows: Vec<(String, i64, i64, i32)> = sqlx::query_as(
        "select o.cart_id::text,
                (select count(*) from orders.order_state_history h where h.order_id = o.id and h.trigger = 'payment_succeeded'),
                (select count(*) from orders.order_state_history h where h.order_id = o.id and h.trigger = 'refunded'),
                o.failed_payment_attempts
         from orders.orders o",
    )
    .fetch_all(&su)
    .await
    .unwrap();
    assert_eq!(rows.len(), n);
    let by_cart: HashMap<String, usize> = results.iter().map(|(i, c, _)| (c.clone(), *i)).collect();
    for (cart, succeeded, refunds, _failed) in &rows {
        let i = by_cart[cart];
        assert_eq!(*succeeded, 1, "order of cart #{i}: one paid transition");
        assert_eq!(*refunds, i64::from(i.is_multiple_of(10)), "order of cart #{i}: refunds");
    }
    // ordo itself issued no refund; Stripe holds exactly the 100 made in its dashboard, each
    // recorded once by its Stripe id.
    let (ours, dashboard): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where source = 'order'),
                count(distinct stripe_refund_id) filter (where source = 'stripe' and reflected and status = 'succeeded')
         from payments.refunds",
    )
    .fetch_one(&su)
    .await
    .unwrap();
    assert_eq!((ours, dashboard), (0, 100));
    assert_eq!(s.emulator.state.store.lock().unwrap().refunds.len(), 100);
    let duplicates: i64 = sqlx::query_scalar("select count(*) from payments.stripe_events")
        .fetch_one(&su)
        .await
        .unwrap();
    let handled = s
        .emulator
        .state
        .store
        .lock()
        .unwrap()
        .events
        .iter()
        .filter(|e| ordo_payment::stripe_events::HANDLED.contains(&e["type"].as_str().unwrap_or_default()))
        .count();
    assert_eq!(
        usize::try_from(duplicates).unwrap(),
        handled,
        "each Stripe event of a handled type stored once (the others are not stored)"
    );
}

#[tokio::test]
async fn a_payment_stuck_in_processing_is_settled_by_reconciliation() {
    let s = Stack::start_with(Options {
        reconcile_after_secs: Some(1),
        ..Options::default()
    })
    .await;
    let ivy = s.customer("ivy");
    let cart = s.digital_cart(&ivy).await;
    let pi = s.session(&ivy, &cart).await["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = s.complete(&ivy, &cart).await["id"].as_str().unwrap().to_owned();
    assert_eq!(s.confirm(&pi, "pm_async_processing").await.0, 200);
    s.wait_order(&id, |o| o["data"]["attributes"]["status"] == "processing")
        .await;
    // Stripe settles it, but the webhook is lost.
    let res = s
        .http
        .post(format!("{}_emulator/payment_intents/{pi}/settle", s.emulator.url()))
        .json(&serde_json::json!({"outcome": "succeeded", "webhook": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let paid = s.wait_order(&id, |o| o["data"]["attributes"]["status"] == "paid").await;
    assert_eq!(history_count(&paid["data"], "payment_succeeded"), 1);
}

/// Found by `make chaos`: a payment replica froze after Stripe created the cart's intent but
/// before its payment row committed. Every retry then drew a new payment id for the intent's
/// metadata, so Stripe refused the reused idempotency key ("same parameters") and the cart could
/// never be paid. A retry must send exactly the first call and get the same intent back.
#[tokio::test]
async fn a_session_whose_commit_was_lost_gets_the_same_intent_on_retry() {
    let s = Stack::start().await;
    let c = s.customer("lost-commit");
    let cart = s.digital_cart(&c).await;
    let su = s.superuser().await;
    // The payment row's insert fails once, after the intent exists at Stripe: a crash between
    // Stripe's answer and the commit.
    ordo_tests::crash::fail_next_insert(&su, "payments", "payments", "ordo_payment").await;
    let path = format!("/store/carts/{cart}/payment-session");
    let (status, body) = s.shop.send("POST", &path, &c, None, None).await;
    assert!(status >= 500, "the first attempt should fail: {status} {body}");
    let at_stripe: Vec<String> = s
        .intents()
        .await
        .iter()
        .filter(|pi| pi["metadata"]["ordo_cart_id"] == cart.as_str())
        .map(|pi| pi["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(at_stripe.len(), 1, "the intent was created before the crash");

    let session = s.session(&c, &cart).await;
    assert_eq!(session["payment_intent_id"], at_stripe[0].as_str());
    let after = s
        .intents()
        .await
        .iter()
        .filter(|pi| pi["metadata"]["ordo_cart_id"] == cart.as_str())
        .count();
    assert_eq!(after, 1, "still one intent for the cart");
}
