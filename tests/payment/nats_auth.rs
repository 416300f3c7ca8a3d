//! NATS is not an open door: on a TLS server with ordo's authorization (`deploy/local/nats-auth.conf`)
//! the whole checkout runs with each service as its own user, while a client without credentials
//! is refused and a service cannot publish outside its subjects (the order service cannot forge
//! `ordo.payment.v1.succeeded`) nor read another service's requests or replies.

use async_nats::jetstream;
use ordo_tests::stack::*;
use serde_json::json;
use std::time::Duration;

async fn connect_as(server: &ordo_testkit::peers::NatsServer, service: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .user_and_password(format!("ordo_{service}"), server.password(service))
        .custom_inbox_prefix(ordo_bus::inbox_prefix(service))
        .require_tls(true)
        .add_root_certificates(server.ca_file.clone().into())
        .connect(&server.url)
        .await
        .unwrap()
}

async fn messages(js: &jetstream::Context, stream: &str) -> u64 {
    js.get_stream(stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages
}

#[tokio::test]
async fn services_work_as_their_own_users_and_nobody_else_gets_in_or_forges_an_event() {
    let s = Stack::start_with(Options {
        authorized_nats: true,
        ..Default::default()
    })
    .await;
    let server = s.nats.as_ref().unwrap();

    // The checkout end to end through the authorized server: RPC order → payment, the payment
    // events, the order events the payment service consumes (a refund), each as its own user.
    let c = s.customer("nia");
    let cart = s.digital_cart(&c).await;
    let pi = s.session(&c, &cart).await["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.confirm(&pi, "pm_card_visa").await.0, 200);
    let id = s.complete(&c, &cart).await["id"].as_str().unwrap().to_owned();
    s.wait_order(&id, |o| status(&o["data"]) == "paid").await;
    let (code, doc) = s
        .shop
        .post(
            &format!("/admin/orders/{id}/refunds"),
            &s.admin(),
            json!({"data": {"type": "refunds", "attributes": {"amount": 46, "reason": "dent"}}}),
        )
        .await;
    assert_eq!(code, 202, "{doc}");
    s.wait_order(&id, |o| o["data"]["attributes"]["refunded_amount"] == 46)
        .await;

    // No credentials, or wrong ones, or no TLS: refused at the door.
    let tls = || {
        async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(server.ca_file.clone().into())
    };
    let anonymous = tls().connect(&server.url).await;
    assert!(anonymous.is_err(), "a client without credentials got in");
    let wrong = tls()
        .user_and_password("ordo_payment".into(), "guess".into())
        .connect(&server.url)
        .await;
    assert!(wrong.is_err(), "a wrong password got in");
    let plain = async_nats::ConnectOptions::new()
        .user_and_password("ordo_payment".into(), server.password("payment"))
        .connect(&server.url)
        .await;
    assert!(plain.is_err(), "a client without TLS got in");

    // The order service's user cannot publish a payment event: the stream never sees it.
    let order = connect_as(server, "order").await;
    let order_js = jetstream::new(order.clone());
    let before = messages(&order_js, "ORDO_PAYMENT").await;
    order
        .publish("ordo.payment.v1.succeeded", "forged".into())
        .await
        .unwrap();
    order.flush().await.unwrap();
    let forged = order_js
        .publish("ordo.payment.v1.succeeded", "forged".into())
        .await
        .unwrap();
    let acked = tokio::time::timeout(Duration::from_secs(2), forged)
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(!acked, "JetStream acknowledged a forged payment event");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        messages(&order_js, "ORDO_PAYMENT").await,
        before,
        "a forged event reached the stream"
    );
    // Its own subjects it may publish (the control: the same client, the same way).
    let own_before = messages(&order_js, "ORDO_ORDER").await;
    order.publish("ordo.order.v1.probe", "ok".into()).await.unwrap();
    order.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(messages(&order_js, "ORDO_ORDER").await, own_before + 1);

    // Nor may it listen in on the payment service's requests, its inbox or its events: while
    // a new session and a refund go through, those subscriptions receive nothing.
    let mut spies = Vec::new();
    for subject in ["ordo.rpc.payment.v1.>", "_INBOX_payment.>", "ordo.payment.v1.>"] {
        spies.push((subject, order.subscribe(subject).await.unwrap()));
    }
    let c2 = s.customer("ola");
    let cart2 = s.digital_cart(&c2).await;
    s.session(&c2, &cart2).await;
    let (code, _) = s
        .shop
        .post(
            &format!("/admin/orders/{id}/refunds"),
            &s.admin(),
            json!({"data": {"type": "refunds", "attributes": {"amount": 1, "reason": "dent"}}}),
        )
        .await;
    assert_eq!(code, 202);
    s.wait_order(&id, |o| o["data"]["attributes"]["refunded_amount"] == 47)
        .await;
    // The control: what it may do, it can — a request of its own gets its reply on its inbox.
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        order.request("ordo.rpc.payment.v1.create_session", "".into()),
    )
    .await;
    assert!(
        matches!(reply, Ok(Ok(_))),
        "the order service's own request got no reply: {reply:?}"
    );
    for (subject, mut spy) in spies {
        let heard = tokio::time::timeout(Duration::from_millis(500), futures::StreamExt::next(&mut spy)).await;
        assert!(
            !matches!(heard, Ok(Some(_))),
            "the order service's user heard {subject}"
        );
    }

    // The payment service's user cannot publish order events (e.g. a refund request).
    let payment = connect_as(server, "payment").await;
    let before = messages(&order_js, "ORDO_ORDER").await;
    payment
        .publish("ordo.order.v1.refund_requested", "forged".into())
        .await
        .unwrap();
    payment.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(messages(&order_js, "ORDO_ORDER").await, before);
}
