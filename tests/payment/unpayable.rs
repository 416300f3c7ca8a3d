//! Nobody is charged without an order or a refund: a payment for another amount or currency than
//! the order total cancels the order and is refunded in full (giving back only the stock it
//! took); a payment for a cart that cannot become an order is refunded — none is dead-lettered.

use ordo_tests::stack::*;

#[tokio::test]
async fn a_payment_for_another_amount_cancels_the_order_refunds_all_of_it_and_restocks() {
    let s = Stack::start().await;
    let su = s.superuser().await;
    // One limited physical item (stock 5) so that the release is visible.
    sqlx::query("update orders.variants set inventory = 5 where id = $1::uuid")
        .bind(&s.catalog.physical)
        .execute(&su)
        .await
        .unwrap();
    for completed_first in [true, false] {
        let c = s.customer(if completed_first { "tove" } else { "ugo" });
        let cart = s.shop.ready_cart(&c, &s.catalog, &[(&s.catalog.physical, 1)]).await;
        let pi = pi_of(&s.session(&c, &cart).await);
        let order_id = if completed_first {
            Some(s.complete(&c, &cart).await["id"].as_str().unwrap().to_owned())
        } else {
            None
        };
        // Stripe ends up holding another amount than the cart's (the update of a crashed
        // request, a change that never committed): the payment cannot pay the order.
        set_at_stripe(&s, &pi, "amount=999").await;
        let (code, paid) = s.confirm(&pi, "pm_card_visa").await;
        assert_eq!(code, 200, "{paid}");
        assert_eq!(paid["amount_received"], 999);
        let order = match order_id {
            Some(id) => id,
            None => s.order_of_cart(&cart).await["id"].as_str().unwrap().to_owned(),
        };
        let done = s
            .wait_order(&order, |o| o["data"]["attributes"]["payment_status"] == "refunded")
            .await;
        let a = &done["data"]["attributes"];
        assert_eq!(a["status"], "canceled", "{done}");
        assert_eq!(a["captured_amount"], 999);
        assert_eq!(a["refunded_amount"], 999);
        let history = a["history"].as_array().unwrap();
        let cancel = history.iter().find(|h| h["to"] == "canceled").unwrap();
        assert_eq!(cancel["detail"]["reason"], "payment_mismatch", "{cancel}");
        assert_eq!(
            refunds_at_stripe(&s, &pi),
            vec![(999, "eur".to_owned())],
            "refunded once, in full"
        );
        let e: ordo_events::order::v1::OrderCanceled = last_order_event(&s).await;
        assert_eq!(e.reason, "payment_mismatch");
    }
    let stock: Option<i32> = sqlx::query_scalar("select inventory from orders.variants where id = $1::uuid")
        .bind(&s.catalog.physical)
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(stock, Some(5), "both reservations released");
    assert_no_dead_letters(&s).await;
}

#[tokio::test]
async fn a_payment_for_a_cart_emptied_after_its_session_is_refunded_and_the_cart_takes_no_more_payment() {
    let s = Stack::start().await;
    let c = s.customer("vera");
    let cart = s.digital_cart(&c).await;
    let pi = pi_of(&s.session(&c, &cart).await);
    let (_, doc) = s.shop.get(&format!("/store/carts/{cart}"), &c).await;
    let line = items(&doc)[0]["id"].as_str().unwrap().to_owned();
    let (code, _) = s
        .shop
        .send(
            "DELETE",
            &format!("/store/carts/{cart}/line-items/{line}"),
            &c,
            None,
            None,
        )
        .await;
    assert_eq!(code, 200);
    let (code, paid) = s.confirm(&pi, "pm_card_visa").await;
    assert_eq!(code, 200, "{paid}");
    let su = s.superuser().await;
    // Refunded at Stripe, in full, once.
    assert_eq!(wait_refunds_at_stripe(&s, &pi).await, vec![(1546, "eur".to_owned())]);
    let (status,): (String,) = sqlx::query_as("select status from orders.carts where id = $1::uuid")
        .bind(&cart)
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(status, "payment_refunded");
    let orders: i64 = sqlx::query_scalar("select count(*) from orders.orders where cart_id = $1::uuid")
        .bind(&cart)
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(orders, 0);
    let e: ordo_events::order::v1::OrderPaymentRejected = last_order_event(&s).await;
    assert_eq!(
        (e.reason.as_str(), e.payment_intent_id.as_str()),
        ("cart_empty", pi.as_str())
    );
    assert_eq!(e.email, "vera@example.com");
    // The payment service's record: captured and refunded in full.
    let (captured, refunded): (i64, i64) =
        sqlx::query_as("select captured_amount, refunded_amount from payments.payments where payment_intent_id = $1")
            .bind(&pi)
            .fetch_one(&su)
            .await
            .unwrap();
    assert_eq!((captured, refunded), (1546, 1546));
    // The cart is closed for payment and completion.
    let (code, err) = s
        .shop
        .send("POST", &format!("/store/carts/{cart}/payment-session"), &c, None, None)
        .await;
    assert_eq!(code, 409, "{err}");
    assert_no_dead_letters(&s).await;
}

/// A paid cart completed beyond stock takes what was left; if that order is then canceled (its
/// payment did not match), only what it really took goes back — no stock is created.
#[tokio::test]
async fn canceling_an_oversold_order_creates_no_stock() {
    let s = Stack::start().await;
    let su = s.superuser().await;
    sqlx::query("update orders.variants set inventory = 1 where id = $1::uuid")
        .bind(&s.catalog.physical)
        .execute(&su)
        .await
        .unwrap();
    let (a, b) = (s.customer("ann"), s.customer("ben"));
    let cart_a = s.shop.ready_cart(&a, &s.catalog, &[(&s.catalog.physical, 1)]).await;
    let cart_b = s.shop.ready_cart(&b, &s.catalog, &[(&s.catalog.physical, 1)]).await;
    let pi_b = pi_of(&s.session(&b, &cart_b).await);
    // Ann takes the last one.
    let pi_a = pi_of(&s.session(&a, &cart_a).await);
    let order_a = s.complete(&a, &cart_a).await["id"].as_str().unwrap().to_owned();
    s.confirm(&pi_a, "pm_card_visa").await;
    s.wait_order(&order_a, |o| status(&o["data"]) == "paid").await;
    // Ben pays another amount than his cart's and never completes: his order is made from the
    // payment (beyond stock: it takes nothing), then canceled for the mismatch and refunded.
    set_at_stripe(&s, &pi_b, "amount=100").await;
    s.confirm(&pi_b, "pm_card_visa").await;
    let order_b = s.order_of_cart(&cart_b).await["id"].as_str().unwrap().to_owned();
    s.wait_order(&order_b, |o| o["data"]["attributes"]["payment_status"] == "refunded")
        .await;
    let reserved: Option<i32> = sqlx::query_scalar("select reserved from orders.order_lines where order_id = $1::uuid")
        .bind(&order_b)
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(reserved, Some(0));
    let stock: Option<i32> = sqlx::query_scalar("select inventory from orders.variants where id = $1::uuid")
        .bind(&s.catalog.physical)
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(stock, Some(0), "one unit existed and Ann has it");
}

/// A payment captured in another currency than the order's is no payment of the order either:
/// canceled (payment_mismatch) and refunded in full, in the currency it was taken in.
#[tokio::test]
async fn a_payment_in_another_currency_cancels_the_order_and_is_refunded() {
    let s = Stack::start().await;
    let c = s.customer("uma");
    let cart = s.digital_cart(&c).await;
    let pi = pi_of(&s.session(&c, &cart).await);
    let id = s.complete(&c, &cart).await["id"].as_str().unwrap().to_owned();
    set_at_stripe(&s, &pi, "currency=usd").await;
    let (code, paid) = s.confirm(&pi, "pm_card_visa").await;
    assert_eq!(code, 200, "{paid}");
    assert_eq!(paid["currency"], "usd");
    let done = s
        .wait_order(&id, |o| o["data"]["attributes"]["payment_status"] == "refunded")
        .await;
    let a = &done["data"]["attributes"];
    assert_eq!(a["status"], "canceled", "{done}");
    assert_eq!(a["captured_amount"], serde_json::Value::Null, "no EUR was captured");
    assert_eq!(refunds_at_stripe(&s, &pi), vec![(1546, "usd".to_owned())]);
    assert_no_dead_letters(&s).await;
}
