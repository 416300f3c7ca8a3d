//! A purchase at 360 px wide, done with the keyboard: every page fits the width (no sideways
//! scrolling), and each control is reached by focus and worked with Enter, Space and typing.

use ordo_tests::browser::Browser;
use ordo_tests::storefront_stack::StorefrontStack;

const ENTER: &str = "\u{E007}";
const SPACE: &str = "\u{E00D}";

#[tokio::test]
async fn a_purchase_at_360_px_with_the_keyboard() {
    let st = StorefrontStack::start().await;
    st.shop.upload(vec![3u8; 4096]).await;
    let b = Browser::start_sized(360, 740).await;
    let mut wide = Vec::new();
    let mut check = |name: &'static str, overflows: bool| {
        if overflows {
            wide.push(name);
        }
    };

    b.goto(&st.url("/")).await;
    b.wait_text("Moonlight Comics #1").await;
    let width = b.execute("return window.innerWidth", serde_json::json!([])).await;
    assert_eq!(width, 360, "a 360 px wide screen");
    check("catalog", b.overflows().await);
    b.screenshot("storefront-360-catalog").await;
    b.key_on(".product-card a", ENTER).await;
    b.wait_text("Add to cart").await;
    check("product", b.overflows().await);
    let digital = &st.shop.s.catalog.digital;
    b.key_on(&format!("input[name=variant_id][value='{digital}']"), SPACE)
        .await;
    b.key_on("#add-form button[type=submit]", ENTER).await;
    b.wait_url(|u| u.ends_with("/cart")).await;
    check("cart", b.overflows().await);
    b.screenshot("storefront-360-cart").await;
    b.key_on("#checkout-link", ENTER).await;
    b.wait_text("Contact").await;
    b.key_on("input[name=email]", "a").await;
    b.type_text("@example.com").await;
    b.key_on("#to-payment", ENTER).await;
    b.wait_url(|u| u.ends_with("/checkout/payment")).await;
    b.find("#sp-number").await;
    check("payment", b.overflows().await);
    b.key_on("#sp-number", "4").await;
    b.type_text("242424242424242").await;
    b.key_on("#sp-expiry", "1").await;
    b.type_text("2/34").await;
    b.key_on("#sp-cvc", "1").await;
    b.type_text("23").await;
    b.screenshot("storefront-360-payment").await;
    b.key_on("#pay-button", ENTER).await;
    b.wait_url(|u| u.contains("/orders/")).await;
    b.wait_text("Your downloads").await;
    check("order", b.overflows().await);
    b.screenshot("storefront-360-order").await;
    assert!(wide.is_empty(), "pages wider than 360 px: {wide:?}");
    let (_, list) = st.shop.s.shop.get("/admin/orders", &st.shop.s.admin()).await;
    assert_eq!(list["data"][0]["attributes"]["email"], "a@example.com");
}
