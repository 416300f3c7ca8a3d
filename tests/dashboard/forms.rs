//! The forms' guarantees, checked beside the browser with its session cookie: a post without
//! the session's CSRF token (or with another) changes nothing; the same form sent twice (a double
//! click) is one refund; a refund over what remains shows the API's refusal next to the amount.

use ordo_tests::browser::Browser;
use ordo_tests::dashboard_stack::*;

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_a_double_submit_refunds_once() {
    let d = DashboardStack::start().await;
    let s = &d.shop.s;
    let paid = d.shop.paid_order(&s.customer("ada"), 0).await;
    let pending = {
        let cy = s.customer("cy");
        let cart = s.shop.ready_cart(&cy, &s.catalog, &[(&s.catalog.physical, 1)]).await;
        s.complete(&cy, &cart).await["id"].as_str().unwrap().to_owned()
    };
    let b = Browser::start().await;
    d.sign_in(&b, OPERATOR).await;
    b.wait_text("Overview").await;
    let cookie = session_cookie(&b).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |path: String, body: String, cookie: Option<String>| {
        let http = http.clone();
        async move {
            let mut req = http
                .post(path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let location = res
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (status, location, res.text().await.unwrap())
        }
    };
    let cancel = d.url(&format!("/orders/{pending}/cancel"));
    let key = "idempotency_key=2f1c8a5e-0000-4000-8000-000000000001";
    let (code, _, page) = post(cancel.clone(), key.into(), Some(cookie.clone())).await;
    assert_eq!(code, 403, "no token");
    assert!(page.contains("Form refused"), "{page}");
    let (code, _, _) = post(
        cancel.clone(),
        format!("csrf=not-the-token&{key}"),
        Some(cookie.clone()),
    )
    .await;
    assert_eq!(code, 403, "another token");
    let (code, location, _) = post(cancel.clone(), format!("csrf=x&{key}"), None).await;
    assert_eq!(
        (code, location.starts_with("/sign-in")),
        (303, true),
        "no session: sign in first"
    );
    let (_, order) = s.shop.get(&format!("/admin/orders/{pending}"), &s.admin()).await;
    assert_eq!(order["data"]["attributes"]["status"], "pending", "nothing canceled");

    // The refund form sent twice with its one Idempotency-Key: one refund.
    let html = http
        .get(d.url(&format!("/orders/{paid}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (csrf, key) = form_secrets(&html, "refund-form");
    let body = format!("csrf={csrf}&idempotency_key={key}&currency=EUR&amount=1.00&reason=twice");
    let refund = d.url(&format!("/orders/{paid}/refund"));
    let (first, second) = tokio::join!(
        post(refund.clone(), body.clone(), Some(cookie.clone())),
        post(refund.clone(), body.clone(), Some(cookie.clone())),
    );
    assert_eq!((first.0, second.0), (303, 303));
    let refunded = s
        .wait_order(&paid, |o| o["data"]["attributes"]["refunded_amount"] == 100)
        .await;
    assert_eq!(refunded["data"]["attributes"]["payment_status"], "partially_refunded");
    let db = d.shop.superuser().await;
    let asked: Vec<i64> = sqlx::query_scalar("select amount from orders.refund_requests")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(asked, vec![100], "one refund request for two clicks");
    let intents = s.intents().await;
    let at_stripe = ordo_tests::stack::wait_refunds_at_stripe(s, intents[0]["id"].as_str().unwrap()).await;
    assert_eq!(at_stripe.len(), 1, "{at_stripe:?}");

    // More than remains: the API's refusal, next to the amount; nothing asked.
    b.goto(&d.url(&format!("/orders/{paid}"))).await;
    b.fill("#refund-amount", "9999").await;
    b.click("#refund-form button[type=submit]").await;
    b.find("#amount-error").await;
    let error = b.text("#amount-error").await;
    assert!(
        error.contains("€9,999.00 is more than what is left to refund"),
        "{error}"
    );
    b.screenshot("dashboard-refund-refused").await;
    b.fill("#refund-amount", "1.234").await;
    b.click("#refund-form button[type=submit]").await;
    b.wait_text("at most 2 decimals").await;
    let asked: i64 = sqlx::query_scalar("select count(*) from orders.refund_requests")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(asked, 1);
}
