//! Every route that takes an id, called with another customer's or another tenant's ids,
//! answers 404 and changes nothing. The routes come from the service's own table, so a new
//! route without a case here fails this test.

use ordo_tests::shop::*;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_routes_are_404_for_other_customers_and_tenants() {
    let shop = Shop::start().await;
    let tenant = shop.tenant;
    let cat = shop.seed(tenant, Some(50)).await;
    let alice = Caller::customer(tenant, "alice");
    let done = shop.ready_cart(&alice, &cat, &[(&cat.physical, 1)]).await;
    let order = shop
        .ok("POST", &format!("/store/carts/{done}/complete"), &alice, None, 200)
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cart = shop.ready_cart(&alice, &cat, &[(&cat.digital, 1)]).await;
    let (_, c) = shop.get(&format!("/store/carts/{cart}"), &alice).await;
    let line = c["data"]["attributes"]["items"][0]["id"].as_str().unwrap().to_owned();

    // Intruders: a customer of the same tenant, a customer and an admin of another tenant.
    let other = Uuid::now_v7();
    shop.seed(other, Some(5)).await;
    let bob = Caller::customer(tenant, "bob");
    let mallory = Caller::customer(other, "mallory");
    let admin_b = Caller::admin(other);

    let before = snapshot(&shop).await;
    let mut checked = 0;
    let routes = ordo_order::routes().unwrap();
    let routes: Vec<(&str, &str)> = routes.iter().map(|(m, p)| (m.as_str(), p.as_str())).collect();
    for (method, pattern) in &routes {
        if !pattern.contains('{') {
            continue;
        }
        let (path, body): (String, Option<Value>) = match (*method, *pattern) {
            ("get", "/store/carts/{id}")
            | ("get", "/store/carts/{id}/shipping-options")
            | ("post", "/store/carts/{id}/complete")
            | ("post", "/store/carts/{id}/payment-session") => (pattern.replace("{id}", &cart), None),
            ("patch", "/store/carts/{id}") => (
                pattern.replace("{id}", &cart),
                Some(json!({"data": {"type": "carts", "attributes": {"email": "evil@example.com"}}})),
            ),
            ("post", "/store/carts/{id}/line-items") => (
                pattern.replace("{id}", &cart),
                Some(json!({"data": {"type": "line-items", "attributes": {"variant_id": cat.digital, "quantity": 3}}})),
            ),
            ("patch", "/store/carts/{id}/line-items/{line_id}") => (
                pattern.replace("{id}", &cart).replace("{line_id}", &line),
                Some(json!({"data": {"type": "line-items", "attributes": {"quantity": 7}}})),
            ),
            ("delete", "/store/carts/{id}/line-items/{line_id}") => {
                (pattern.replace("{id}", &cart).replace("{line_id}", &line), None)
            }
            ("post", "/store/carts/{id}/shipping-method") => (
                pattern.replace("{id}", &cart),
                Some(json!({"data": {"type": "shipping-methods", "attributes": {"shipping_option_id": cat.shipping}}})),
            ),
            ("get", "/store/orders/{id}") | ("post", "/store/orders/{id}/cancel") => {
                (pattern.replace("{id}", &order), None)
            }
            ("get", "/admin/orders/{id}")
            | ("post", "/admin/orders/{id}/cancel")
            | ("get", "/admin/orders/{id}/refunds") => (pattern.replace("{id}", &order), None),
            ("post", "/admin/orders/{id}/refunds") => (
                pattern.replace("{id}", &order),
                Some(json!({"data": {"type": "refunds", "attributes": {"amount": 1}}})),
            ),
            ("get", "/store/orders/{id}/download-links") | ("get", "/admin/orders/{id}/download-links") => {
                (pattern.replace("{id}", &order), None)
            }
            ("post", "/admin/orders/{id}/shipments") => (
                pattern.replace("{id}", &order),
                Some(json!({"data": {"type": "shipments", "attributes":
                    {"carrier": "DHL", "tracking_number": "X1", "line_ids": [Uuid::now_v7()]}}})),
            ),
            ("post", "/admin/orders/{id}/shipments/{shipment_id}/delivered") => (
                pattern
                    .replace("{id}", &order)
                    .replace("{shipment_id}", &Uuid::now_v7().to_string()),
                None,
            ),
            ("patch", "/admin/variants/{id}") => (
                pattern.replace("{id}", &cat.physical),
                Some(json!({"data": {"type": "variants", "attributes": {"inventory": 0, "active": false}}})),
            ),
            other => panic!("no isolation case for route {other:?}: add one"),
        };
        let intruders: Vec<&Caller> = if pattern.starts_with("/admin/") {
            vec![&admin_b]
        } else {
            vec![&bob, &mallory, &admin_b]
        };
        for who in intruders {
            let (status, res) = shop.send(&method.to_uppercase(), &path, who, body.clone(), None).await;
            assert_eq!(status, 404, "{method} {path} as {} of {}: {res}", who.sub, who.tenant);
            assert_eq!(res["errors"][0]["code"], "not_found");
        }
        checked += 1;
    }
    assert_eq!(checked, routes.iter().filter(|(_, p)| p.contains('{')).count());
    assert!(checked >= 12);
    assert_eq!(snapshot(&shop).await, before, "an intruder changed something");
    // ...while the owner still can.
    assert_eq!(shop.get(&format!("/store/orders/{order}"), &alice).await.0, 200);
}

#[tokio::test]
async fn every_admin_route_refuses_customers() {
    let shop = Shop::start().await;
    let alice = Caller::customer(shop.tenant, "alice");
    let any = Uuid::now_v7().to_string();
    let mut checked = 0;
    let routes = ordo_order::routes().unwrap();
    for (method, pattern) in routes.iter().filter(|(_, p)| p.starts_with("/admin/")) {
        let path = pattern.replace("{id}", &any);
        let body = (*method != "get").then(|| json!({"data": {"type": "x", "attributes": {}}}));
        let (status, res) = shop.send(&method.to_uppercase(), &path, &alice, body, None).await;
        assert_eq!(
            (status, res["errors"][0]["code"].as_str()),
            (403, Some("admin_only")),
            "{method} {path}: {res}"
        );
        checked += 1;
    }
    assert!(checked >= 10);
}
