//! Signing in: an operator through the provider lands on the overview with a session cookie
//! that scripts cannot read; a customer of the same shop cannot sign in; signing out ends the
//! session; a form posted without the session's CSRF token is refused.

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

    b.click("form.signout button").await;
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
