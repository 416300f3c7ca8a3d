//! Inbox: the same event delivered five times has one effect.

use crate::support::*;
use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use ordo_bus::consumer::Consumer;
use ordo_config::ServiceConfig;
use ordo_events::{Event, Message as _, headers, order::v1::OrderPaid};
use ordo_testkit::{TestBus, TestDb};
use std::time::Duration;
use uuid::Uuid;

/// Publish `event` straight to JetStream with the given broker id and event id headers.
async fn publish_raw(bus: &TestBus, event: &OrderPaid, msg_id: &str, event_id: Uuid) {
    let mut h = HeaderMap::new();
    h.insert(headers::MSG_ID, msg_id);
    h.insert(headers::EVENT_ID, event_id.to_string().as_str());
    let msg = PublishMessage::build().payload(event.encode_to_vec().into()).headers(h);
    let ack = bus
        .bus
        .jetstream()
        .send_publish(bus.bus.subject(OrderPaid::SUBJECT), msg)
        .await
        .unwrap();
    ack.await.unwrap();
}

#[tokio::test]
async fn same_event_delivered_five_times_has_one_effect() {
    let db = TestDb::create().await;
    let bus = TestBus::create().await;
    let superuser = db.superuser_pool().await;
    create_effects_table(&superuser).await;
    let pool = db.pool_for("ordo_order", 4).await;

    let event = paid_event(Uuid::now_v7(), "o-dup");
    let id = event_id(&event);
    let other = paid_event(Uuid::now_v7(), "o-other");
    // Five copies of one event. Each copy gets its own Nats-Msg-Id, as after a relay re-publish
    // outside JetStream's de-duplication window, so all five really reach the consumer; the
    // event id the inbox keys on is the same.
    for copy in 0..5 {
        publish_raw(&bus, &event, &format!("{id}-copy{copy}"), id).await;
    }
    publish_raw(&bus, &other, &event_id(&other).to_string(), event_id(&other)).await;

    let mut cfg = ServiceConfig::defaults("order", 0).consumer;
    cfg.concurrency = 5; // let the copies race each other
    let consumer = Consumer::new(
        order_events_spec("inbox_test"),
        cfg,
        pool.clone(),
        bus.bus.clone(),
        RecordEffect,
    );
    let task = tokio::spawn(consumer.run());
    let saw_other = eventually(20, || async { effects(&superuser).await.contains(&event_id(&other)) }).await;
    // All six messages must have been handled (acked) before judging.
    let drained = count_reaches(
        &superuser,
        "select count(*) from orders.inbox where consumer = 'inbox_test'",
        2,
        20,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = bus
        .bus
        .jetstream()
        .get_stream(bus.bus.stream_name(ordo_events::Context::Order))
        .await
        .unwrap();
    let consumer_info = info.consumer_info("inbox_test").await.unwrap();
    task.abort();
    assert!(saw_other && drained);
    assert_eq!(consumer_info.num_ack_pending, 0, "every copy was acknowledged");
    assert_eq!(
        consumer_info.delivered.stream_sequence, 6,
        "all six messages reached the consumer"
    );
    let all = effects(&superuser).await;
    assert_eq!(
        all.iter().filter(|e| **e == id).count(),
        1,
        "five deliveries, one effect"
    );
    assert_eq!(all.len(), 2);
}

/// Checks that it starts scoped to its own event's tenant as `service` (an event of another
/// tenant earlier in the same batch must not leave its scope behind), then records its effect.
struct ScopedRecord;

impl ordo_bus::consumer::Handler for ScopedRecord {
    async fn handle(
        &self,
        tx: &mut sqlx::PgConnection,
        event: &ordo_bus::consumer::Delivery,
    ) -> Result<(), ordo_bus::consumer::HandlerError> {
        let (tenant, user, role): (String, String, String) = sqlx::query_as(
            "select coalesce(current_setting('ordo.tenant_id', true), ''), coalesce(current_setting('ordo.user_id', true), ''),
                    coalesce(current_setting('ordo.role', true), '')",
        )
        .fetch_one(&mut *tx)
        .await?;
        let want = event.tenant_id.expect("tenant header").to_string();
        if (tenant.as_str(), user.as_str(), role.as_str()) != (want.as_str(), "", "service") {
            return Err(ordo_bus::consumer::HandlerError::Permanent(format!(
                "handler of a {want} event started scoped to {tenant:?}/{user:?}/{role:?}"
            )));
        }
        RecordEffect.handle(tx, event).await
    }
}

#[tokio::test]
async fn events_waiting_together_share_a_transaction_each_with_its_own_scope() {
    let db = TestDb::create().await;
    let bus = TestBus::create().await;
    let superuser = db.superuser_pool().await;
    create_effects_table(&superuser).await;
    let pool = db.pool_for("ordo_order", 4).await;
    // 200 events of four tenants, all published before the consumer starts.
    let tenants: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let events: Vec<OrderPaid> = (0..200)
        .map(|i| paid_event(tenants[i % 4], &format!("o-{i}")))
        .collect();
    let outbox = ordo_bus::outbox::Outbox::new("orders");
    let mut tx = pool.begin().await.unwrap();
    for e in &events {
        outbox.enqueue(&mut tx, e).await.unwrap();
    }
    tx.commit().await.unwrap();
    let cfg = ServiceConfig::defaults("order", 0);
    ordo_bus::relay::Relay::new(pool.clone(), bus.bus.clone(), "orders", &cfg.outbox)
        .publish_batch()
        .await
        .unwrap();
    let consumer = Consumer::new(
        order_events_spec("batch_test"),
        cfg.consumer.clone(),
        pool.clone(),
        bus.bus.clone(),
        ScopedRecord,
    );
    let task = tokio::spawn(consumer.run());
    let all = count_reaches(&superuser, "select count(*) from orders.test_effects", 200, 30).await;
    task.abort();
    let dead: i64 = sqlx::query_scalar("select count(*) from orders.dead_letters")
        .fetch_one(&superuser)
        .await
        .unwrap();
    assert_eq!(dead, 0, "every handler started scoped to its own event's tenant");
    assert!(all, "every event applied");
    let mut got = effects(&superuser).await;
    got.dedup();
    assert_eq!(got.len(), 200, "each once");
    // now() is the transaction's start: one value per transaction.
    let transactions: i64 =
        sqlx::query_scalar("select count(distinct processed_at) from orders.inbox where consumer = 'batch_test'")
            .fetch_one(&superuser)
            .await
            .unwrap();
    assert!(
        transactions <= 100,
        "200 waiting events took {transactions} transactions (batches of up to {})",
        cfg.consumer.transaction_batch
    );
}
