//! Refunds: operators' full, partial and repeated refunds, refunds started in Stripe's
//! dashboard, refusals beyond what is left, and the automatic refund of a payment that
//! succeeds on a canceled order.

use ordo_events::order::v1::OrderRefundRequested;
use ordo_tests::stack::*;
use serde_json::json;

async fn paid_order(s: &Stack, who: &str) -> (String, String) {
    let c = s.customer(who);
    let cart = s.digital_cart(&c).await;
    let pi = s.session(&c, &cart).await["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.confirm(&pi, "pm_card_visa").await;
    let id = s.complete(&c, &cart).await["id"].as_str().unwrap().to_owned();
    s.wait_order(&id, |o| o["data"]["attributes"]["status"] == "paid").await;
    (id, pi)
}

async fn refund(s: &Stack, order: &str, amount: i64) -> (u16, serde_json::Value) {
    s.shop
        .post(
            &format!("/admin/orders/{order}/refunds"),
            &s.admin(),
            json!({"data": {"type": "refunds", "attributes": {"amount": amount, "reason": "customer asked"}}}),
        )
        .await
}

fn refunded(o: &serde_json::Value) -> i64 {
    o["data"]["attributes"]["refunded_amount"].as_i64().unwrap()
}

#[tokio::test]
async fn partial_repeated_dashboard_and_full_refunds_add_up_and_never_exceed_the_capture() {
    let s = Stack::start().await;
    let (id, pi) = paid_order(&s, "fay").await; // 1546 captured
    let (code, doc) = refund(&s, &id, 500).await;
    assert_eq!(code, 202, "{doc}");
    let o = s.wait_order(&id, |o| refunded(o) == 500).await;
    assert_eq!(o["data"]["attributes"]["payment_status"], "partially_refunded");
    assert_eq!(o["data"]["attributes"]["status"], "paid");
    assert_eq!(refund(&s, &id, 500).await.0, 202);
    s.wait_order(&id, |o| refunded(o) == 1000).await;
    // More than is left: refused by the gateway, nothing sent to Stripe.
    let (code, err) = refund(&s, &id, 547).await;
    assert_eq!(code, 422);
    assert_eq!(err["errors"][0]["code"], "refund_exceeds_remaining");
    // Started in Stripe's dashboard.
    let (code, _) = s.dashboard_refund(&pi, Some(46)).await;
    assert_eq!(code, 200);
    s.wait_order(&id, |o| refunded(o) == 1046).await;
    assert_eq!(refund(&s, &id, 500).await.0, 202);
    let done = s
        .wait_order(&id, |o| o["data"]["attributes"]["status"] == "refunded")
        .await;
    assert_eq!(refunded(&done), 1546);
    assert_eq!(done["data"]["attributes"]["payment_status"], "refunded");
    assert_eq!(refund(&s, &id, 1).await.0, 422, "nothing left");
    s.wait_webhooks().await;
    let refunds = s.emulator.state.store.lock().unwrap().refunds.clone();
    let mut amounts: Vec<i64> = refunds.values().map(|r| r["amount"].as_i64().unwrap()).collect();
    amounts.sort();
    assert_eq!(amounts, vec![46, 500, 500, 500], "each refund made once");
    // The operator's requests are recorded with their outcome.
    let su = s.superuser().await;
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "select amount, status from orders.refund_requests where order_id = $1::uuid order by created_at",
    )
    .bind(&id)
    .fetch_all(&su)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|(_, st)| st == "succeeded"), "{rows:?}");
    // Operators read the same through the API: the order service's requests...
    let (code, doc) = s.shop.get(&format!("/admin/orders/{id}/refunds"), &s.admin()).await;
    assert_eq!(code, 200, "{doc}");
    let requests: Vec<(i64, &str, &str)> = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let a = &r["attributes"];
            (
                a["amount"].as_i64().unwrap(),
                a["status"].as_str().unwrap(),
                a["currency"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(requests, vec![(500, "succeeded", "EUR"); 3]);
    // ...and the payment service's payment with every refund, the dashboard's included.
    let (code, doc) = admin_get(&s, &format!("/admin/orders/{id}/payments")).await;
    assert_eq!(code, 200, "{doc}");
    let p = &doc["data"][0]["attributes"];
    assert_eq!(p["payment_intent_id"], pi.as_str());
    assert_eq!(
        (p["captured_amount"].as_i64(), p["refunded_amount"].as_i64()),
        (Some(1546), Some(1546))
    );
    assert_eq!(p["refundable_amount"].as_i64(), Some(0));
    let mut seen: Vec<(i64, String, String)> = p["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["amount"].as_i64().unwrap(),
                r["source"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (46, "stripe".into(), "succeeded".into()),
            (500, "order".into(), "succeeded".into()),
            (500, "order".into(), "succeeded".into()),
            (500, "order".into(), "succeeded".into()),
        ]
    );
    // Another tenant's operator sees none of it.
    let other = ordo_tests::shop::Caller::admin(uuid::Uuid::now_v7());
    assert_eq!(s.shop.get(&format!("/admin/orders/{id}/refunds"), &other).await.0, 404);
    let res = reqwest::Client::new()
        .get(format!("{}/admin/orders/{id}/payments", s.payment_base))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}

async fn admin_get(s: &Stack, path: &str) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .get(format!("{}{path}", s.payment_base))
        .bearer_auth(&s.admin().token)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn the_payment_service_refuses_a_refund_beyond_what_is_left() {
    let s = Stack::start().await;
    let (id, pi) = paid_order(&s, "gus").await;
    // Bypassing the gateway's check: the request arrives on NATS as is.
    let request = uuid::Uuid::now_v7();
    let event = OrderRefundRequested {
        meta: Some(ordo_events::EventMetadata::for_event::<OrderRefundRequested>(
            &s.tenant.to_string(),
            &id,
            9,
        )),
        order_id: id.clone(),
        refund_request_id: request.to_string(),
        amount: Some(ordo_events::money(5000, "EUR")),
        reason: "too much".into(),
        payment_intent_id: pi.clone(),
    };
    s.shop.publish(s.tenant, &event).await;
    let su = s.superuser().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let row: (String, Option<String>) = loop {
        let r = sqlx::query_as("select status, failure_code from payments.refunds where id = $1")
            .bind(request)
            .fetch_optional(&su)
            .await
            .unwrap();
        if let Some(r) = r {
            break r;
        }
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(row, ("failed".into(), Some("amount_exceeds_remaining".into())));
    assert!(
        s.emulator.state.store.lock().unwrap().refunds.is_empty(),
        "nothing refunded at Stripe"
    );
    let o = s.shop.get(&format!("/admin/orders/{id}"), &s.admin()).await.1;
    assert_eq!(refunded(&o), 0);
}

#[tokio::test]
async fn a_payment_that_succeeds_on_a_canceled_order_is_refunded_once() {
    let s = Stack::start().await;
    let hal = s.customer("hal");
    let cart = s.digital_cart(&hal).await;
    let pi = s.session(&hal, &cart).await["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = s.complete(&hal, &cart).await["id"].as_str().unwrap().to_owned();
    // The payment goes through at Stripe while its webhooks are held back ...
    s.set_faults(ordo_stripe_emulator::Faults {
        hold: true,
        ..Default::default()
    })
    .await;
    assert_eq!(s.confirm(&pi, "pm_card_visa").await.0, 200);
    // ... and the customer cancels the (still pending) order meanwhile.
    s.shop
        .ok("POST", &format!("/store/orders/{id}/cancel"), &hal, None, 200)
        .await;
    // The payment service cancels the intent, finds it paid, and refunds it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while s.emulator.state.store.lock().unwrap().refunds.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no refund was made");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Now Stripe's webhooks (succeeded, charge.refunded, ...) arrive, each twice.
    s.set_faults(ordo_stripe_emulator::Faults {
        copies_min: 2,
        copies_max: 2,
        ..Default::default()
    })
    .await;
    s.emulator.state.release();
    s.wait_webhooks().await;
    let done = s
        .wait_order(&id, |o| o["data"]["attributes"]["payment_status"] == "refunded")
        .await;
    assert_eq!(done["data"]["attributes"]["status"], "canceled");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let refunds = s.emulator.state.store.lock().unwrap().refunds.clone();
    assert_eq!(refunds.len(), 1, "refunded exactly once: {refunds:?}");
    assert_eq!(refunds.values().next().unwrap()["amount"], 1546);
    let o = s.shop.get(&format!("/admin/orders/{id}"), &s.admin()).await.1;
    assert_eq!(o["data"]["attributes"]["status"], "canceled");
    assert_eq!(refunded(&o), 1546);
}

/// Two operator refunds of 300 and 200 whose cumulative `charge.refunded` events arrive
/// 500-first, and whose `refund.created` events come late and twice: each refund is counted once,
/// by its Stripe id, and both requests end `succeeded` (the old delta rule matched the 500 to no
/// request and left both `requested` for ever).
#[tokio::test]
async fn refunds_reconcile_by_refund_id_whatever_order_their_events_arrive_in() {
    let s = Stack::start().await;
    let (id, pi) = paid_order(&s, "gil").await;
    s.wait_webhooks().await;
    s.set_faults(ordo_stripe_emulator::Faults {
        hold: true,
        ..Default::default()
    })
    .await;
    for (amount, total) in [(300, 300), (200, 500)] {
        assert_eq!(refund(&s, &id, amount).await.0, 202);
        wait_refunded_at_stripe(&s, &pi, total).await;
    }
    let held = s.emulator.state.take_held();
    let mut charges: Vec<&serde_json::Value> = held.iter().filter(|e| e["type"] == "charge.refunded").collect();
    charges.sort_by_key(|e| std::cmp::Reverse(e["data"]["object"]["amount_refunded"].as_i64()));
    assert_eq!(charges.len(), 2);
    assert_eq!(charges[0]["data"]["object"]["amount_refunded"], 500);
    for e in &charges {
        assert_eq!(s.deliver(e).await, 200);
    }
    let o = s.wait_order(&id, |o| refunded(o) == 500).await;
    assert_eq!(o["data"]["attributes"]["payment_status"], "partially_refunded");
    let su = s.superuser().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "select amount, status from orders.refund_requests where order_id = $1::uuid order by amount",
        )
        .bind(&id)
        .fetch_all(&su)
        .await
        .unwrap();
        if rows == vec![(200, "succeeded".to_owned()), (300, "succeeded".to_owned())] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "requests not closed: {rows:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The refund objects' own events, late and twice: nothing more is counted.
    for e in held.iter().filter(|e| e["type"] == "refund.created") {
        assert_eq!(s.deliver(e).await, 200);
        assert_eq!(s.deliver(e).await, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let o = s.wait_order(&id, |o| refunded(o) == 500).await;
    assert_eq!(o["data"]["attributes"]["status"], "paid");
    let (refunded_total, rows): (i64, i64) = sqlx::query_as(
        "select p.refunded_amount, (select count(*) from payments.refunds r where r.payment_id = p.id and r.reflected)
         from payments.payments p where p.payment_intent_id = $1",
    )
    .bind(&pi)
    .fetch_one(&su)
    .await
    .unwrap();
    assert_eq!((refunded_total, rows), (500, 2));
    let events: i64 =
        sqlx::query_scalar("select count(*) from payments.outbox where subject = 'ordo.payment.v1.refunded'")
            .fetch_one(&su)
            .await
            .unwrap();
    assert_eq!(events, 2, "one payment.refunded per Stripe refund");
    // What is left to refund is captured − refunded: 1046 more is accepted, 1 beyond is not.
    s.set_faults(ordo_stripe_emulator::Faults::default()).await;
    let (code, err) = refund(&s, &id, 1047).await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(refund(&s, &id, 1046).await.0, 202);
    s.wait_order(&id, |o| o["data"]["attributes"]["status"] == "refunded")
        .await;
}

/// A refund whose webhooks never arrive does not stay `requested`: the reconciler re-reads it
/// from Stripe after `reconcile_after_secs` and the request ends `succeeded`.
#[tokio::test]
async fn a_refund_whose_webhooks_are_lost_is_settled_by_reconciliation() {
    let s = Stack::start_with(Options {
        reconcile_after_secs: Some(1),
        ..Default::default()
    })
    .await;
    let (id, pi) = paid_order(&s, "lou").await;
    s.wait_webhooks().await;
    s.set_faults(ordo_stripe_emulator::Faults {
        hold: true,
        ..Default::default()
    })
    .await;
    assert_eq!(refund(&s, &id, 250).await.0, 202);
    wait_refunded_at_stripe(&s, &pi, 250).await;
    let lost = s.emulator.state.take_held();
    assert!(
        lost.iter().any(|e| e["type"] == "charge.refunded"),
        "the refund's events existed"
    );
    let o = s.wait_order(&id, |o| refunded(o) == 250).await;
    assert_eq!(o["data"]["attributes"]["payment_status"], "partially_refunded");
    let su = s.superuser().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status: String = sqlx::query_scalar("select status from orders.refund_requests where order_id = $1::uuid")
            .bind(&id)
            .fetch_one(&su)
            .await
            .unwrap();
        if status == "succeeded" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "request still {status}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Found by `make chaos`: the payment service asked Stripe for a refund, then died before its
/// refund row committed; the refund's webhook came first and recorded it as a refund from
/// Stripe's dashboard (not ours), and the redelivered request then replayed the same Stripe
/// refund and collided with that row (unique Stripe refund id) until it was dead-lettered — the
/// operator's request never closed. A webhook for a refund carrying our request id is ours.
#[tokio::test]
async fn a_refund_whose_webhook_beats_the_requests_commit_is_counted_once_as_ours() {
    let s = Stack::start_with(Options {
        slow_retries: true,
        ..Default::default()
    })
    .await;
    let (id, pi) = paid_order(&s, "ned").await;
    s.wait_webhooks().await;
    let su = s.superuser().await;
    // The request's own refund row cannot commit until the test lets it (its retries go on).
    sqlx::raw_sql(
        "create table payments.test_block (on_ boolean);
         insert into payments.test_block values (true);
         grant select on payments.test_block to ordo_payment;
         create function payments.test_block() returns trigger language plpgsql as $$
         begin
             if new.reason = 'customer asked' and exists (select 1 from payments.test_block) then
                 raise exception 'simulated crash before the refund row committed';
             end if;
             return new;
         end $$;
         create trigger test_block before insert on payments.refunds
             for each row execute function payments.test_block();",
    )
    .execute(&su)
    .await
    .unwrap();
    s.set_faults(ordo_stripe_emulator::Faults {
        hold: true,
        ..Default::default()
    })
    .await;
    assert_eq!(refund(&s, &id, 400).await.0, 202);
    wait_refunds_at_stripe(&s, &pi).await;
    // Stripe's webhooks reach the payment service before the request's row exists.
    for e in s.emulator.state.take_held() {
        assert_eq!(s.deliver(&e).await, 200);
    }
    s.wait_order(&id, |o| refunded(o) == 400).await;
    sqlx::raw_sql("delete from payments.test_block")
        .execute(&su)
        .await
        .unwrap();
    s.set_faults(ordo_stripe_emulator::Faults::default()).await;

    // The operator's request closes, nothing is dead-lettered, 400 was refunded once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status: Option<String> =
            sqlx::query_scalar("select status from orders.refund_requests where order_id = $1::uuid")
                .bind(&id)
                .fetch_optional(&su)
                .await
                .unwrap();
        if status.as_deref() == Some("succeeded") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "request not closed: {status:?}; dead letters {:?}",
            dead_letters(&s).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_no_dead_letters(&s).await;
    assert_eq!(refunds_at_stripe(&s, &pi).len(), 1);
    let (refunded_total, rows): (i64, i64) = sqlx::query_as(
        "select p.refunded_amount, (select count(*) from payments.refunds r where r.payment_id = p.id)
         from payments.payments p where p.payment_intent_id = $1",
    )
    .bind(&pi)
    .fetch_one(&su)
    .await
    .unwrap();
    assert_eq!((refunded_total, rows), (400, 1));
    assert_eq!(refunded(&s.wait_order(&id, |_| true).await), 400);
}
