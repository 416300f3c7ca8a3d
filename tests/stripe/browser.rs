//! What a browser may do at the emulator (as at Stripe): with the publishable key, confirm and
//! read only the intent whose client secret it shows; nothing else. CORS lets a storefront's page
//! call it; `/v3/` serves the Stripe.js subset; a card that asks for 3-D Secure waits in
//! `requires_action` until the challenge is completed (paid, webhook sent) or failed (declined).

use serde_json::{Value, json};

const KEY: &str = "sk_test_ordo";
const PK: &str = "pk_test_ordo";

async fn intent(base: &str, http: &reqwest::Client) -> Value {
    http.post(format!("{base}v1/payment_intents"))
        .bearer_auth(KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(ordo_http::form_urlencoded(&[("amount", "1546"), ("currency", "eur")]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn post(http: &reqwest::Client, url: String, key: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = http
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(ordo_http::form_urlencoded(form))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn the_publishable_key_confirms_only_the_intent_whose_secret_it_shows() {
    ordo_auth::install_crypto_provider();
    let emulator = ordo_stripe_emulator::start("127.0.0.1:0", KEY).await.unwrap();
    let base = emulator.url();
    let http = reqwest::Client::new();
    let pi = intent(&base, &http).await;
    let (id, secret) = (pi["id"].as_str().unwrap(), pi["client_secret"].as_str().unwrap());
    let other = intent(&base, &http).await;
    let confirm = |id: &str| format!("{base}v1/payment_intents/{id}/confirm");

    // Not without the secret, not with another intent's, never to create.
    let (code, _) = post(&http, confirm(id), PK, &[("payment_method", "pm_card_visa")]).await;
    assert_eq!(code, 404);
    let other_secret = other["client_secret"].as_str().unwrap();
    let (code, _) = post(
        &http,
        confirm(id),
        PK,
        &[("payment_method", "pm_card_visa"), ("client_secret", other_secret)],
    )
    .await;
    assert_eq!(code, 404);
    let (code, _) = post(
        &http,
        format!("{base}v1/payment_intents"),
        PK,
        &[("amount", "100"), ("currency", "eur")],
    )
    .await;
    assert_eq!(code, 401);
    let (code, _) = post(&http, format!("{base}v1/refunds"), PK, &[("payment_intent", id)]).await;
    assert_eq!(code, 401);

    // Read and confirmed with its own secret.
    let read: Value = http
        .get(format!("{base}v1/payment_intents/{id}?client_secret={secret}"))
        .bearer_auth(PK)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "requires_payment_method");
    let (code, done) = post(
        &http,
        confirm(id),
        PK,
        &[("payment_method", "pm_card_visa"), ("client_secret", secret)],
    )
    .await;
    assert_eq!((code, done["status"].as_str()), (200, Some("succeeded")), "{done}");

    // A page on another origin may call it.
    let pre = http
        .request(reqwest::Method::OPTIONS, confirm(id))
        .header("origin", "http://127.0.0.1:3000")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    assert!(
        pre.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let js = http.get(format!("{base}v3/")).send().await.unwrap();
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    let js = js.text().await.unwrap();
    assert!(js.contains("window.Stripe = function") && js.contains("confirmPayment"));
}

#[tokio::test]
async fn three_d_secure_waits_for_the_challenge_then_pays_or_declines() {
    ordo_auth::install_crypto_provider();
    let emulator = ordo_stripe_emulator::start("127.0.0.1:0", KEY).await.unwrap();
    let base = emulator.url();
    let http = reqwest::Client::new();
    for (outcome, status, code) in [("complete", "succeeded", 200), ("fail", "requires_payment_method", 402)] {
        let pi = intent(&base, &http).await;
        let (id, secret) = (pi["id"].as_str().unwrap(), pi["client_secret"].as_str().unwrap());
        let (c, waiting) = post(
            &http,
            format!("{base}v1/payment_intents/{id}/confirm"),
            PK,
            &[
                ("payment_method", "pm_card_authenticationRequired"),
                ("client_secret", secret),
            ],
        )
        .await;
        assert_eq!(
            (c, waiting["status"].as_str()),
            (200, Some("requires_action")),
            "{waiting}"
        );
        assert_eq!(waiting["next_action"]["type"], "use_stripe_sdk");
        let wrong = http
            .post(format!("{base}_emulator/payment_intents/{id}/authenticate"))
            .json(&json!({"client_secret": "pi_x_secret_y", "outcome": outcome}))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 404, "the challenge needs the intent's secret");
        let res = http
            .post(format!("{base}_emulator/payment_intents/{id}/authenticate"))
            .json(&json!({"client_secret": secret, "outcome": outcome}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), code);
        let body: Value = res.json().await.unwrap();
        let after = if code == 200 {
            &body
        } else {
            &body["error"]["payment_intent"]
        };
        assert_eq!(after["status"], status, "{body}");
        if code == 402 {
            assert_eq!(body["error"]["code"], "payment_intent_authentication_failure");
        }
        let events: Vec<String> = emulator
            .state
            .store
            .lock()
            .unwrap()
            .events
            .iter()
            .filter(|e| e["data"]["object"]["id"] == id || e["data"]["object"]["payment_intent"] == id)
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect();
        let last = if code == 200 {
            "payment_intent.succeeded"
        } else {
            "payment_intent.payment_failed"
        };
        assert!(
            events.contains(&"payment_intent.requires_action".to_owned()),
            "{events:?}"
        );
        assert_eq!(events.last().map(String::as_str), Some(last), "{events:?}");
    }
}
