//! The order e-mail's link on another device: a fresh browser opens the guest's order (and its
//! downloads) from the signed link; an altered link is refused.

use ordo_tests::browser::Browser;
use ordo_tests::storefront_stack::StorefrontStack;

#[tokio::test]
async fn the_emails_order_link_opens_the_order_on_another_device() {
    let st = StorefrontStack::start().await;
    st.shop.upload(vec![5u8; 3000]).await;
    let phone = Browser::start().await;
    phone.goto(&st.url("/")).await;
    phone.click(".product-card a").await;
    let digital = &st.shop.s.catalog.digital;
    phone.click(&format!("input[name=variant_id][value='{digital}']")).await;
    phone.click("#add-form button[type=submit]").await;
    phone.wait_url(|u| u.ends_with("/cart")).await;
    phone.click("#checkout-link").await;
    phone.fill("input[name=email]", "fay@example.com").await;
    phone.click("#to-payment").await;
    phone.find("#sp-number").await;
    phone.fill("#sp-number", "4242424242424242").await;
    phone.fill("#sp-expiry", "12/34").await;
    phone.fill("#sp-cvc", "123").await;
    phone.click("#pay-button").await;
    let order_url = phone.wait_url(|u| u.contains("/orders/")).await;
    drop(phone);

    // The confirmation e-mail links to the order page with a signature.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let link = loop {
        let found = st.mail.messages().iter().find_map(|m| {
            let start = m.find(&format!("{order_url}?c="))?;
            let rest = &m[start..];
            let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')?;
            Some(rest[..end].to_owned())
        });
        if let Some(l) = found {
            break l;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no order link in {:?}",
            st.mail.messages()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let laptop = Browser::start().await;
    laptop.goto(&link).await;
    laptop.wait_text("Your downloads").await;
    assert!(
        laptop.text("body").await.contains("fay@example.com") || laptop.text("#order-status").await.starts_with("Paid")
    );
    laptop.click("#downloads a.download").await;
    let file = std::fs::read(laptop.wait_download().await).unwrap();
    assert_eq!(file, vec![5u8; 3000]);

    // Altered: another customer's name in it, or a longer life.
    let other = Browser::start().await;
    let forged = link.replace("&e=", "&e=9");
    other.goto(&forged).await;
    other.wait_text("This link no longer works").await;
    let (_, list) = st.shop.s.shop.get("/admin/orders", &st.shop.s.admin()).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}
