//! The catalog page (a variant's stock and active flag changed, a product created, a bad price
//! refused next to its field) and the mail and dead-letter page (the order's e-mails; a dead
//! letter listed and replayed, the replay's failure told in words).

use ordo_tests::browser::Browser;
use ordo_tests::dashboard_stack::*;

#[tokio::test]
async fn the_catalog_changes_stock_and_creates_products() {
    let d = DashboardStack::start().await;
    let s = &d.shop.s;
    let b = Browser::start().await;
    d.sign_in(&b, OPERATOR).await;
    b.click("header nav a[href='/catalog']").await;
    b.wait_text("New product").await;
    let physical = &s.catalog.physical;
    let form = format!("form[action='/catalog/variants/{physical}']");
    b.fill(&format!("{form} input[name=inventory]"), "7").await;
    b.click(&format!("{form} input[name=active]")).await;
    b.click(&format!("{form} button")).await;
    b.wait_text("stock 7, inactive.").await;
    let (_, products) = s.shop.get("/admin/products", &s.admin()).await;
    let variant = products["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["attributes"]["variants"].as_array().unwrap().clone())
        .find(|v| v["id"] == physical.as_str())
        .unwrap();
    assert_eq!(
        (variant["inventory"].as_i64(), variant["active"].as_bool()),
        (Some(7), Some(false))
    );

    // A price with too many decimals is refused next to the field; then the product is made.
    b.fill("#new-product input[name=title]", "Moon poster").await;
    b.fill("#new-product input[name=sku]", "POSTER-MOON").await;
    b.fill("#new-product input[name=variant_title]", "A2").await;
    b.fill("#new-product input[name=price]", "9.999").await;
    b.click("#new-product button[type=submit]").await;
    b.wait_text("the price is a number with at most 2 decimals").await;
    assert!(
        b.text("#new-product").await.contains("at most 2 decimals"),
        "next to the field"
    );
    b.fill("#new-product input[name=title]", "Moon poster").await;
    b.fill("#new-product input[name=sku]", "POSTER-MOON").await;
    b.fill("#new-product input[name=variant_title]", "A2").await;
    b.fill("#new-product input[name=price]", "19.50").await;
    b.fill("#new-product input[name=inventory]", "40").await;
    b.click("#new-product button[type=submit]").await;
    b.wait_text("Product “Moon poster” created.").await;
    let (_, products) = s.shop.get("/admin/products", &s.admin()).await;
    let poster = products["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"]["title"] == "Moon poster")
        .expect("created");
    let v = &poster["attributes"]["variants"][0];
    assert_eq!(
        (v["sku"].as_str(), v["inventory"].as_i64()),
        (Some("POSTER-MOON"), Some(40))
    );
    assert_eq!(v["prices"][0]["amount"], 1950);
    b.fit_page(1280).await;
    b.screenshot("dashboard-catalog").await;
}

#[tokio::test]
async fn mail_and_dead_letters_are_listed_and_a_replay_says_what_happened() {
    let d = DashboardStack::start().await;
    let s = &d.shop.s;
    let paid = d.shop.paid_order(&s.customer("ada"), 0).await;
    ordo_tests::stack::reject_an_unpaid_payment(s, &s.customer("yoko")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ordo_tests::stack::dead_letters(s).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let b = Browser::start().await;
    d.sign_in(&b, OPERATOR).await;
    b.click("header nav a[href='/mail']").await;
    b.wait_text("Customer e-mails").await;
    // The paid order's confirmation and payment e-mails, sent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mails = b.text("#mails").await;
        if mails.matches("sent").count() >= 2 {
            assert!(mails.contains("ada@example.com"), "{mails}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{mails}");
        b.goto(&d.url("/mail")).await;
    }
    assert!(b.text("body").await.contains("ordo.order.v1.payment_rejected"));
    b.fit_page(1280).await;
    b.screenshot("dashboard-mail").await;
    b.click("form[action^='/dead-letters/payment/'] button").await;
    b.wait_text("the event failed again").await;
    let su = s.superuser().await;
    let (replay_error,): (Option<String>,) = sqlx::query_as("select replay_error from payments.dead_letters")
        .fetch_one(&su)
        .await
        .unwrap();
    assert!(
        replay_error.unwrap_or_default().contains("not succeeded"),
        "the failed replay is recorded"
    );
    let _ = paid;
}
