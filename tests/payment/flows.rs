//! Checkout with payment, end to end: session → confirm at "Stripe" → complete → webhook → paid.

use ordo_tests::stack::*;

#[tokio::test]
async fn full_lifecycle_reaches_paid() {
    let s = Stack::start().await;
    let ada = s.customer("ada");
    let cart = s.digital_cart(&ada).await;
    let session = s.session(&ada, &cart).await;
    let pi = session["payment_intent_id"].as_str().unwrap().to_owned();
    assert!(session["client_secret"].as_str().unwrap().starts_with(&pi));
    assert_eq!(session["amount"], 1546, "12.99 + 19 % tax");
    assert_eq!(session["currency"], "EUR");
    // Asking again (same amount) returns the same intent.
    let again = s.session(&ada, &cart).await;
    assert_eq!(again["payment_intent_id"], pi.as_str());
    assert_eq!(s.intents().await.len(), 1);
    let (code, confirmed) = s.confirm(&pi, "pm_card_visa").await;
    assert_eq!((code, confirmed["status"].as_str()), (200, Some("succeeded")));
    let order = s.complete(&ada, &cart).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let paid = s.wait_order(&id, |o| o["data"]["attributes"]["status"] == "paid").await;
    let a = &paid["data"]["attributes"];
    assert_eq!(a["payment_status"], "captured");
    assert_eq!(a["captured_amount"], 1546);
    assert_eq!(history_count(&paid["data"], "payment_succeeded"), 1);
    // The intent is remembered on the order.
    let su = s.superuser().await;
    let stored: Option<String> = sqlx::query_scalar("select payment_intent_id from orders.orders where id = $1::uuid")
        .bind(&id)
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(pi.as_str()));
    // The payment mirror agrees.
    let (status, captured): (String, i64) =
        sqlx::query_as("select status, captured_amount from payments.payments where payment_intent_id = $1")
            .bind(&pi)
            .fetch_one(&su)
            .await
            .unwrap();
    assert_eq!((status.as_str(), captured), ("succeeded", 1546));
}

#[tokio::test]
async fn a_declined_card_returns_the_order_to_pending_and_a_good_card_pays() {
    let s = Stack::start().await;
    let bo = s.customer("bo");
    let cart = s.digital_cart(&bo).await;
    let pi = s.session(&bo, &cart).await["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let order = s.complete(&bo, &cart).await;
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(status(&order), "pending");
    let (code, err) = s.confirm(&pi, "pm_card_chargeDeclined").await;
    assert_eq!((code, err["error"]["code"].as_str()), (402, Some("card_declined")));
    let failed = s
        .wait_order(&id, |o| o["data"]["attributes"]["failed_payment_attempts"] == 1)
        .await;
    let a = &failed["data"]["attributes"];
    assert_eq!(
        (a["status"].as_str(), a["payment_status"].as_str()),
        (Some("pending"), Some("failed"))
    );
    let failure = failed["data"]["attributes"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["trigger"] == "payment_failed")
        .unwrap()
        .clone();
    assert_eq!(failure["detail"]["reason"], "card_declined", "the failure is recorded");
    let (code, ok) = s.confirm(&pi, "pm_card_visa").await;
    assert_eq!((code, ok["status"].as_str()), (200, Some("succeeded")));
    let paid = s.wait_order(&id, |o| o["data"]["attributes"]["status"] == "paid").await;
    assert_eq!(paid["data"]["attributes"]["failed_payment_attempts"], 1);
    assert_eq!(history_count(&paid["data"], "payment_succeeded"), 1);
    // The operators' payment panel: the attempt that failed and why, what was captured.
    let res = reqwest::Client::new()
        .get(format!("{}/admin/orders/{id}/payments", s.payment_base))
        .bearer_auth(&s.admin().token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    let p = &doc["data"][0]["attributes"];
    assert_eq!(p["status"], "succeeded", "{doc}");
    assert_eq!(p["failed_attempts"], 1);
    assert_eq!(p["last_failure"]["code"], "card_declined");
    assert_eq!(
        (p["captured_amount"].as_i64(), p["refundable_amount"].as_i64()),
        (Some(1546), Some(1546))
    );
    // A customer cannot read it.
    let res = reqwest::Client::new()
        .get(format!("{}/admin/orders/{id}/payments", s.payment_base))
        .bearer_auth(&bo.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
}

#[tokio::test]
async fn paying_without_completing_still_makes_a_paid_order() {
    let s = Stack::start().await;
    let cy = s.customer("cy");
    let cart = s.digital_cart(&cy).await;
    let pi = s.session(&cy, &cart).await["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, _) = s.confirm(&pi, "pm_card_visa").await;
    assert_eq!(code, 200);
    // The browser died here: complete is never called.
    let order = s.order_of_cart(&cart).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let paid = s.wait_order(&id, |o| o["data"]["attributes"]["status"] == "paid").await;
    assert_eq!(paid["data"]["attributes"]["customer_id"], "cy");
    assert_eq!(paid["data"]["attributes"]["number"], 1001);
    // A late complete from the storefront finds the same order.
    let late = s.complete(&cy, &cart).await;
    assert_eq!(late["id"].as_str(), Some(id.as_str()));
}

#[tokio::test]
async fn a_changed_cart_updates_the_intent_instead_of_making_another() {
    let s = Stack::start().await;
    let di = s.customer("di");
    let cart = s.digital_cart(&di).await;
    let first = s.session(&di, &cart).await;
    let line = s.shop.get(&format!("/store/carts/{cart}"), &di).await.1["data"]["attributes"]["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.shop
        .ok(
            "PATCH",
            &format!("/store/carts/{cart}/line-items/{line}"),
            &di,
            Some(serde_json::json!({"data": {"type": "line-items", "attributes": {"quantity": 2}}})),
            200,
        )
        .await;
    let second = s.session(&di, &cart).await;
    assert_eq!(second["payment_intent_id"], first["payment_intent_id"]);
    assert_eq!(second["amount"], 3092);
    let intents = s.intents().await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["amount"], 3092);
    // Another customer cannot open a session on this cart.
    let (code, _) = s
        .shop
        .send(
            "POST",
            &format!("/store/carts/{cart}/payment-session"),
            &s.customer("eve"),
            None,
            None,
        )
        .await;
    assert_eq!(code, 404);
}
