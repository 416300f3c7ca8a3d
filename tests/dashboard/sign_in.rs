//! Signing in: an operator through the provider lands on the overview with a session cookie
//! that scripts cannot read; a customer of the same shop cannot sign in; signing out ends the
//! session, here and at the provider; a form posted without the session's CSRF token is refused.

use ordo_tests::browser::Browser;
use ordo_tests::dashboard_stack::*;

#[tokio::test]
async fn an_operator_signs_in_through_the_provider_and_out_again() {
    let d = DashboardStack::start().await;
    let b = Browser::start().await;
    d.sign_in(&b, OPERATOR).await;
    b.wait_text("Overview").await;
    assert!(b.text("header").await.contains("ada@shop.test"));
    b.screenshot("dashboard-overview-empty").await;
    let cookies = b.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "ordo_session")
        .expect("a session cookie");
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["secure"], true, "{session}");
    assert_eq!(session["sameSite"], "Lax", "{session}");
    let from_script = b.execute("return document.cookie", serde_json::json!([])).await;
    assert!(!from_script.as_str().unwrap_or_default().contains("ordo_session"));

    // Signing out ends the provider's session too (RP-initiated logout), which then sends the
    // browser back to the sign-in page; the ID token is not put in the URL.
    b.click("form.signout button").await;
    b.wait_url(|u| u.contains("/oauth2/end_session")).await;
    let url = b.url().await;
    assert!(url.starts_with(&d.idp.issuer), "{url}");
    assert!(url.contains("client_id="), "{url}");
    let back = format!(
        "post_logout_redirect_uri={}",
        ordo_http::form_urlencoded(&[("x", &d.url("/sign-in"))]).trim_start_matches("x=")
    );
    assert!(url.contains(&back), "{url} lacks {back}");
    assert!(!url.contains("id_token_hint") && !url.contains("eyJ"), "{url}");
    b.click("form button[type=submit]").await;
    b.wait_text("Sign in with your organisation").await;
    b.goto(&d.url("/orders")).await;
    assert!(
        b.url().await.contains("/sign-in?return_to=%2Forders"),
        "{}",
        b.url().await
    );
}

#[tokio::test]
async fn a_customer_cannot_sign_in() {
    let d = DashboardStack::start().await;
    let b = Browser::start().await;
    d.sign_in(&b, CUSTOMER).await;
    b.wait_text("only operators (role admin) can sign in here").await;
    b.screenshot("dashboard-customer-refused").await;
    assert!(b.cookies().await.iter().all(|c| c["name"] != "ordo_session"));
    b.goto(&d.url("/")).await;
    assert!(b.url().await.contains("/sign-in"), "{}", b.url().await);
}

/// The development sign-in exists only when the configuration asks for it and holds the
/// development token secret (as `make run`'s does); a cross-site post cannot use it; without
/// any way to sign in the dashboard does not start.
#[tokio::test]
async fn the_development_sign_in_is_offered_only_by_the_development_configuration() {
    ordo_auth::install_crypto_provider();
    let start = |dev: bool| async move {
        let port = ordo_testkit::peers::free_port();
        let mut cfg = ordo_dashboard::DashboardConfig::defaults();
        cfg.http.port = port;
        cfg.dashboard.public_url = format!("http://127.0.0.1:{port}");
        cfg.dashboard.order_url = "http://127.0.0.1:9".into();
        cfg.dashboard.oidc.issuer = "http://127.0.0.1:9".into();
        cfg.dashboard.dev_sign_in = dev;
        cfg.auth.algorithms = vec!["HS256".into()];
        cfg.auth.hs_secret = Some(ordo_config::Secret::new("s".repeat(40)));
        let auth = cfg.auth.clone();
        let running = ordo_dashboard::build(cfg).await.unwrap();
        tokio::spawn(running.run_until_stopped());
        (format!("http://127.0.0.1:{port}"), auth)
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let (prod, _) = start(false).await;
    let page = http
        .get(format!("{prod}/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("dev-sign-in"), "{page}");
    let res = http.post(format!("{prod}/sign-in/dev")).send().await.unwrap();
    assert_eq!(res.status(), 404);

    let (dev, auth) = start(true).await;
    let page = http
        .get(format!("{dev}/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in as the demo operator"), "{page}");
    let res = http
        .post(format!("{dev}/sign-in/dev"))
        .header("origin", "https://evil.example")
        .body("return_to=/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a post from another site");
    let res = http
        .post(format!("{dev}/sign-in/dev"))
        .header("origin", &dev)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("return_to=/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/orders");
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("ordo_session=") && set.contains("HttpOnly"), "{set}");
    // The session holds a token of the demo tenant's operator, as the services check it.
    use base64::Engine as _;
    let value = set.split(';').next().unwrap().trim_start_matches("ordo_session=");
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.split('.').next().unwrap())
        .unwrap();
    let session: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let who = ordo_auth::Authenticator::from_config(&auth)
        .unwrap()
        .verify(session["token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!((who.tenant_id, who.role), (ordo_demo::TENANT, ordo_auth::Role::Admin));

    // No OpenID Connect and no development sign-in: refuses to start.
    let mut cfg = ordo_dashboard::DashboardConfig::defaults();
    cfg.http.port = 0;
    let err = ordo_dashboard::build(cfg).await.unwrap_err().to_string();
    assert!(err.contains("no way to sign in"), "{err}");
}
