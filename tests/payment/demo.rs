//! The `make run` walkthrough (`ordo-demo seed` and `ordo-demo buy`) against a real stack, with
//! tokens minted from `deploy/local/dev.toml` as the demo mints them.

use ordo_demo::{Demo, PRODUCT_TITLE, mint};
use ordo_tests::stack::*;
use std::time::Duration;

fn dev_config() -> ordo_config::ServiceConfig {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/dev.toml");
    ordo_config::load_or_file(ordo_config::ServiceConfig::defaults("order", 8080), Some(file)).unwrap()
}

#[tokio::test]
async fn dev_tokens_pass_the_real_validation_and_forged_ones_do_not() {
    ordo_auth::install_crypto_provider();
    let dev = dev_config();
    let auth = ordo_auth::Authenticator::from_config(&dev.auth).unwrap();
    let tenant = uuid::Uuid::now_v7();
    let t = mint(&dev.auth, "ada", tenant, "customer", Duration::from_secs(60)).unwrap();
    let who = auth.verify(&t).await.unwrap();
    assert_eq!(
        (who.subject.as_str(), who.tenant_id, who.role),
        ("ada", tenant, ordo_auth::Role::Customer)
    );
    // The same claims under another secret are refused: the secret is what the token proves.
    let mut other = dev.auth.clone();
    other.hs_secret = Some(ordo_config::Secret::new("x".repeat(48)));
    let forged = mint(&other, "ada", tenant, "admin", Duration::from_secs(60)).unwrap();
    assert!(auth.verify(&forged).await.is_err());
    // Production defaults allow no HS256: the demo refuses to mint what would be refused anyway.
    let prod = ordo_config::ServiceConfig::defaults("order", 8080).auth;
    assert!(mint(&prod, "ada", tenant, "customer", Duration::from_secs(60)).is_err());
}

#[tokio::test]
async fn the_walkthrough_seeds_once_and_buys_the_pdf_until_paid() {
    let dev = dev_config();
    // The order service accepts the test keys (the harness seeds with them) and the dev secret.
    let mut auth = ordo_testkit::auth_config();
    auth.algorithms.push("HS256".into());
    auth.hs_secret = dev.auth.hs_secret.clone();
    let s = Stack::start_with(Options {
        order_auth: Some(auth.clone()),
        ..Options::default()
    })
    .await;
    let hour = Duration::from_secs(3600);
    let demo = Demo::new(
        &s.shop.base,
        &s.emulator.url(),
        KEY,
        mint(&auth, "demo-admin", s.tenant, "admin", hour).unwrap(),
        mint(&auth, "demo-customer", s.tenant, "customer", hour).unwrap(),
    )
    .unwrap();
    let first = demo.seed().await.unwrap();
    assert!(first.created);
    let again = demo.seed().await.unwrap();
    assert!(!again.created, "a second seed finds the shop");
    assert_eq!(
        (&again.region_id, &again.digital_variant_id),
        (&first.region_id, &first.digital_variant_id)
    );
    let products = s.shop.ok("GET", "/admin/products", &s.admin(), None, 200).await;
    let demo_products = products["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["attributes"]["title"] == PRODUCT_TITLE)
        .count();
    assert_eq!(demo_products, 1);

    let bought = demo.buy("ada@example.com", Duration::from_secs(30)).await.unwrap();
    let a = &bought.order["data"]["attributes"];
    assert_eq!(
        (a["status"].as_str(), a["payment_status"].as_str()),
        (Some("paid"), Some("captured"))
    );
    assert_eq!(a["captured_amount"], 1546, "12.99 + 19 % tax");
    assert_eq!(a["customer_id"], "demo-customer");
    assert_eq!(history_count(&bought.order["data"], "payment_succeeded"), 1);
    // The operator sees the same order.
    let seen = s
        .wait_order(&bought.order_id, |o| o["data"]["attributes"]["status"] == "paid")
        .await;
    assert_eq!(seen["data"]["attributes"]["number"], bought.number);
    let intents = s.intents().await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["id"], bought.payment_intent_id.as_str());
}
