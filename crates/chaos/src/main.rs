//! `make chaos`: ordo under load while its processes, its broker and its database fail — then
//! proof that no order, payment, refund or event was lost or applied twice.
//!
//! It starts a PostgreSQL cluster and a NATS server of its own (spare ports, temporary folders:
//! the machine's are never touched), the Stripe emulator (webhooks spread over both payment
//! replicas) and two replicas of every service, seeds a shop, and runs customers checking out
//! (some never completing after paying), operators shipping and refunding, customers
//! downloading — while `driver` kills, freezes and restarts things. Afterwards it waits for
//! everything to drain (`settle`) and checks `invariants`, printing both tables; the exit code
//! is 1 when an invariant fails. Logs: `target/chaos/logs/`; report: `target/chaos/report.json`.
//!
//! `ORDO_CHAOS_SECS` (default 150) is the length of the run, `ORDO_CHAOS_KILL_EVERY` (10) the
//! seconds between replica kills, `ORDO_CHAOS_WORKERS` (6) the customers at once,
//! `ORDO_CHAOS_DELETE` (8) the messages deleted from the stream. `.ci/run` runs a one-minute
//! variant.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test harness fails loudly

mod driver;
mod invariants;
mod load;
mod settle;
mod stack;

use load::{Api, Catalog};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    ordo_auth::install_crypto_provider();
    // Every server and process of the run is dropped (killed, its folder removed) inside `run`.
    let code = match run().await {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(why) => {
            eprintln!("chaos: {why}");
            2
        }
    };
    std::process::exit(code);
}

/// The whole run: Ok(true) when every invariant held.
async fn run() -> Result<bool, String> {
    let plan = driver::Plan {
        secs: env_u64("ORDO_CHAOS_SECS", 150).max(30),
        kill_every: env_u64("ORDO_CHAOS_KILL_EVERY", 10).max(3),
        delete: usize::try_from(env_u64("ORDO_CHAOS_DELETE", 8)).unwrap_or(8),
    };
    let workers = env_u64("ORDO_CHAOS_WORKERS", 6).max(1);
    let started = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.canonicalize().unwrap_or(root).join("target/chaos");
    let _ = std::fs::remove_dir_all(&dir);

    let pg = ordo_testkit::peers::PgCluster::start(&["max_connections = 200", "shared_buffers = 128MB"]);
    let mut nats = ordo_testkit::peers::NatsServer::start().await;
    ordo_migrate::bootstrap(&pg.admin_url, stack::DATABASE)
        .await
        .map_err(|e| format!("bootstrap: {e}"))?;
    let owner = ordo_migrate::replace_user(
        &ordo_migrate::replace_database(&pg.admin_url, stack::DATABASE),
        ordo_migrate::OWNER_ROLE,
    );
    ordo_migrate::migrate(&owner)
        .await
        .map_err(|e| format!("migrate: {e}"))?;
    let bus = ordo_testkit::TestBus::authenticated(&nats).await;
    let mut stack = stack::Stack::start(&pg, &nats, &dir).await;
    println!(
        "chaos: PostgreSQL on {}, NATS on {}, {} replicas up; {} s of chaos, a kill every {} s, {workers} customers at once",
        pg.port,
        nats.url,
        stack.replicas.len(),
        plan.secs,
        plan.kill_every
    );
    let api = Api::new(stack.bases("order"), stack.bases("delivery"), stack.emulator.clone());
    let catalog = Arc::new(
        load::seed(&api, 5)
            .await
            .map_err(|e| format!("seeding the shop: {e}"))?,
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (after_tx, after_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let after_rx = Arc::new(tokio::sync::Mutex::new(after_rx));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (api, catalog, stop, after) = (api.clone(), catalog.clone(), stop.clone(), after_tx.clone());
        tasks.push(tokio::spawn(
            async move { customer(&api, &catalog, &stop, &after).await },
        ));
    }
    drop(after_tx);
    for _ in 0..2 {
        let (api, catalog, stop, rx) = (api.clone(), catalog.clone(), stop.clone(), after_rx.clone());
        tasks.push(tokio::spawn(async move { operator(&api, &catalog, &stop, &rx).await }));
    }

    let done = driver::run(plan, &mut stack, &mut nats, &pg, &bus.bus).await;
    let chaos_over = Instant::now();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    driver::calm(&mut stack).await;
    for r in &stack.replicas {
        if !r.wait_ready(Duration::from_secs(60)).await {
            println!("chaos: {} not ready after the run:\n{}", r.name(), r.log_tail());
        }
    }
    let su = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&ordo_migrate::replace_database(&pg.admin_url, stack::DATABASE))
        .await
        .map_err(|e| format!("connecting to check: {e}"))?;
    // Measured from the end of the chaos (the customers finish the checkouts they began).
    let drained = settle::drain(&su, &stack.emulator, chaos_over, Duration::from_secs(60)).await;
    let stripe = settle::stripe(&stack.emulator).await;
    let record = api
        .record
        .lock()
        .map(|mut r| std::mem::take(&mut *r))
        .unwrap_or_default();
    let mut checks = invariants::check(&su, &stripe, &record, &catalog, &done.deleted).await;
    checks.insert(
        0,
        invariants::Check {
            name: "every event published and consumed ≤ 60 s after the chaos",
            checked: 1,
            violations: match drained {
                Some(_) => Vec::new(),
                None => vec!["work left after 60 s (see the inbox = outbox line)".into()],
            },
        },
    );
    checks.push(invariants::Check {
        name: "every client request answered within 45 s of retries",
        checked: record.completed.len() + record.abandoned_paid.len() + record.gave_up.len(),
        violations: record.gave_up.iter().map(|(step, e)| format!("{step}: {e}")).collect(),
    });
    // A failure the system expects (a replica gone, the database restarting) is a 503 to retry;
    // a 500 says something was not handled.
    let internal = record.retried.get("HTTP 500").copied().unwrap_or(0);
    checks.push(invariants::Check {
        name: "no 500 (internal error) answered to a client",
        checked: usize::try_from(record.retried.values().sum::<u64>()).unwrap_or(0),
        violations: (internal > 0)
            .then(|| format!("{internal} answers were 500: see `internal error` in target/chaos/logs"))
            .into_iter()
            .collect(),
    });
    let republished = settle::republished(&su).await;
    let report = report(
        &done,
        &record,
        &stripe,
        &checks,
        drained,
        republished,
        started.elapsed(),
    );
    let _ = std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    );
    let failed = checks.iter().any(|c| !c.violations.is_empty());
    su.close().await;
    if failed {
        println!("chaos: FAILED (logs in {})", dir.join("logs").display());
    } else {
        println!("chaos: passed in {:.0} s", started.elapsed().as_secs_f64());
    }
    Ok(!failed)
}

/// A customer: checkouts, one after another, until the run ends. Some (8 %) never complete
/// after paying; a third of the completed orders go on to the operator.
async fn customer(api: &Api, catalog: &Catalog, stop: &AtomicBool, after: &tokio::sync::mpsc::UnboundedSender<String>) {
    while !stop.load(Ordering::SeqCst) {
        let abandon = rand::random_bool(0.08);
        match api.checkout(catalog, abandon).await {
            Ok((cart, Some(order))) => {
                if rand::random_bool(0.35) {
                    let _ = after.send(order.clone());
                }
                if let Ok(mut r) = api.record.lock() {
                    r.completed.insert(cart, order);
                }
            }
            Ok((cart, None)) => {
                if let Ok(mut r) = api.record.lock() {
                    r.abandoned_paid.push(cart);
                }
            }
            Err(e) => {
                if let Ok(mut r) = api.record.lock() {
                    r.gave_up.push(e);
                }
            }
        }
    }
}

/// The operator (and the customers' downloads): for orders handed over, once paid: download,
/// ship, and for a fifth of them refund part or all.
async fn operator(
    api: &Api,
    catalog: &Catalog,
    stop: &AtomicBool,
    rx: &tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<String>>,
) {
    loop {
        let next = { rx.lock().await.recv().await };
        let Some(order) = next else { return };
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let refund = rand::random_bool(0.2).then(|| if rand::random_bool(0.5) { 1.0 } else { 0.3 });
        if let Err(e) = api.after_payment(catalog, &order, refund).await
            && let Ok(mut r) = api.record.lock()
        {
            r.gave_up.push(("after payment".into(), e));
        }
    }
}

fn report(
    done: &driver::Done,
    record: &load::Record,
    stripe: &settle::Stripe,
    checks: &[invariants::Check],
    drained: Option<Duration>,
    republished: i64,
    elapsed: Duration,
) -> serde_json::Value {
    let retried: u64 = record.retried.values().sum();
    println!();
    println!("what happened                              count");
    let rows: Vec<(String, String)> = vec![
        ("replicas killed (SIGKILL) and restarted".into(), done.kills.to_string()),
        (
            "replicas frozen (SIGSTOP) past ack wait".into(),
            done.freezes.to_string(),
        ),
        ("NATS killed and restarted".into(), done.nats_restarts.to_string()),
        ("PostgreSQL restarted (fast)".into(), done.pg_restarts.to_string()),
        (
            "webhook bursts held and shuffled".into(),
            done.webhook_holds.to_string(),
        ),
        ("stream messages deleted".into(), done.deleted.len().to_string()),
        ("events published again (lost check)".into(), republished.to_string()),
        ("orders completed (2xx)".into(), record.completed.len().to_string()),
        (
            "paid carts left uncompleted".into(),
            record.abandoned_paid.len().to_string(),
        ),
        ("PaymentIntents".into(), stripe.intents.len().to_string()),
        (
            "refunds asked / at Stripe".into(),
            format!("{} / {}", record.refunds.len(), stripe.refunds.len()),
        ),
        (
            "shipments / downloads".into(),
            format!("{} / {}", record.shipments.len(), record.downloads.len()),
        ),
        ("client attempts retried".into(), retried.to_string()),
        ("client requests given up".into(), record.gave_up.len().to_string()),
        (
            "drained, counted from the end of the chaos".into(),
            drained.map_or("not within 60 s".into(), |d| format!("{:.1} s", d.as_secs_f64())),
        ),
        ("whole run".into(), format!("{:.0} s", elapsed.as_secs_f64())),
    ];
    for (k, v) in &rows {
        println!("{k:<42} {v}");
    }
    for (kind, n) in &record.retried {
        println!("  retried: {kind:<36} {n}");
    }
    for (step, e) in record.gave_up.iter().take(10) {
        println!("  gave up at {step}: {}", e.chars().take(200).collect::<String>());
    }
    for (order, status) in &record.download_failures {
        println!("  download of order {order} refused: {status}");
    }
    println!();
    println!("{:<66} {:>8} {:>10}", "invariant", "checked", "violations");
    for c in checks {
        println!("{:<66} {:>8} {:>10}", c.name, c.checked, c.violations.len());
        for v in c.violations.iter().take(10) {
            println!("    ✗ {v}");
        }
    }
    json!({
        "happened": rows.iter().map(|(k, v)| json!({"what": k, "count": v})).collect::<Vec<_>>(),
        "retried": record.retried,
        "gave_up": record.gave_up,
        "chaos_log": done.log,
        "invariants": checks.iter().map(|c| json!({"name": c.name, "checked": c.checked, "violations": c.violations})).collect::<Vec<_>>(),
    })
}
