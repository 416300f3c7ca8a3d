//! The chaos driver: a timeline of faults over the run, carried out while the load runs.
//!
//! * every `kill_every` seconds a random replica is killed (SIGKILL) and started again 1–3 s
//!   later (never both replicas of a service at once);
//! * once, a replica is frozen (SIGSTOP) for longer than the consumers' ack wait, then resumed:
//!   JetStream hands its unacknowledged messages to the other replica meanwhile;
//! * NATS is killed and started again (same store);
//! * PostgreSQL is restarted (fast shutdown: open transactions roll back, connections drop);
//! * the Stripe emulator duplicates webhooks (1–3 copies), drops some API responses after
//!   committing them, and now and then holds webhooks and releases them shuffled;
//! * messages are deleted from the order stream behind the consumers' backs (the delivery
//!   replicas frozen meanwhile, so they never saw them): the lost-event check must notice.

use crate::stack::{ACK_WAIT_SECS, Stack};
use ordo_testkit::peers::{NatsServer, PgCluster};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub secs: u64,
    pub kill_every: u64,
    /// Messages to delete from the order stream.
    pub delete: usize,
}

/// What the driver did.
#[derive(Debug, Default)]
pub struct Done {
    pub kills: u64,
    pub freezes: u64,
    pub nats_restarts: u64,
    pub pg_restarts: u64,
    pub webhook_holds: u64,
    /// Events whose messages were deleted from the stream: (event id, subject).
    pub deleted: Vec<(Uuid, String)>,
    pub log: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Kill,
    Freeze,
    RestartNats,
    RestartPostgres,
    HoldWebhooks,
    DeleteMessages,
}

fn timeline(plan: Plan) -> Vec<(f64, Action)> {
    let d = plan.secs as f64;
    let mut t = vec![
        (0.15 * d, Action::Freeze),
        (0.35 * d, Action::RestartNats),
        (0.45 * d, Action::HoldWebhooks),
        (0.6 * d, Action::RestartPostgres),
        (0.7 * d, Action::DeleteMessages),
        (0.85 * d, Action::HoldWebhooks),
    ];
    let mut at = plan.kill_every as f64 / 2.0;
    while at < d - 5.0 {
        t.push((at, Action::Kill));
        at += plan.kill_every as f64;
    }
    t.sort_by(|a, b| a.0.total_cmp(&b.0));
    t
}

async fn faults(http: &reqwest::Client, emulator: &str, f: Value) {
    let _ = http.post(format!("{emulator}_emulator/faults")).json(&f).send().await;
}

/// The emulator's misbehaviour during the run.
fn stormy(hold: bool) -> Value {
    json!({"copies_min": 1, "copies_max": 3, "drop_response_rate": 0.03, "hold": hold,
           "max_attempts": 14, "retry_base_ms": 200})
}

pub async fn run(plan: Plan, stack: &mut Stack, nats: &mut NatsServer, pg: &PgCluster, bus: &ordo_bus::Bus) -> Done {
    let http = reqwest::Client::new();
    let mut done = Done::default();
    faults(&http, &stack.emulator, stormy(false)).await;
    let start = Instant::now();
    let say = |done: &mut Done, what: String| {
        let line = format!("{:>6.1}s  {what}", start.elapsed().as_secs_f64());
        println!("chaos: {line}");
        done.log.push(line);
    };
    for (at, action) in timeline(plan) {
        let wait = Duration::from_secs_f64(at).saturating_sub(start.elapsed());
        tokio::time::sleep(wait).await;
        match action {
            Action::Kill => {
                let candidates: Vec<usize> = (0..stack.replicas.len())
                    .filter(|&i| {
                        let r = &stack.replicas[i];
                        r.is_running()
                            && !r.frozen
                            && stack
                                .replicas
                                .iter()
                                .filter(|o| o.service == r.service)
                                .all(|o| o.is_running())
                    })
                    .collect();
                let Some(&i) = candidates.choose(&mut rand::rng()) else {
                    continue;
                };
                let down = rand::rng().random_range(1_000..3_000);
                stack.replicas[i].kill9();
                say(
                    &mut done,
                    format!("kill -9 {}; back in {down} ms", stack.replicas[i].name()),
                );
                tokio::time::sleep(Duration::from_millis(down)).await;
                stack.replicas[i].restart();
                done.kills += 1;
            }
            Action::Freeze => {
                let i = rand::rng().random_range(0..stack.replicas.len());
                if !stack.replicas[i].is_running() {
                    continue;
                }
                let secs = ACK_WAIT_SECS + 5;
                stack.replicas[i].freeze();
                say(
                    &mut done,
                    format!(
                        "SIGSTOP {} for {secs} s (ack wait {ACK_WAIT_SECS} s)",
                        stack.replicas[i].name()
                    ),
                );
                tokio::time::sleep(Duration::from_secs(secs)).await;
                stack.replicas[i].thaw();
                done.freezes += 1;
            }
            Action::RestartNats => {
                nats.kill();
                say(&mut done, "kill -9 nats-server; back in 2 s".into());
                tokio::time::sleep(Duration::from_secs(2)).await;
                nats.resume().await;
                done.nats_restarts += 1;
            }
            Action::RestartPostgres => {
                say(&mut done, "PostgreSQL fast shutdown; back in 3 s".into());
                pg.stop_fast();
                tokio::time::sleep(Duration::from_secs(3)).await;
                pg.resume();
                done.pg_restarts += 1;
            }
            Action::HoldWebhooks => {
                faults(&http, &stack.emulator, stormy(true)).await;
                say(&mut done, "Stripe webhooks held for 4 s, then released shuffled".into());
                tokio::time::sleep(Duration::from_secs(4)).await;
                faults(&http, &stack.emulator, stormy(false)).await;
                let _ = http
                    .post(format!("{}_emulator/webhooks/release", stack.emulator))
                    .send()
                    .await;
                done.webhook_holds += 1;
            }
            Action::DeleteMessages => {
                let deleted = delete_messages(stack, bus, plan.delete).await;
                say(
                    &mut done,
                    format!(
                        "deleted {} order events from the stream while delivery was frozen",
                        deleted.len()
                    ),
                );
                done.deleted.extend(deleted);
            }
        }
    }
    let rest = Duration::from_secs(plan.secs).saturating_sub(start.elapsed());
    tokio::time::sleep(rest).await;
    done
}

/// Freeze both delivery replicas, let order events pile up, delete up to `n` of the newest
/// `order.paid` messages (those delivery acts on), resume delivery.
async fn delete_messages(stack: &mut Stack, bus: &ordo_bus::Bus, n: usize) -> Vec<(Uuid, String)> {
    let delivery: Vec<usize> = (0..stack.replicas.len())
        .filter(|&i| stack.replicas[i].service == "delivery" && stack.replicas[i].is_running())
        .collect();
    for &i in &delivery {
        stack.replicas[i].freeze();
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut deleted = Vec::new();
    if let Ok(mut stream) = bus
        .jetstream()
        .get_stream(bus.stream_name(ordo_events::Context::Order))
        .await
        && let Ok(info) = stream.info().await
    {
        let last = info.state.last_sequence;
        let mut seq = last;
        while seq > last.saturating_sub(200) && deleted.len() < n {
            if let Ok(msg) = stream.get_raw_message(seq).await
                && bus.local_subject(&msg.subject) == "ordo.order.v1.paid"
            {
                let id = msg
                    .headers
                    .get(ordo_events::headers::EVENT_ID)
                    .and_then(|v| Uuid::parse_str(v.as_str()).ok());
                if let Some(id) = id
                    && stream.delete_message(seq).await.unwrap_or(false)
                {
                    deleted.push((id, msg.subject.to_string()));
                }
            }
            seq -= 1;
        }
    }
    for &i in &delivery {
        stack.replicas[i].thaw();
    }
    deleted
}

/// After the run: every replica running and thawed, the emulator well-behaved again with
/// anything it held sent.
pub async fn calm(stack: &mut Stack) {
    let http = reqwest::Client::new();
    faults(&http, &stack.emulator, json!({})).await;
    let _ = http
        .post(format!("{}_emulator/webhooks/release", stack.emulator))
        .send()
        .await;
    for r in &mut stack.replicas {
        if r.frozen {
            r.thaw();
        }
        if !r.is_running() {
            r.restart();
        }
    }
}
