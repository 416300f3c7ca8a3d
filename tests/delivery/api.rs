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
    let routes = ordo_delivery::routes().unwrap();
    let served: BTreeSet<(String, String)> = routes
        .iter()
        .cloned()
        .chain(
            ordo_runtime::dead_letters::ROUTES
                .iter()
                .map(|(m, p)| (m.to_string(), p.to_string())),
        )
        .collect();
    assert_eq!(documented, served, "documented and served routes differ");
    for (method, path) in &routes {
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

/// Found by schemathesis: an upload given up (empty, broken off, too large) or an asset deleted
/// left folders behind in a local store, and a later asset whose key was such a folder failed
/// with 500.
/// Now nothing of a given-up upload stays, and a key that is the folder of another (`a`, `a/b`)
/// is refused with 409 whatever the store.
#[tokio::test]
async fn a_given_up_upload_leaves_nothing_in_the_way_and_keys_are_not_folders() {
    let shop = DeliveryStack::start().await;
    let admin = shop.s.admin();
    let put = |key: &'static str, body: &'static str| {
        let (http, base, token) = (shop.http.clone(), shop.delivery_base.clone(), admin.token.clone());
        async move {
            let res = http
                .put(format!("{base}/admin/assets/{key}"))
                .bearer_auth(token)
                .header("content-type", "text/plain")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap();
            (status, body["errors"][0]["code"].as_str().unwrap_or("").to_owned())
        }
    };
    assert_eq!(put("box/inner.txt", "").await, (400, "empty_asset".into()));
    assert_eq!(put("box", "now a file").await, (201, String::new()));
    assert_eq!(put("box/inner.txt", "x").await, (409, "asset_key_conflict".into()));
    assert_eq!(put("shelf/book.txt", "x").await, (201, String::new()));
    assert_eq!(put("shelf", "x").await, (409, "asset_key_conflict".into()));
    // A deleted asset takes its emptied folders with it.
    assert_eq!(put("crate/lid.txt", "x").await, (201, String::new()));
    let res = shop
        .http
        .delete(format!("{}/admin/assets/crate/lid.txt", shop.delivery_base))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(put("crate", "now a file").await, (201, String::new()));
    let leftovers: Vec<_> = std::fs::read_dir(&shop.assets)
        .unwrap()
        .flat_map(|tenant| std::fs::read_dir(tenant.unwrap().path()).unwrap())
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut leftovers = leftovers;
    leftovers.sort();
    assert_eq!(
        leftovers,
        ["box", "crate", "shelf"],
        "only the assets' entries are stored"
    );
}
