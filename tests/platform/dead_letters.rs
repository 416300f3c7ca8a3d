//! Dead letters: a handler that always fails puts the event in the dead-letter table after the
//! configured attempts; the consumer keeps going; replay applies it once the cause is fixed.

use crate::support::*;
use ordo_bus::consumer::{Consumer, Delivery, Handler, HandlerError, Outcome};
use ordo_bus::outbox::Outbox;
use ordo_bus::relay::Relay;
use ordo_config::ServiceConfig;
use ordo_events::order::v1::OrderPaid;
use ordo_testkit::{TestBus, TestDb};
use sqlx::{PgConnection, Row};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use uuid::Uuid;

/// Fails for order "poison" until `fixed` is set; records everything else.
#[derive(Clone)]
struct Flaky {
    fixed: Arc<AtomicBool>,
    poison_calls: Arc<AtomicU32>,
}

impl Handler for Flaky {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        let paid: OrderPaid = event.decode()?;
        if paid.order_id == "poison" {
            self.poison_calls.fetch_add(1, Ordering::SeqCst);
            if !self.fixed.load(Ordering::SeqCst) {
                return Err(HandlerError::Transient("inventory service says no".into()));
            }
        }
        RecordEffect.handle(tx, event).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_event_is_dead_lettered_after_attempts_and_replayed_once_fixed() {
    let db = TestDb::create().await;
    let bus = TestBus::create().await;
    let superuser = db.superuser_pool().await;
    create_effects_table(&superuser).await;
    let pool = db.pool_for("ordo_order", 4).await;
    let tenant = Uuid::now_v7();

    let outbox = Outbox::new("orders");
    let poison = paid_event(tenant, "poison");
    let mut tx = pool.begin().await.unwrap();
    outbox.enqueue(&mut tx, &poison).await.unwrap();
    let mut good = Vec::new();
    for i in 0..5 {
        let e = paid_event(tenant, &format!("good-{i}"));
        good.push(event_id(&e));
        outbox.enqueue(&mut tx, &e).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut cfg = ServiceConfig::defaults("order", 0);
    cfg.consumer.max_attempts = 3;
    cfg.consumer.backoff_initial_ms = 20;
    cfg.consumer.backoff_max_ms = 100;
    let handler = Flaky {
        fixed: Arc::new(AtomicBool::new(false)),
        poison_calls: Arc::new(AtomicU32::new(0)),
    };
    let spec = order_events_spec("dlq_test");
    let consumer = Consumer::new(
        spec.clone(),
        cfg.consumer.clone(),
        pool.clone(),
        bus.bus.clone(),
        handler.clone(),
    );
    let consuming = tokio::spawn(consumer.run());
    Relay::new(pool.clone(), bus.bus.clone(), "orders", &cfg.outbox)
        .publish_batch()
        .await
        .unwrap();

    let dead = count_reaches(&superuser, "select count(*) from orders.dead_letters", 1, 20).await;
    assert!(dead, "the poison event was not dead-lettered");
    // The consumer kept going with the next events (handled concurrently: some may still be
    // committing when the poison event is dead-lettered).
    assert!(count_reaches(&superuser, "select count(*) from orders.test_effects", 5, 20).await);
    let got = effects(&superuser).await;
    assert_eq!(got.len(), 5);
    assert!(good.iter().all(|g| got.contains(g)));
    let row = sqlx::query("select id, consumer, subject, event_id, attempts, error, payload from orders.dead_letters")
        .fetch_one(&superuser)
        .await
        .unwrap();
    assert_eq!(row.get::<i32, _>("attempts"), 3);
    assert_eq!(row.get::<String, _>("consumer"), "dlq_test");
    assert_eq!(row.get::<String, _>("subject"), "ordo.order.v1.paid");
    assert_eq!(row.get::<Uuid, _>("event_id"), event_id(&poison));
    assert!(row.get::<String, _>("error").contains("inventory service says no"));
    assert!(!row.get::<Vec<u8>, _>("payload").is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        handler.poison_calls.load(Ordering::SeqCst),
        3,
        "tried exactly max_attempts times, then stopped"
    );
    consuming.abort();

    // Still broken: replay records the error and leaves the letter pending.
    let dl_id: Uuid = row.get("id");
    let replayer = Consumer::new(
        spec,
        cfg.consumer.clone(),
        pool.clone(),
        bus.bus.clone(),
        handler.clone(),
    );
    assert!(replayer.replay(dl_id).await.is_err());
    let pending: Option<String> =
        sqlx::query_scalar("select replay_error from orders.dead_letters where replayed_at is null")
            .fetch_one(&superuser)
            .await
            .unwrap();
    assert!(pending.unwrap().contains("inventory"));

    // Fixed: replay applies it once, marks it replayed; a second replay finds nothing pending.
    handler.fixed.store(true, Ordering::SeqCst);
    assert_eq!(replayer.replay(dl_id).await.unwrap(), Outcome::Applied);
    assert!(effects(&superuser).await.contains(&event_id(&poison)));
    let replayed: bool = sqlx::query_scalar("select replayed_at is not null from orders.dead_letters where id = $1")
        .bind(dl_id)
        .fetch_one(&superuser)
        .await
        .unwrap();
    assert!(replayed);
    assert!(replayer.replay(dl_id).await.is_err());
    assert_eq!(effects(&superuser).await.len(), 6);
}
