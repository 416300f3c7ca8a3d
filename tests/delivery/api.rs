//! The delivery service's `/openapi.json` lists exactly the routes it serves, each with its
//! responses and security; every listed route answers (without credentials: 401, or 403 for a
//! made-up token), none of them 404.

use ordo_tests::delivery_stack::*;
use std::collections::BTreeSet;

#[tokio::test]
async fn openapi_documents_exactly_the_served_routes() {
    let shop = DeliveryStack::start().await;
    let doc: serde_json::Value = reqwest::get(format!("{}/openapi.json", shop.delivery_base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            assert!(op["responses"]["4XX"].is_object(), "{method} {path}: no error response");
            assert!(op["operationId"].is_string(), "{method} {path}: no operationId");
            if path.starts_with("/admin/") {
                assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{method} {path}");
            }
        }
    }
    let served: BTreeSet<(String, String)> = ordo_delivery::ROUTES
        .iter()
        .chain(ordo_runtime::dead_letters::ROUTES)
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served, "documented and served routes differ");
    for (method, path) in ordo_delivery::ROUTES {
        let url = format!(
            "{}{}",
            shop.delivery_base,
            path.replace("{token}", "x").replace("{key}", "a/b.pdf")
        );
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = shop.http.request(m, &url).send().await.unwrap();
        let expected = if path.starts_with("/downloads/") { 403 } else { 401 };
        assert_eq!(res.status().as_u16(), expected, "{method} {path}");
    }
}
