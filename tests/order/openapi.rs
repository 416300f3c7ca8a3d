//! `/openapi.json` is generated from the code and lists exactly the routes the service serves,
//! each with its request schema (for bodies), responses and security.

use ordo_tests::shop::*;
use serde_json::Value;
use std::collections::BTreeSet;

#[tokio::test]
async fn openapi_documents_exactly_the_served_routes() {
    let shop = Shop::start().await;
    let res = reqwest::get(format!("{}/openapi.json", shop.base)).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            assert!(op["responses"]["4XX"].is_object(), "{method} {path}: no error response");
            assert_eq!(
                op["security"][0]["bearer"],
                serde_json::json!([]),
                "{method} {path}: no security"
            );
            if method != "get" {
                let headers: Vec<&str> = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["in"] == "header")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                assert_eq!(headers, ["Idempotency-Key"], "{method} {path}");
            }
        }
    }
    let served: BTreeSet<(String, String)> = ordo_order::routes()
        .unwrap()
        .into_iter()
        .chain(
            ordo_runtime::dead_letters::ROUTES
                .iter()
                .map(|(m, p)| (m.to_string(), p.to_string())),
        )
        .collect();
    assert_eq!(documented, served, "documented and served routes differ");
    // Every documented route is really served: without a token it answers 401, not 404 or 405.
    let http = reqwest::Client::new();
    for (method, path) in &documented {
        let url = format!(
            "{}{}",
            shop.base,
            path.replace("{id}", &uuid::Uuid::now_v7().to_string())
        )
        .replace("{line_id}", &uuid::Uuid::now_v7().to_string())
        .replace("{shipment_id}", &uuid::Uuid::now_v7().to_string());
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = http.request(m, &url).send().await.unwrap();
        assert_eq!(
            res.status().as_u16(),
            401,
            "{method} {path} is documented but not served"
        );
    }
    // A known path asked with a method it does not answer: 405 with Allow.
    let res = http
        .put(format!("{}/store/carts/{}", shop.base, uuid::Uuid::now_v7()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 405);
    assert_eq!(res.headers()["allow"], "GET, PATCH");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "method_not_allowed");
    // Request bodies point at real schemas.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["ErrorDocument", "NewLine", "CartPatch", "ProductInput", "RegionInput"] {
        assert!(
            schemas.keys().any(|k| k.contains(name)),
            "schema {name} missing: {:?}",
            schemas.keys().collect::<Vec<_>>()
        );
    }
    let add = &doc["paths"]["/store/carts/{id}/line-items"]["post"]["requestBody"]["content"]["application/vnd.api+json"]
        ["schema"];
    assert!(add.is_object(), "{add}");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}
