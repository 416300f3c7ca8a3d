//! The notification service's HTTP API: documented exactly, admin only, one tenant's own.

use crate::mail::Mailed;
use serde_json::{Value, json};
use std::collections::BTreeSet;

async fn call(m: &Mailed, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = m.shop.http.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}{path}", m.notification_base),
    );
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/vnd.api+json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn settings(store: &str, sender: &str, url: Option<&str>) -> Value {
    json!({"data": {"type": "notification-settings", "attributes": {
        "store_name": store, "sender": sender, "order_page_url": url}}})
}

#[tokio::test]
async fn the_api_is_documented_admin_only_and_scoped_to_the_tenant() {
    let m = Mailed::start().await;
    let (code, doc) = call(&m, "GET", "/openapi.json", None, None).await;
    assert_eq!(code, 200);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| item.as_object().unwrap().keys().map(move |k| (k.clone(), p.clone())))
        .collect();
    let routes = ordo_notification::routes().unwrap();
    let served: BTreeSet<(String, String)> = routes
        .iter()
        .cloned()
        .chain(
            ordo_runtime::dead_letters::ROUTES
                .iter()
                .map(|(m, p)| (m.to_string(), p.to_string())),
        )
        .collect();
    assert_eq!(documented, served);
    let customer = m.shop.s.customer("zed");
    for (method, path) in &routes {
        let body = (method == "put").then(|| settings("S", "a@b.test", None));
        assert_eq!(
            call(&m, &method.to_uppercase(), path, None, body.clone()).await.0,
            401,
            "{path}"
        );
        assert_eq!(
            call(&m, &method.to_uppercase(), path, Some(&customer.token), body)
                .await
                .0,
            403,
            "{path}"
        );
    }

    let admin = m.shop.s.admin().token;
    // Bad input: 422 with the field, nothing stored.
    for (body, code) in [
        (settings("", "a@b.test", None), "invalid_store_name"),
        (
            settings("Shop\r\nBcc: x@y.test", "a@b.test", None),
            "invalid_store_name",
        ),
        (settings("Shop", "not an address", None), "invalid_sender"),
        (
            settings("Shop", "a@b.test", Some("javascript:alert(1)")),
            "invalid_order_page_url",
        ),
    ] {
        let (status, err) = call(&m, "PUT", "/admin/notification-settings", Some(&admin), Some(body)).await;
        assert_eq!((status, err["errors"][0]["code"].as_str()), (422, Some(code)), "{err}");
    }
    let (_, current) = call(&m, "GET", "/admin/notification-settings", Some(&admin), None).await;
    assert_eq!(current["data"]["attributes"]["customized"], false);
    assert_eq!(current["data"]["attributes"]["store_name"], "ordo shop");

    let (status, saved) = call(
        &m,
        "PUT",
        "/admin/notification-settings",
        Some(&admin),
        Some(settings(
            "Moon",
            "hi@moon.test",
            Some("https://moon.test/o/{order_number}"),
        )),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let (_, current) = call(&m, "GET", "/admin/notification-settings", Some(&admin), None).await;
    assert_eq!(current["data"]["attributes"]["store_name"], "Moon");

    // One message of this tenant; another tenant's admin sees neither it nor the settings.
    let s = &m.shop.s;
    let amy = s.customer("amy");
    let cart = s.digital_cart(&amy).await;
    s.session(&amy, &cart).await;
    s.complete(&amy, &cart).await;
    let mail = m.wait_mail(1).await;
    assert!(mail[0].text.contains("https://moon.test/o/1001"), "{}", mail[0].text);
    // The message is recorded sent after the SMTP server has it: wait for that commit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mine = loop {
        let (_, mine) = call(&m, "GET", "/admin/notifications", Some(&admin), None).await;
        if mine["data"][0]["attributes"]["status"] == "sent" || std::time::Instant::now() > deadline {
            break mine;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    assert_eq!(mine["data"][0]["attributes"]["status"], "sent");
    assert_eq!(mine["data"][0]["attributes"]["kind"], "order_confirmation");
    let stranger = ordo_tests::shop::Caller::admin(uuid::Uuid::now_v7()).token;
    let (_, theirs) = call(&m, "GET", "/admin/notifications", Some(&stranger), None).await;
    assert_eq!(theirs["data"], json!([]));
    let (_, theirs) = call(&m, "GET", "/admin/notification-settings", Some(&stranger), None).await;
    assert_eq!(theirs["data"]["attributes"]["customized"], false);
    let (status, _) = call(
        &m,
        "GET",
        "/admin/notifications?filter[status]=lost",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 400);
}
