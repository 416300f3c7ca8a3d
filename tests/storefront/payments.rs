//! Paying: a mixed cart with an address and a shipping method; a declined card told in words,
//! the cart kept, another card pays; a card that asks for 3-D Secure; and a customer who closes
//! the tab right after paying still gets the order (the webhook completes it) and the e-mail.

use ordo_tests::browser::Browser;
use ordo_tests::storefront_stack::StorefrontStack;

async fn add(b: &Browser, st: &StorefrontStack, variant: &str, quantity: &str) {
    b.goto(&st.url("/")).await;
    b.click(".product-card a").await;
    b.click(&format!("input[name=variant_id][value='{variant}']")).await;
    b.fill("#add-form input[name=quantity]", quantity).await;
    b.click("#add-form button[type=submit]").await;
    b.wait_url(|u| u.ends_with("/cart")).await;
}

async fn card(b: &Browser, number: &str) {
    b.find("#sp-number").await;
    b.fill("#sp-number", number).await;
    b.fill("#sp-expiry", "12 / 34").await;
    b.fill("#sp-cvc", "123").await;
    b.click("#pay-button").await;
}

async fn digital_checkout(b: &Browser, st: &StorefrontStack, email: &str) {
    add(b, st, &st.shop.s.catalog.digital, "1").await;
    b.click("#checkout-link").await;
    b.fill("input[name=email]", email).await;
    b.click("#to-payment").await;
    b.wait_url(|u| u.ends_with("/checkout/payment")).await;
}

#[tokio::test]
async fn a_mixed_cart_ships_to_the_address_with_the_chosen_method() {
    let st = StorefrontStack::start().await;
    st.shop.upload(vec![1u8; 1000]).await;
    let b = Browser::start().await;
    let cat = &st.shop.s.catalog;
    add(&b, &st, &cat.physical, "2").await;
    add(&b, &st, &cat.digital, "1").await;
    // Change a quantity in the cart.
    b.fill(".line[data-sku^='P-'] input[name=quantity]", "3").await;
    b.click(".line[data-sku^='P-'] button[value=update]").await;
    b.wait_url(|u| u.ends_with("/cart")).await;
    b.wait_text("€75.00").await;
    b.click("#checkout-link").await;
    b.wait_text("Shipping address").await;
    b.fill("input[name=email]", "bo@example.com").await;
    b.fill("input[name=ship_name]", "Bo Ström").await;
    b.fill("input[name=ship_line1]", "Hauptstraße 5").await;
    b.fill("input[name=ship_postal_code]", "10115").await;
    b.fill("input[name=ship_city]", "").await;
    b.click("#to-payment").await;
    b.wait_text("City:").await;
    b.screenshot("storefront-checkout-error").await;
    assert_eq!(
        b.text("input[name=ship_name]").await,
        "",
        "inputs have no text; values kept below"
    );
    let kept = b
        .execute(
            "return document.querySelector('input[name=ship_name]').value",
            serde_json::json!([]),
        )
        .await;
    assert_eq!(kept, "Bo Ström", "what was typed is kept");
    b.fill("input[name=ship_city]", "Berlin").await;
    b.click("#to-payment").await;
    b.wait_url(|u| u.ends_with("/checkout/payment")).await;
    card(&b, "4242424242424242").await;
    b.wait_url(|u| u.contains("/orders/")).await;
    b.wait_text("Your downloads").await;
    let order = b.url().await.rsplit('/').next().unwrap().to_owned();
    let (_, doc) = st
        .shop
        .s
        .shop
        .get(&format!("/admin/orders/{order}"), &st.shop.s.admin())
        .await;
    let a = &doc["data"]["attributes"];
    assert_eq!(a["shipping_address"]["city"], "Berlin");
    assert_eq!(a["shipping_address"]["name"], "Bo Ström");
    assert_eq!(
        a["billing_address"]["line1"], "Hauptstraße 5",
        "billing same as shipping"
    );
    assert!(a["totals"]["shipping"].as_i64().unwrap() > 0);
    assert_eq!(a["items"], 4);
    assert_eq!(a["email"], "bo@example.com");

    // The shop ships the parcel once the payment is in (the order page may show before the
    // webhook has made the order paid): the customer's order page shows carrier and tracking number.
    st.shop
        .s
        .wait_order(&order, |o| o["data"]["attributes"]["payment_status"] == "captured")
        .await;
    let physical: Vec<String> = a["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "physical")
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    st.shop
        .s
        .shop
        .ok(
            "POST",
            &format!("/admin/orders/{order}/shipments"),
            &st.shop.s.admin(),
            Some(serde_json::json!({"data": {"type": "shipments", "attributes": {
                "carrier": "DHL", "tracking_number": "00340434161094042557", "line_ids": physical}}})),
            201,
        )
        .await;
    st.shop.wait_status(&order, "fulfilled").await;
    b.goto(&st.url(&format!("/orders/{order}"))).await;
    b.wait_text("Shipped with DHL, tracking number 00340434161094042557")
        .await;
    assert!(b.text("#order-status").await.contains("on its way"));
    b.screenshot("storefront-order-shipped").await;
}

#[tokio::test]
async fn a_declined_card_is_told_the_cart_kept_and_another_card_pays() {
    let st = StorefrontStack::start().await;
    st.shop.upload(vec![1u8; 1000]).await;
    let b = Browser::start().await;
    digital_checkout(&b, &st, "cy@example.com").await;
    card(&b, "4000 0000 0000 0002").await;
    b.wait_text("Your card was declined.").await;
    b.screenshot("storefront-declined").await;
    assert!(b.url().await.ends_with("/checkout/payment"), "still paying");
    // Another card on the same page: paid, one PaymentIntent for the cart.
    card(&b, "4242 4242 4242 4242").await;
    b.wait_url(|u| u.contains("/orders/")).await;
    b.wait_text("Your downloads").await;
    let intents = st.shop.s.intents().await;
    assert_eq!(intents.len(), 1, "one PaymentIntent per cart");
    assert_eq!(intents[0]["status"], "succeeded");
}

#[tokio::test]
async fn a_card_that_asks_for_3d_secure_pays_after_the_challenge() {
    let st = StorefrontStack::start().await;
    st.shop.upload(vec![1u8; 1000]).await;
    let b = Browser::start().await;
    digital_checkout(&b, &st, "di@example.com").await;
    card(&b, "4000 0027 6000 3184").await;
    b.find("#sp-3ds-fail").await;
    b.screenshot("storefront-3ds").await;
    b.click("#sp-3ds-fail").await;
    b.wait_text("unable to authenticate").await;
    card(&b, "4000 0027 6000 3184").await;
    b.click("#sp-3ds-complete").await;
    b.wait_url(|u| u.contains("/orders/")).await;
    b.wait_text("Your downloads").await;
}

#[tokio::test]
async fn a_customer_who_closes_the_tab_after_paying_still_gets_the_order_and_the_email() {
    let st = StorefrontStack::start().await;
    st.shop.upload(vec![1u8; 1000]).await;
    let b = Browser::start().await;
    digital_checkout(&b, &st, "ed@example.com").await;
    // Pay at "Stripe" and close the tab before the page completes the cart.
    b.execute(
        "HTMLFormElement.prototype.submit = function () { document.title = 'closed'; };",
        serde_json::json!([]),
    )
    .await;
    card(&b, "4242 4242 4242 4242").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while b.execute("return document.title", serde_json::json!([])).await != "closed" {
        assert!(std::time::Instant::now() < deadline, "the payment was not confirmed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(b);
    // The webhook completes the cart: an order, paid, and the customer's e-mails.
    let admin = st.shop.s.admin();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let order = loop {
        let (_, list) = st.shop.s.shop.get("/admin/orders", &admin).await;
        if let Some(o) = list["data"].as_array().and_then(|a| a.first()).cloned()
            && o["attributes"]["payment_status"] == "captured"
        {
            break o;
        }
        assert!(std::time::Instant::now() < deadline, "no paid order: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(order["attributes"]["email"], "ed@example.com");
    while !st.mail.messages().iter().any(|m| m.contains("payment received")) {
        assert!(std::time::Instant::now() < deadline, "{:?}", st.mail.messages());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
