//! The Stripe emulator driven by the real Stripe client (async-stripe), as the payment service
//! will drive it: if these pass, the same client code talks to Stripe with a real key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;

use stripe::{Client, ClientBuilder, RequestStrategy, StripeError};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CapturePaymentIntent, ConfirmPaymentIntent, CreatePaymentIntent, RetrievePaymentIntent,
    UpdatePaymentIntent,
};
use stripe_core::{PaymentIntentCaptureMethod, PaymentIntentStatus};
use stripe_types::Currency;

const KEY: &str = "sk_test_ordo";

async fn emulator() -> (ordo_stripe_emulator::Emulator, Client) {
    ordo_auth::install_crypto_provider();
    let emulator = ordo_stripe_emulator::start("127.0.0.1:0", KEY).await.unwrap();
    let client = ClientBuilder::new(KEY).url(emulator.url()).build().unwrap();
    (emulator, client)
}

fn idempotent(client_url: &str, key: &str) -> Client {
    ClientBuilder::new(KEY)
        .url(client_url)
        .request_strategy(RequestStrategy::Idempotent(stripe::IdempotencyKey::new(key).unwrap()))
        .build()
        .unwrap()
}

fn decline_code(e: &StripeError) -> Option<String> {
    match e {
        StripeError::Stripe(api, status) => {
            assert_eq!(*status, 402, "{api:?}");
            api.code.as_ref().map(|c| c.as_str().to_owned())
        }
        other => panic!("expected a Stripe error, got {other}"),
    }
}

#[tokio::test]
async fn a_visa_payment_succeeds_in_one_confirm() {
    let (_e, client) = emulator().await;
    let pi = CreatePaymentIntent::new(1299, Currency::EUR)
        .payment_method("pm_card_visa")
        .confirm(true)
        .metadata(std::collections::HashMap::from([(
            "cart_id".to_owned(),
            "c-1".to_owned(),
        )]))
        .send(&client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
    assert_eq!((pi.amount, pi.amount_received), (1299, 1299));
    assert_eq!(pi.metadata.get("cart_id").map(String::as_str), Some("c-1"));
    assert!(pi.client_secret.as_deref().unwrap().starts_with(pi.id.as_str()));
    let again = RetrievePaymentIntent::new(pi.id.clone()).send(&client).await.unwrap();
    assert_eq!(again.status, PaymentIntentStatus::Succeeded);
}

#[tokio::test]
async fn a_declined_card_fails_and_a_retry_with_a_good_card_succeeds() {
    let (_e, client) = emulator().await;
    let pi = CreatePaymentIntent::new(5000, Currency::EUR)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    let err = ConfirmPaymentIntent::new(pi.id.clone())
        .payment_method("pm_card_chargeDeclined")
        .send(&client)
        .await
        .unwrap_err();
    assert_eq!(decline_code(&err).as_deref(), Some("card_declined"));
    let after = RetrievePaymentIntent::new(pi.id.clone()).send(&client).await.unwrap();
    assert_eq!(after.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert!(
        after.last_payment_error.is_some(),
        "the failure is recorded on the intent"
    );
    let paid = ConfirmPaymentIntent::new(pi.id.clone())
        .payment_method("pm_card_visa")
        .send(&client)
        .await
        .unwrap();
    assert_eq!(paid.status, PaymentIntentStatus::Succeeded);
}

#[tokio::test]
async fn manual_capture_holds_then_captures_and_cancel_rules_hold() {
    let (_e, client) = emulator().await;
    let pi = CreatePaymentIntent::new(2000, Currency::USD)
        .capture_method(PaymentIntentCaptureMethod::Manual)
        .payment_method("pm_card_visa")
        .confirm(true)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(
        (pi.status, pi.amount_capturable),
        (PaymentIntentStatus::RequiresCapture, 2000)
    );
    let captured = CapturePaymentIntent::new(pi.id.clone()).send(&client).await.unwrap();
    assert_eq!(
        (captured.status, captured.amount_received),
        (PaymentIntentStatus::Succeeded, 2000)
    );
    // A succeeded intent cannot be canceled; an unpaid one can.
    assert!(CancelPaymentIntent::new(pi.id.clone()).send(&client).await.is_err());
    let open = CreatePaymentIntent::new(700, Currency::EUR)
        .send(&client)
        .await
        .unwrap();
    let canceled = CancelPaymentIntent::new(open.id.clone()).send(&client).await.unwrap();
    assert_eq!(canceled.status, PaymentIntentStatus::Canceled);
    // Update changes the amount while unpaid.
    let fresh = CreatePaymentIntent::new(100, Currency::EUR)
        .send(&client)
        .await
        .unwrap();
    let updated = UpdatePaymentIntent::new(fresh.id.clone())
        .amount(150)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(updated.amount, 150);
}

#[tokio::test]
async fn idempotency_keys_follow_stripes_rules() {
    let (e, _client) = emulator().await;
    let url = e.url();
    let same = idempotent(&url, "cart-1-1299");
    let a = CreatePaymentIntent::new(1299, Currency::EUR).send(&same).await.unwrap();
    let b = CreatePaymentIntent::new(1299, Currency::EUR).send(&same).await.unwrap();
    assert_eq!(a.id, b.id, "same key and parameters: the first response again");
    assert_eq!(e.state.store.lock().unwrap().intents.len(), 1);
    // The same parameters in another order are the same request (a map's iteration order
    // differs between two maps with the same entries).
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for body in [
        "amount=500&currency=eur&metadata[a]=1&metadata[b]=2",
        "metadata[b]=2&currency=eur&metadata[a]=1&amount=500",
    ] {
        let r: serde_json::Value = http
            .post(format!("{url}v1/payment_intents"))
            .bearer_auth(KEY)
            .header("idempotency-key", "cart-2-500")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["id"].as_str().map(str::to_owned));
    }
    assert!(ids[0].is_some() && ids[0] == ids[1], "{ids:?}");
    let err = CreatePaymentIntent::new(1300, Currency::EUR)
        .send(&same)
        .await
        .unwrap_err();
    match err {
        StripeError::Stripe(api, status) => {
            assert_eq!(status, 400);
            assert_eq!(api.type_.as_str(), "idempotency_error");
        }
        other => panic!("{other}"),
    }
    // A wrong API key is refused.
    let bad = ClientBuilder::new("sk_test_wrong").url(url).build().unwrap();
    assert!(matches!(
        RetrievePaymentIntent::new(a.id.clone()).send(&bad).await,
        Err(StripeError::Stripe(_, 401))
    ));
}

fn api_code(e: StripeError) -> (u16, String) {
    match e {
        StripeError::Stripe(api, status) => (
            status,
            api.code.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default(),
        ),
        other => panic!("expected a Stripe error, got {other}"),
    }
}

#[tokio::test]
async fn partial_repeated_and_full_refunds_never_exceed_the_capture() {
    use stripe_core::refund::{CreateRefund, RetrieveRefund};
    let (_e, client) = emulator().await;
    let pi = CreatePaymentIntent::new(5000, Currency::EUR)
        .payment_method("pm_card_visa")
        .confirm(true)
        .send(&client)
        .await
        .unwrap();
    let first = CreateRefund::new()
        .payment_intent(pi.id.as_str())
        .amount(1000)
        .send(&client)
        .await
        .unwrap();
    assert_eq!((first.amount, first.status.as_deref()), (1000, Some("succeeded")));
    CreateRefund::new()
        .payment_intent(pi.id.as_str())
        .amount(1500)
        .send(&client)
        .await
        .unwrap();
    let too_much = CreateRefund::new()
        .payment_intent(pi.id.as_str())
        .amount(3000)
        .send(&client)
        .await
        .unwrap_err();
    assert_eq!(api_code(too_much), (400, "amount_too_large".into()));
    let rest = CreateRefund::new()
        .payment_intent(pi.id.as_str())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(rest.amount, 2500, "no amount: the remainder");
    let again = CreateRefund::new()
        .payment_intent(pi.id.as_str())
        .send(&client)
        .await
        .unwrap_err();
    assert_eq!(api_code(again), (400, "charge_already_refunded".into()));
    let fetched = RetrieveRefund::new(first.id.clone()).send(&client).await.unwrap();
    assert_eq!(fetched.amount, 1000);
    // Nothing to refund on an unpaid intent.
    let unpaid = CreatePaymentIntent::new(900, Currency::EUR)
        .send(&client)
        .await
        .unwrap();
    assert!(
        CreateRefund::new()
            .payment_intent(unpaid.id.as_str())
            .send(&client)
            .await
            .is_err()
    );
}
