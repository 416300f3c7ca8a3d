//! `make bench`: measures the platform's event path on this machine, against the real
//! PostgreSQL and NATS, in a database and NATS namespace of its own.
//!
//! 1. Event hop: events committed one per transaction at a steady rate (like state changes);
//!    for each, the time from the source commit to the consumer's effect row (inbox and effect
//!    in one transaction) — p50/p95/p99/max. Budget (design.md): p99 under 50 ms.
//! 2. Throughput: a burst of events committed in batches, then the time until every effect is
//!    committed — events per second through outbox → relay → JetStream → consumer.
//! 3. Orders at scale: list/filter/sort/stats on a tenant with 1,000,000 orders, over HTTP, and
//!    the query plans (see `orders_at_scale.rs`).
//! 4. Checkout: the whole checkout against the services as release processes, at concurrency
//!    1, 8 and 32, hot SKU and spread (see `checkout/`).
//!
//! `ORDO_BENCH_ONLY=checkout` (or `events`, `scale`) runs one part.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark fails loudly

mod checkout;
mod orders_at_scale;

use ordo_bus::consumer::{Consumer, ConsumerSpec, Delivery, Handler, HandlerError};
use ordo_bus::outbox::Outbox;
use ordo_bus::relay::Relay;
use ordo_config::ServiceConfig;
use ordo_events::{Context, EventMetadata, order::v1::OrderPaid};
use sqlx::{PgConnection, PgPool};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

struct Record;

impl Handler for Record {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        sqlx::query("insert into orders.bench_effects (event_id, at_us) values ($1, (extract(epoch from clock_timestamp()) * 1e6)::bigint)")
            .bind(event.event_id)
            .execute(tx)
            .await?;
        Ok(())
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn event(tenant: Uuid) -> OrderPaid {
    OrderPaid {
        meta: Some(EventMetadata::for_event::<OrderPaid>(&tenant.to_string(), "o", 1)),
        order_id: Uuid::now_v7().to_string(),
        amount: Some(ordo_events::money(1299, "EUR")),
        ..Default::default()
    }
}

async fn count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from orders.bench_effects")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn wait_for(pool: &PgPool, n: i64, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while count(pool).await < n {
        assert!(Instant::now() < deadline, "timed out waiting for {n} effects");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn pct(sorted: &[i64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let only = std::env::var("ORDO_BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only == name;
    if part("events") {
        events().await;
    }
    // The order service's operator queries on a tenant with 1,000,000 orders.
    if part("scale") && std::env::var("ORDO_BENCH_SKIP_SCALE").is_err() {
        orders_at_scale::run().await;
    }
    if part("checkout") {
        checkout::run().await;
    }
}

/// 1 and 2: the event hop and throughput.
async fn events() {
    let db = ordo_testkit::TestDb::create().await;
    let bus = ordo_testkit::TestBus::create().await;
    let su = db.superuser_pool().await;
    sqlx::raw_sql(
        "create table orders.bench_effects (event_id uuid primary key, at_us bigint not null);
         grant select, insert on orders.bench_effects to ordo_order;",
    )
    .execute(&su)
    .await
    .unwrap();
    let pool = db.pool_for("ordo_order", 10).await;
    let cfg = ServiceConfig::defaults("order", 0);
    let relay = tokio::spawn(Relay::new(pool.clone(), bus.bus.clone(), "orders", &cfg.outbox).run());
    let spec = ConsumerSpec {
        name: "bench".into(),
        context: Context::Order,
        filter: "ordo.order.v1.>".into(),
        schema: "orders".into(),
    };
    let consumer = tokio::spawn(Consumer::new(spec, cfg.consumer.clone(), pool.clone(), bus.bus.clone(), Record).run());
    let outbox = Outbox::new("orders");
    let tenant = Uuid::now_v7();
    // Warm-up: a fresh durable consumer needs its first pull in place; time that separately.
    let cold = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    outbox.enqueue(&mut tx, &event(tenant)).await.unwrap();
    tx.commit().await.unwrap();
    wait_for(&su, 1, 30).await;
    println!(
        "cold start: first event consumed {:.1} ms after commit (new durable consumer)",
        cold.elapsed().as_secs_f64() * 1e3
    );
    for _ in 0..100 {
        let mut tx = pool.begin().await.unwrap();
        outbox.enqueue(&mut tx, &event(tenant)).await.unwrap();
        tx.commit().await.unwrap();
    }
    wait_for(&su, 101, 30).await;
    sqlx::query("truncate orders.bench_effects").execute(&su).await.unwrap();

    // 1. Event hop at a steady 300 events/s (2x the design's 150 orders/s), one commit each.
    let (rate, n) = (300u64, 3_000usize);
    let mut commits: Vec<(Uuid, i64)> = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let due = start + Duration::from_micros(i as u64 * 1_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let e = event(tenant);
        let mut tx = pool.begin().await.unwrap();
        let id = outbox.enqueue(&mut tx, &e).await.unwrap();
        tx.commit().await.unwrap();
        commits.push((id, now_us()));
    }
    wait_for(&su, n as i64, 60).await;
    let effects: std::collections::HashMap<Uuid, i64> =
        sqlx::query_as::<_, (Uuid, i64)>("select event_id, at_us from orders.bench_effects")
            .fetch_all(&su)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let mut hops: Vec<i64> = commits.iter().map(|(id, t)| effects[id] - t).collect();
    // Where do the slow hops fall in time? (clusters point at stalls, not steady cost)
    let slow: Vec<(usize, i64)> = commits
        .iter()
        .enumerate()
        .map(|(i, (id, t))| (i, effects[id] - t))
        .filter(|(_, h)| *h > 20_000)
        .collect();
    if !slow.is_empty() {
        let first = slow.iter().map(|(i, _)| *i).min().unwrap_or(0);
        let last = slow.iter().map(|(i, _)| *i).max().unwrap_or(0);
        println!("  hops over 20 ms: {} (event #{first}..#{last} of {n})", slow.len());
    }
    hops.sort_unstable();
    println!("event hop (commit -> consumer effect), {n} events at {rate}/s, one transaction each, after warm-up:");
    println!(
        "  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        pct(&hops, 0.50),
        pct(&hops, 0.95),
        pct(&hops, 0.99),
        pct(&hops, 1.0)
    );

    // 2. Throughput: 20,000 events committed in transactions of 100, as fast as possible.
    let burst = 20_000i64;
    let before = count(&su).await;
    let t0 = Instant::now();
    for _ in 0..(burst / 100) {
        let mut tx = pool.begin().await.unwrap();
        for _ in 0..100 {
            outbox.enqueue(&mut tx, &event(tenant)).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let committed = t0.elapsed();
    wait_for(&su, before + burst, 120).await;
    let total = t0.elapsed();
    println!(
        "throughput: {burst} events committed in {:.2} s; all consumed after {:.2} s => {:.0} events/s end to end",
        committed.as_secs_f64(),
        total.as_secs_f64(),
        burst as f64 / total.as_secs_f64()
    );
    relay.abort();
    consumer.abort();
}
