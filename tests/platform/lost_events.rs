//! Lost-in-the-broker recovery: events deleted from the stream behind the consumer's back are
//! found by the consumer's check (published by the producer, in neither its inbox nor its dead
//! letters), published again by the producer's relay under broker ids of their own, and applied
//! once each.

use crate::support::*;
use ordo_bus::consumer::{Consumer, ConsumerSpec};
use ordo_bus::lost_events::LostCheck;
use ordo_bus::outbox::Outbox;
use ordo_bus::relay::Relay;
use ordo_config::ServiceConfig;
use ordo_events::Context;
use ordo_testkit::{TestBus, TestDb};
use std::collections::HashSet;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_broker_lost_are_found_and_published_again() {
    let db = TestDb::create().await;
    let bus = TestBus::create().await;
    let superuser = db.superuser_pool().await;
    create_effects_table(&superuser).await;
    sqlx::raw_sql("grant select, insert on orders.test_effects to ordo_payment")
        .execute(&superuser)
        .await
        .unwrap();
    let producer = db.pool_for("ordo_order", 4).await;
    // The consumer is another service: it reaches the order outbox only through its functions.
    let consumer_pool = db.pool_for("ordo_payment", 4).await;
    let tenant = Uuid::now_v7();

    let mut cfg = ServiceConfig::defaults("payment", 0);
    cfg.outbox.poll_interval_ms = 100;
    cfg.consumer.lost_check_grace_secs = 0;
    let relaying = tokio::spawn(Relay::new(producer.clone(), bus.bus.clone(), "orders", &cfg.outbox).run());
    let outbox = Outbox::new("orders");
    let mut sent = Vec::new();
    let mut tx = producer.begin().await.unwrap();
    for i in 0..20 {
        sent.push(
            outbox
                .enqueue(&mut tx, &paid_event(tenant, &format!("o-{i}")))
                .await
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    assert!(
        count_reaches(
            &superuser,
            "select count(*) from orders.outbox where published_at is not null",
            20,
            10
        )
        .await
    );

    // The broker loses five of them before the consumer reads any.
    let stream = bus
        .bus
        .jetstream()
        .get_stream(bus.bus.stream_name(Context::Order))
        .await
        .unwrap();
    for seq in [2u64, 3, 9, 15, 20] {
        assert!(stream.delete_message(seq).await.unwrap());
    }
    let lost: HashSet<Uuid> = [2usize, 3, 9, 15, 20].iter().map(|s| sent[s - 1]).collect();

    let spec = ConsumerSpec {
        schema: "payments".into(),
        ..order_events_spec("lost_test")
    };
    let consumer = Consumer::new(spec, cfg.consumer.clone(), consumer_pool, bus.bus.clone(), RecordEffect);
    let consuming = tokio::spawn(consumer.clone().run());
    assert!(eventually(20, || async { effects(&superuser).await.len() == 15 }).await);
    assert!(
        effects(&superuser).await.iter().all(|id| !lost.contains(id)),
        "a deleted message was consumed"
    );

    // The check finds exactly the five, and the relay sends them again.
    let found = match consumer.check_lost(None).await.unwrap() {
        LostCheck::Checked { republished, .. } => republished,
        LostCheck::Deferred => panic!("check deferred with nothing pending"),
    };
    assert_eq!(found.iter().copied().collect::<HashSet<_>>(), lost);
    let all_applied = eventually(20, || async { effects(&superuser).await.len() >= 20 }).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let got = effects(&superuser).await;
    assert!(
        all_applied,
        "only {} of 20 events applied after the re-publish",
        got.len()
    );
    assert_eq!(got.len(), 20, "an event was applied twice");
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), sent.iter().copied().collect());
    let republished: i64 = sqlx::query_scalar("select count(*) from orders.outbox where republished = 1")
        .fetch_one(&superuser)
        .await
        .unwrap();
    assert_eq!(republished, 5);

    // A second check over the same window finds nothing: every event is in the inbox now.
    match consumer.check_lost(None).await.unwrap() {
        LostCheck::Checked { republished, .. } => assert!(republished.is_empty(), "{republished:?}"),
        LostCheck::Deferred => panic!("check deferred with nothing pending"),
    }
    consuming.abort();
    relaying.abort();
}

#[tokio::test]
async fn another_service_may_only_call_the_outbox_check_functions() {
    let db = TestDb::create().await;
    let delivery = db.pool_for("ordo_delivery", 1).await;
    let n: i64 =
        sqlx::query_scalar("select count(*) from orders.published_events(null, now() - interval '1 hour', now())")
            .fetch_one(&delivery)
            .await
            .unwrap();
    assert_eq!(n, 0);
    for sql in [
        "select count(*) from orders.outbox",
        "update orders.outbox set published_at = null",
        "select count(*) from orders.inbox",
    ] {
        let err = sqlx::query(sql).execute(&delivery).await.unwrap_err();
        assert_eq!(
            err.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "{sql}: {err}"
        );
    }
}
