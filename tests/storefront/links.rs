//! Download links a person follows: an expired, used-up or revoked link is a page in words (the
//! delivery service answers `text/html` to a browser), and still a JSON:API error for API clients.

use ordo_tests::browser::Browser;
use ordo_tests::storefront_stack::StorefrontStack;

#[tokio::test]
async fn an_expired_or_used_up_link_is_a_page_in_words() {
    let st = StorefrontStack::start().await;
    st.shop.upload(vec![9u8; 2048]).await;
    let ada = st.shop.s.customer("ada");
    let order = st.shop.paid_order(&ada, 0).await;
    let url = st.shop.link(&ada, &order).await;
    // The link expires (by the database clock).
    let db = st.shop.superuser().await;
    sqlx::query("update delivery.tokens set expires_at = now() - interval '1 second'")
        .execute(&db)
        .await
        .unwrap();
    let b = Browser::start().await;
    b.goto(&url).await;
    b.wait_text("This download link has expired").await;
    assert!(b.text("body").await.contains("order page"));
    b.screenshot("storefront-link-expired").await;
    // An API client still gets the JSON:API error.
    let res = reqwest::Client::new()
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["errors"][0]["code"], "token_expired");
    // Not a link at all.
    let base = url.rsplit_once("/downloads/").unwrap().0;
    b.goto(&format!("{base}/downloads/{}", "x".repeat(43))).await;
    b.wait_text("This download link is not valid").await;
}
