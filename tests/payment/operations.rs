//! What operators rely on: dead letters listed and replayed per tenant, a reconciler that goes on
//! past an event it cannot resolve, and no cancel or expiry of an order whose payment is in
//! flight.

use ordo_tests::shop::Caller;
use ordo_tests::stack::*;
use serde_json::{Value, json};

/// An event about a PaymentIntent Stripe does not know (forged, another account, deleted) is
/// recorded as unresolved, and the doubtful event behind it is still settled: one bad event
/// never blocks reconciliation (the sweep used to stop at the first error and start there again).
#[tokio::test]
async fn reconciliation_goes_on_past_an_event_it_cannot_resolve() {
    let s = Stack::start().await;
    let c = s.customer("xena");
    let cart = s.digital_cart(&c).await;
    let pi = pi_of(&s.session(&c, &cart).await);
    s.set_faults(ordo_stripe_emulator::Faults {
        hold: true,
        ..Default::default()
    })
    .await;
    let (code, _) = s.confirm(&pi, "pm_card_visa").await;
    assert_eq!(code, 200);
    let held = s.emulator.state.take_held();
    let mut good = held
        .iter()
        .find(|e| e["type"] == "payment_intent.succeeded")
        .unwrap()
        .clone();
    // Without ordo's metadata the event alone cannot say whose payment it is: a doubt.
    good["data"]["object"]["metadata"] = json!({});
    let mut bad = good.clone();
    bad["id"] = json!(format!("evt_unknown_{}", uuid::Uuid::now_v7().simple()));
    bad["data"]["object"]["id"] = json!("pi_does_not_exist");
    assert_eq!(s.deliver(&bad).await, 200);
    assert_eq!(s.deliver(&good).await, 200);
    let order = s.order_of_cart(&cart).await;
    let id = order["id"].as_str().unwrap().to_owned();
    s.wait_order(&id, |o| status(&o["data"]) == "paid").await;
    let su = s.superuser().await;
    let (processed, outcome): (bool, String) = sqlx::query_as(
        "select processed_at is not null, coalesce(outcome, '') from payments.stripe_events where id = $1",
    )
    .bind(bad["id"].as_str().unwrap())
    .fetch_one(&su)
    .await
    .unwrap();
    assert!(processed, "the unresolvable event is recorded, not retried for ever");
    assert!(outcome.starts_with("unresolved"), "{outcome}");
}

/// Dead letters are a first-class work list: an event that keeps failing is dead-lettered after
/// its attempts (an error log line and `ordo_dead_letters_total`), listed for its tenant's
/// admins only, and replayed once the cause is gone — applied once, then 409.
#[tokio::test]
async fn dead_letters_are_listed_per_tenant_and_replayed_by_an_admin() {
    let s = Stack::start().await;
    let c = s.customer("yoko");
    let pi = reject_an_unpaid_payment(&s, &c).await;
    let payment = |path: &str| format!("{}{path}", s.payment_base);
    let get = |who: &Caller, path: String| {
        let (http, token) = (s.http.clone(), who.token.clone());
        async move {
            let res = http.get(path).bearer_auth(token).send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let post = |who: &Caller, path: String| {
        let (http, token) = (s.http.clone(), who.token.clone());
        async move {
            let res = http
                .post(path)
                .bearer_auth(token)
                .header("idempotency-key", uuid::Uuid::now_v7().to_string())
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let admin = s.admin();
    // Documented beside the webhook.
    let doc: Value = reqwest::get(payment("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ordo_runtime::dead_letters::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .chain(ordo_payment::routes().unwrap())
        .collect();
    assert!(expected.contains(&("post".into(), "/webhooks/stripe".into())));
    expected.sort();
    assert_eq!(documented, expected);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let letter = loop {
        let (code, doc) = get(&admin, payment("/admin/dead-letters")).await;
        assert_eq!(code, 200, "{doc}");
        if let Some(d) = doc["data"].as_array().and_then(|d| d.first()) {
            break d.clone();
        }
        assert!(std::time::Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let a = &letter["attributes"];
    assert_eq!(a["subject"], "ordo.order.v1.payment_rejected");
    assert_eq!(a["consumer"], "payment_order_events");
    assert!(a["error"].as_str().unwrap().contains("not succeeded"), "{letter}");
    assert_eq!(a["attempts"], 16, "retried for its whole budget first");
    let id = letter["id"].as_str().unwrap().to_owned();
    // Counted for alerting.
    let metrics = s
        .http
        .get(payment("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ordo_dead_letters_total{") && l.contains("payment_order_events")),
        "no ordo_dead_letters_total in /metrics"
    );
    // Another tenant's admin sees none of it and cannot replay it; a customer is refused.
    let other = Caller::admin(uuid::Uuid::now_v7());
    let (code, doc) = get(&other, payment("/admin/dead-letters")).await;
    assert_eq!((code, doc["data"].as_array().map(Vec::len)), (200, Some(0)));
    assert_eq!(
        post(&other, payment(&format!("/admin/dead-letters/{id}/replay")))
            .await
            .0,
        404
    );
    assert_eq!(get(&c, payment("/admin/dead-letters")).await.0, 403);
    // Still failing: the replay says so and records why.
    let (code, err) = post(&admin, payment(&format!("/admin/dead-letters/{id}/replay"))).await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(err["errors"][0]["code"], "replay_failed");
    let (_, doc) = get(&admin, payment("/admin/dead-letters?filter[state]=pending")).await;
    assert!(
        doc["data"][0]["attributes"]["replay_error"]
            .as_str()
            .unwrap()
            .contains("not succeeded")
    );
    // The cause goes away (the payment succeeds); the replay applies it once.
    let (code, _) = s.confirm(&pi, "pm_card_visa").await;
    assert_eq!(code, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (code, doc) = post(&admin, payment(&format!("/admin/dead-letters/{id}/replay"))).await;
        if code == 200 {
            assert_eq!(doc["data"]["attributes"]["replay_outcome"], "applied", "{doc}");
            assert!(doc["data"]["attributes"]["replayed_at"].is_string());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "replay never succeeded: {doc}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (code, err) = post(&admin, payment(&format!("/admin/dead-letters/{id}/replay"))).await;
    assert_eq!(
        (code, err["errors"][0]["code"].as_str()),
        (409, Some("already_replayed"))
    );
    let (_, doc) = get(&admin, payment("/admin/dead-letters?filter[state]=replayed")).await;
    assert_eq!(doc["data"].as_array().map(Vec::len), Some(1));
    let (_, doc) = get(
        &admin,
        payment("/admin/dead-letters?filter[consumer]=payment_order_events"),
    )
    .await;
    assert_eq!(doc["data"].as_array().map(Vec::len), Some(1));
    // Found by schemathesis: a NUL byte in the consumer filter was a 500.
    let (code, err) = get(&admin, payment("/admin/dead-letters?filter[consumer]=a%00b")).await;
    assert_eq!(
        (code, err["errors"][0]["code"].as_str()),
        (400, Some("invalid_filter")),
        "{err}"
    );
    // Its effect happened exactly once: the whole payment was refunded, once.
    assert_eq!(wait_refunds_at_stripe(&s, &pi).await, vec![(1546, "eur".to_owned())]);
}

/// An order whose asynchronous payment is still in flight at Stripe is neither canceled by its
/// customer nor expired by the sweep; once Stripe says the payment failed, the order is back to
/// pending and expires — with its real reason in `order.canceled`.
#[tokio::test]
async fn a_payment_in_flight_is_not_canceled_by_the_customer_nor_expired() {
    let s = Stack::start_with(Options {
        unpaid_ttl_secs: Some(1),
        ..Default::default()
    })
    .await;
    let c = s.customer("zeno");
    let cart = s.digital_cart(&c).await;
    let pi = pi_of(&s.session(&c, &cart).await);
    let id = s.complete(&c, &cart).await["id"].as_str().unwrap().to_owned();
    let (code, _) = s.confirm(&pi, "pm_async_processing").await;
    assert_eq!(code, 200);
    s.wait_order(&id, |o| o["data"]["attributes"]["payment_status"] == "processing")
        .await;
    let (code, err) = s
        .shop
        .send("POST", &format!("/store/orders/{id}/cancel"), &c, None, None)
        .await;
    assert_eq!(code, 409, "{err}");
    assert_eq!(err["errors"][0]["code"], "order_not_cancelable");
    // Well past its time to live, swept every second: still processing.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (_, o) = s.shop.get(&format!("/admin/orders/{id}"), &s.admin()).await;
    assert_eq!(status(&o["data"]), "processing", "{o}");
    // Stripe gives up on the payment: back to pending, then expired.
    let res = s
        .http
        .post(format!("{}_emulator/payment_intents/{pi}/settle", s.emulator.url()))
        .json(&json!({"outcome": "failed", "webhook": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let done = s.wait_order(&id, |o| status(&o["data"]) == "canceled").await;
    let history = done["data"]["attributes"]["history"].as_array().unwrap().clone();
    let cancel = history.iter().find(|h| h["to"] == "canceled").unwrap();
    assert_eq!(cancel["detail"]["reason"], "expired");
    let e: ordo_events::order::v1::OrderCanceled = last_order_event(&s).await;
    assert_eq!(e.reason, "expired", "the event carries the real reason");
}
