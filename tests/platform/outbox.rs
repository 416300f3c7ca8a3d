//! Outbox + relay: 10,000 events committed while the relay is repeatedly killed mid-batch are
//! each consumed exactly once, none lost.

use crate::support::*;
use ordo_bus::consumer::Consumer;
use ordo_bus::outbox::Outbox;
use ordo_bus::relay::Relay;
use ordo_config::ServiceConfig;
use ordo_events::Context;
use ordo_testkit::{TestBus, TestDb};
use rand::Rng;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_survive_relay_kills_exactly_once() {
    let db = TestDb::create().await;
    let bus = TestBus::create().await;
    let superuser = db.superuser_pool().await;
    create_effects_table(&superuser).await;
    let pool = db.pool_for("ordo_order", 8).await;
    let tenant = Uuid::now_v7();

    // Commit 10,000 events through the outbox, 100 per transaction.
    let outbox = Outbox::new("orders");
    let mut sent = HashSet::new();
    for chunk in 0..100 {
        let mut tx = pool.begin().await.unwrap();
        for i in 0..100 {
            let e = paid_event(tenant, &format!("o-{chunk}-{i}"));
            sent.insert(outbox.enqueue(&mut tx, &e).await.unwrap());
        }
        tx.commit().await.unwrap();
    }
    assert_eq!(sent.len(), 10_000);

    let mut cfg = ServiceConfig::defaults("order", 0);
    cfg.outbox.batch_size = 200;
    cfg.outbox.poll_interval_ms = 100;
    cfg.consumer.batch_size = 200;
    cfg.consumer.concurrency = 8;
    let consumer = Consumer::new(
        order_events_spec("outbox_test"),
        cfg.consumer.clone(),
        pool.clone(),
        bus.bus.clone(),
        RecordEffect,
    );
    let consuming = tokio::spawn(consumer.run());

    // Start the relay and kill it abruptly, several times, mid-way.
    let mut rng = rand::rng();
    for _ in 0..6 {
        let relay = Relay::new(pool.clone(), bus.bus.clone(), "orders", &cfg.outbox);
        let task = tokio::spawn(relay.run());
        tokio::time::sleep(Duration::from_millis(rng.random_range(5..60))).await;
        task.abort();
        let _ = task.await;
    }
    let unpublished_after_kills: i64 =
        sqlx::query_scalar("select count(*) from orders.outbox where published_at is null")
            .fetch_one(&superuser)
            .await
            .unwrap();
    assert!(
        unpublished_after_kills > 0,
        "the kills should leave work for the final relay (test would not prove anything)"
    );

    let relay = Relay::new(pool.clone(), bus.bus.clone(), "orders", &cfg.outbox);
    let relaying = tokio::spawn(relay.run());

    let done = eventually(90, || async { effects(&superuser).await.len() >= 10_000 }).await;
    // Give any stray duplicate a moment to show up before judging.
    tokio::time::sleep(Duration::from_millis(500)).await;
    relaying.abort();
    consuming.abort();
    let got = effects(&superuser).await;
    assert!(done, "only {} of 10000 events consumed", got.len());
    assert_eq!(got.len(), 10_000, "an event was applied more than once");
    let got: HashSet<Uuid> = got.into_iter().collect();
    assert_eq!(got, sent, "consumed ids differ from committed ids");

    let unpublished: i64 = sqlx::query_scalar("select count(*) from orders.outbox where published_at is null")
        .fetch_one(&superuser)
        .await
        .unwrap();
    assert_eq!(unpublished, 0);
    // JetStream de-duplicated re-publishes by Nats-Msg-Id: the stream holds each event once.
    let mut stream = bus
        .bus
        .jetstream()
        .get_stream(bus.bus.stream_name(Context::Order))
        .await
        .unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 10_000);
}

#[tokio::test]
async fn relay_is_woken_by_commit_not_by_polling() {
    let db = TestDb::create().await;
    let bus = TestBus::create().await;
    let superuser = db.superuser_pool().await;
    let pool = db.pool_for("ordo_order", 4).await;
    let mut cfg = ServiceConfig::defaults("order", 0);
    cfg.outbox.poll_interval_ms = 60_000; // polling alone would take a minute
    let relay = tokio::spawn(Relay::new(pool.clone(), bus.bus.clone(), "orders", &cfg.outbox).run());
    tokio::time::sleep(Duration::from_millis(300)).await; // listener up

    let e = paid_event(Uuid::now_v7(), "o-1");
    let mut tx = pool.begin().await.unwrap();
    Outbox::new("orders").enqueue(&mut tx, &e).await.unwrap();
    tx.commit().await.unwrap();
    let published = count_reaches(
        &superuser,
        "select count(*) from orders.outbox where published_at is not null",
        1,
        5,
    )
    .await;
    relay.abort();
    assert!(published, "the commit's NOTIFY did not wake the relay");
}

#[tokio::test]
async fn rolled_back_events_are_never_published() {
    let db = TestDb::create().await;
    let pool = db.pool_for("ordo_order", 2).await;
    let mut tx = pool.begin().await.unwrap();
    Outbox::new("orders")
        .enqueue(&mut tx, &paid_event(Uuid::now_v7(), "o-1"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from orders.outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

/// The relay's LISTEN connection is its own, never one of the service pool's: a subscribed
/// connection handed back to the pool made later queries fail with "unexpected message:
/// NotificationResponse" after a PostgreSQL restart (seen in the chaos run).
#[tokio::test]
async fn the_listen_connection_is_never_borrowed_from_the_service_pool() {
    let db = TestDb::create().await;
    let su = db.superuser_pool().await;
    let pool = db.pool_for("ordo_order", 1).await;
    let held = pool.acquire().await.unwrap(); // the pool's only connection, busy
    let mut listener = tokio::time::timeout(Duration::from_secs(5), ordo_db::listener(&pool, "ordo_outbox_orders"))
        .await
        .expect("the listener waited for a connection of the pool")
        .unwrap();
    assert_eq!(pool.size(), 1);
    sqlx::query("select pg_notify('ordo_outbox_orders', '')")
        .execute(&su)
        .await
        .unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await;
    assert!(matches!(woke, Ok(Ok(_))), "{woke:?}");
    drop(listener);
    drop(held);
    // Notifications after the listener is gone reach nobody; the pool's connection works.
    sqlx::query("select pg_notify('ordo_outbox_orders', '')")
        .execute(&su)
        .await
        .unwrap();
    for _ in 0..3 {
        sqlx::query("select 1").execute(&pool).await.unwrap();
    }
}
