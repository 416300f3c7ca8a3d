//! A digital purchase as a customer makes it: catalog → product → cart → e-mail → card →
//! confirmation that turns paid by itself → download, whose bytes are the asset's.

use ordo_tests::browser::Browser;
use ordo_tests::storefront_stack::StorefrontStack;

#[tokio::test]
async fn a_guest_buys_a_download_and_gets_the_file() {
    let st = StorefrontStack::start().await;
    let file: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    st.shop.upload(file.clone()).await;
    let b = Browser::start().await;
    let mut outside = Vec::new();

    b.goto(&st.url("/")).await;
    b.wait_text("Moonlight Comics #1").await;
    outside.extend(b.requests_outside_loopback().await);
    b.screenshot("storefront-catalog").await;
    b.click(".product-card a").await;
    b.wait_text("Add to cart").await;
    let digital = &st.shop.s.catalog.digital;
    b.click(&format!("input[name=variant_id][value='{digital}']")).await;
    b.click("#add-form button[type=submit]").await;
    b.wait_url(|u| u.ends_with("/cart")).await;
    b.wait_text("Your cart").await;
    assert!(b.text("#cart-lines").await.contains("PDF"));
    outside.extend(b.requests_outside_loopback().await);
    b.screenshot("storefront-cart").await;

    b.click("#checkout-link").await;
    b.wait_text("Contact").await;
    assert!(b.try_find("#shipping").await.is_none(), "no address for a download");
    b.fill("input[name=email]", "not-an-email").await;
    b.click("#to-payment").await;
    b.wait_text("E-mail:").await;
    b.fill("input[name=email]", "ada@example.com").await;
    b.click("#to-payment").await;
    b.wait_url(|u| u.ends_with("/checkout/payment")).await;
    b.find("#sp-number").await;
    outside.extend(b.requests_outside_loopback().await);
    b.fill("#sp-number", "4242 4242 4242 4242").await;
    b.fill("#sp-expiry", "12 / 34").await;
    b.fill("#sp-cvc", "123").await;
    b.screenshot("storefront-payment").await;
    b.click("#pay-button").await;

    // The confirmation page turns paid without a reload by the customer.
    b.wait_url(|u| u.contains("/orders/")).await;
    b.wait_text("Your downloads").await;
    assert!(
        b.text("#order-status").await.starts_with("Paid"),
        "{}",
        b.text("#order-status").await
    );
    outside.extend(b.requests_outside_loopback().await);
    b.screenshot("storefront-confirmation").await;
    b.click("#downloads a.download").await;
    let path = b.wait_download().await;
    let got = std::fs::read(&path).unwrap();
    assert_eq!(got.len(), file.len(), "{}", path.display());
    assert!(got == file, "the downloaded bytes are the asset's");
    assert!(outside.is_empty(), "requests outside 127.0.0.1: {outside:?}");

    // One order, paid, for this guest; the e-mails went out.
    let intents = st.shop.s.intents().await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["status"], "succeeded");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while st.mail.messages().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "{:?}", st.mail.messages());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(st.mail.messages().iter().all(|m| m.contains("ada@example.com")));
}
