//! The checkout benchmark (issue 16): the whole checkout, as a storefront does it, against the
//! services running as release binaries in processes of their own (see `processes.rs`).
//!
//! Each checkout, with a fresh customer token: create cart, add a line, e-mail + address,
//! shipping method, payment session, confirm at the Stripe emulator (as Stripe.js does, with the
//! publishable key and client secret), complete. The webhook then makes the order paid. Closed
//! loop: `c` workers, each starting its next checkout when the last one finished, for a window of
//! `ORDO_BENCH_CHECKOUT_SECS` seconds (default 30). Two product mixes: every order buys the same
//! variant (a hot SKU), or one of 1,000 variants. Reported per window: orders/s, latency per step,
//! checkout p50/p99, placed→paid p50/p99 (from the state history), database commits per order
//! (`pg_stat_database`), CPU milliseconds per order of each service, PostgreSQL, NATS and the load
//! generator (from /proc) and their sum (`all`: at 2 cores, 2,000 ms of CPU per second, so
//! `all` ≤ 13.3 ms is what 150 orders/s needs), resident memory per service; printed as a
//! table and written to `target/bench/checkout.json`.
//!
//! `ORDO_BENCH_CHECKOUT_CONCURRENCY=1,8,32` picks the levels, `ORDO_BENCH_CHECKOUT_MIX=hot|spread`
//! one mix; `ORDO_BENCH_STATEMENTS=N` prints the N statements that took the most time per window
//! (needs `pg_stat_statements` preloaded: point `ORDO_TEST_ADMIN_URL` at such a cluster).

mod processes;

use processes::{Stack, cpu_snapshot, rss_mib};
use reqwest::Client;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const STEPS: [&str; 7] = ["cart", "line", "details", "shipping", "session", "confirm", "complete"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// Every order buys the same variant.
    HotSku,
    /// Orders spread over 1,000 variants.
    Spread,
}

struct Shop {
    tenant: Uuid,
    region: String,
    shipping: String,
    variants: Vec<String>,
}

/// Customer tokens minted before a window: signing one (ES256) is the identity provider's work,
/// which in a deployment does not run on ordo's machine; here it took a third of the load
/// generator's CPU. Each checkout still takes a token of its own; when the stock runs out, more
/// are minted on the spot.
struct Tokens {
    tenant: Uuid,
    ready: std::sync::Mutex<Vec<String>>,
}

impl Tokens {
    /// `n` fresh tokens, minted on every core.
    async fn mint(tenant: Uuid, n: usize) -> Tokens {
        let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
        let mut parts = Vec::new();
        for _ in 0..cores {
            parts.push(tokio::task::spawn_blocking(move || {
                (0..n.div_ceil(cores))
                    .map(|_| customer_token(tenant))
                    .collect::<Vec<_>>()
            }));
        }
        let mut ready = Vec::with_capacity(n);
        for p in parts {
            ready.extend(p.await.unwrap());
        }
        Tokens {
            tenant,
            ready: std::sync::Mutex::new(ready),
        }
    }

    fn take(&self) -> String {
        let next = self.ready.lock().unwrap().pop();
        next.unwrap_or_else(|| customer_token(self.tenant))
    }
}

fn customer_token(tenant: Uuid) -> String {
    let claims = ordo_testkit::claims(&format!("bench-{}", Uuid::new_v4().simple()), tenant, "customer");
    ordo_testkit::mint_with(
        &claims,
        jsonwebtoken::Algorithm::ES256,
        Some("e1"),
        ordo_testkit::EC1_PRIVATE,
    )
}

async fn call(
    http: &Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut req = http
        .request(method, url)
        .bearer_auth(token)
        .header("idempotency-key", Uuid::new_v4().to_string());
    if let Some(b) = body {
        req = req
            .header("content-type", "application/vnd.api+json")
            .body(b.to_string());
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status();
    let text = res.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status} {url}: {text}"));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn seed(stack: &Stack, tenant: Uuid) -> Shop {
    let http = Client::new();
    let admin = ordo_testkit::token("admin", tenant, "admin");
    let post = |path: &str, body: Value| {
        let (http, admin, url) = (http.clone(), admin.clone(), format!("{}{path}", stack.order));
        async move {
            call(&http, reqwest::Method::POST, &url, &admin, Some(body))
                .await
                .unwrap()
        }
    };
    let region = post(
        "/admin/regions",
        json!({"data": {"type": "regions", "attributes":
        {"name": "EU", "currency": "EUR", "tax_rate_bp": 1900, "countries": ["DE"]}}}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shipping = post(
        "/admin/shipping-options",
        json!({"data": {"type": "shipping-options",
        "attributes": {"region_id": region, "name": "Standard", "price": 490}}}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut variants = Vec::new();
    for p in 0..10 {
        let vs: Vec<Value> = (0..100)
            .map(|v| {
                json!({"sku": format!("B-{p}-{v}"), "title": format!("Print {v}"), "kind": "physical",
                "inventory": 10_000_000, "prices": [{"currency": "EUR", "amount": 1000 + v}]})
            })
            .collect();
        let product = post(
            "/admin/products",
            json!({"data": {"type": "products", "attributes": {
            "title": format!("Bench product {p}"), "variants": vs}}}),
        )
        .await;
        for v in product["data"]["attributes"]["variants"].as_array().unwrap() {
            variants.push(v["id"].as_str().unwrap().to_owned());
        }
    }
    Shop {
        tenant,
        region,
        shipping,
        variants,
    }
}

/// One checkout; the time of each step, or the first error.
async fn checkout(
    http: &Client,
    stack: &processes::Addresses<'_>,
    shop: &Shop,
    variant: &str,
    token: String,
) -> Result<[Duration; 7], String> {
    let o = &stack.order;
    let mut t = [Duration::ZERO; 7];
    let mut at = Instant::now();
    let mut lap = |i: usize| {
        t[i] = at.elapsed();
        at = Instant::now();
    };
    let cart = call(
        http,
        reqwest::Method::POST,
        &format!("{o}/store/carts"),
        &token,
        Some(json!({"data": {"type": "carts", "attributes": {"region_id": shop.region}}})),
    )
    .await?;
    let cart = cart["data"]["id"].as_str().unwrap_or_default().to_owned();
    lap(0);
    call(
        http,
        reqwest::Method::POST,
        &format!("{o}/store/carts/{cart}/line-items"),
        &token,
        Some(json!({"data": {"type": "line-items", "attributes": {"variant_id": variant, "quantity": 1}}})),
    )
    .await?;
    lap(1);
    call(http, reqwest::Method::PATCH, &format!("{o}/store/carts/{cart}"), &token,
        Some(json!({"data": {"type": "carts", "attributes": {"email": "bench@example.com",
            "shipping_address": {"name": "Ada Bench", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}}}}))).await?;
    lap(2);
    call(
        http,
        reqwest::Method::POST,
        &format!("{o}/store/carts/{cart}/shipping-method"),
        &token,
        Some(json!({"data": {"type": "shipping-methods", "attributes": {"shipping_option_id": shop.shipping}}})),
    )
    .await?;
    lap(3);
    let session = call(
        http,
        reqwest::Method::POST,
        &format!("{o}/store/carts/{cart}/payment-session"),
        &token,
        None,
    )
    .await?;
    let pi = session["data"]["attributes"]["payment_intent_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let secret = session["data"]["attributes"]["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    lap(4);
    let pk = ordo_stripe_emulator::publishable_key(processes::KEY);
    let res = http
        .post(format!("{}/v1/payment_intents/{pi}/confirm", stack.emulator))
        .bearer_auth(pk)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(ordo_http::form_urlencoded(&[
            ("payment_method", "pm_card_visa"),
            ("client_secret", secret.as_str()),
        ]))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("confirm: {}", res.text().await.unwrap_or_default()));
    }
    lap(5);
    call(
        http,
        reqwest::Method::POST,
        &format!("{o}/store/carts/{cart}/complete"),
        &token,
        None,
    )
    .await?;
    lap(6);
    Ok(t)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn commits(su: &sqlx::PgPool, db: &str) -> i64 {
    sqlx::query_scalar("select xact_commit from pg_stat_database where datname = $1")
        .bind(db)
        .fetch_one(su)
        .await
        .unwrap()
}

/// One window at concurrency `c`; its row of the report.
async fn window(stack: &Stack, shop: &Arc<Shop>, su: &sqlx::PgPool, db: &str, c: usize, secs: u64, mix: Mix) -> Value {
    // Enough for 250 orders/s; more are minted on the spot.
    let tokens = Arc::new(Tokens::mint(shop.tenant, usize::try_from(secs).unwrap_or(30) * 250).await);
    let started_at = time::OffsetDateTime::now_utc();
    let cpu0 = cpu_snapshot(stack);
    let commits0 = commits(su, db).await;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for w in 0..c {
        let (shop, http) = (
            shop.clone(),
            Client::builder().pool_max_idle_per_host(4).build().unwrap(),
        );
        let (order, emulator, tokens) = (stack.order.clone(), stack.emulator.clone(), tokens.clone());
        workers.push(tokio::spawn(async move {
            let stack = StackRef { order, emulator };
            let mut done: Vec<[Duration; 7]> = Vec::new();
            let mut errors = Vec::new();
            let mut i = w;
            while Instant::now() < deadline {
                let variant = match mix {
                    Mix::HotSku => &shop.variants[0],
                    Mix::Spread => &shop.variants[i % shop.variants.len()],
                };
                i += c;
                match checkout(&http, &stack.as_stack(), &shop, variant, tokens.take()).await {
                    Ok(t) => done.push(t),
                    Err(e) => errors.push(e),
                }
            }
            (done, errors)
        }));
    }
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for w in workers {
        let (d, e) = w.await.unwrap();
        done.extend(d);
        errors.extend(e);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    // Every order of the window paid (the webhooks drain), then the counters.
    let wait = Instant::now();
    let mut unpaid = 1i64;
    while wait.elapsed() < Duration::from_secs(60) {
        unpaid = sqlx::query_scalar("select count(*) from orders.orders where created_at >= $1 and status = 'pending'")
            .bind(started_at)
            .fetch_one(su)
            .await
            .unwrap();
        if unpaid == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // e-mails and grants of the last orders
    let cpu1 = cpu_snapshot(stack);
    let commits1 = commits(su, db).await;
    let mut to_paid: Vec<f64> = sqlx::query_scalar(
        "select (extract(epoch from p.created_at - c.created_at) * 1000)::float8
         from orders.order_state_history c
         join orders.order_state_history p on p.order_id = c.order_id and p.to_status = 'paid'
         where c.trigger = 'cart_completed' and c.created_at >= $1",
    )
    .bind(started_at)
    .fetch_all(su)
    .await
    .unwrap();
    to_paid.sort_by(f64::total_cmp);
    let orders = done.len() as f64;
    let mut totals: Vec<f64> = done.iter().map(|t| ms(t.iter().sum())).collect();
    totals.sort_by(f64::total_cmp);
    let mut steps = BTreeMap::new();
    for (i, name) in STEPS.iter().enumerate() {
        let mut v: Vec<f64> = done.iter().map(|t| ms(t[i])).collect();
        v.sort_by(f64::total_cmp);
        steps.insert(*name, json!({"p50_ms": pct(&v, 0.5), "p99_ms": pct(&v, 0.99)}));
    }
    let cpu: BTreeMap<&str, f64> = cpu1
        .iter()
        .map(|(k, v)| (*k, (v - cpu0.get(k).copied().unwrap_or(0.0)) / orders.max(1.0)))
        .collect();
    let rss: BTreeMap<&str, f64> = stack.procs.iter().map(|p| (p.name, rss_mib(p.child.id()))).collect();
    if let Some(e) = errors.first() {
        eprintln!("  {} errors, first: {e}", errors.len());
    }
    json!({
        "mix": format!("{mix:?}"), "concurrency": c, "seconds": elapsed, "orders": done.len(), "errors": errors.len(),
        "orders_per_sec": orders / elapsed, "unpaid_after_drain": unpaid,
        "checkout_p50_ms": pct(&totals, 0.5), "checkout_p99_ms": pct(&totals, 0.99),
        "steps": steps,
        "placed_to_paid_p50_ms": pct(&to_paid, 0.5), "placed_to_paid_p99_ms": pct(&to_paid, 0.99),
        "commits_per_order": (commits1 - commits0) as f64 / orders.max(1.0),
        "cpu_ms_per_order": cpu, "cpu_ms_per_order_all": cpu.values().sum::<f64>(), "rss_mib": rss,
    })
}

/// The `n` statements that took the most time in the window (pg_stat_statements), per order.
async fn top_statements(su: &sqlx::PgPool, n: usize, orders: f64) {
    let rows: Vec<(f64, f64, f64, String)> = sqlx::query_as(
        "select total_exec_time, calls::float8, mean_exec_time, regexp_replace(query, '\\s+', ' ', 'g')
         from pg_stat_statements order by total_exec_time desc limit $1",
    )
    .bind(i64::try_from(n).unwrap_or(20))
    .fetch_all(su)
    .await
    .unwrap();
    let (calls, total): (f64, f64) =
        sqlx::query_as("select sum(calls)::float8, sum(total_exec_time) from pg_stat_statements")
            .fetch_one(su)
            .await
            .unwrap();
    println!(
        "    statements: {:.1} per order, {:.2} ms per order executing",
        calls / orders.max(1.0),
        total / orders.max(1.0)
    );
    println!("    {:>8} {:>7} {:>7}  query", "ms/order", "n/order", "mean ms");
    for (total, calls, mean, query) in rows {
        let q: String = query.chars().take(150).collect();
        println!(
            "    {:>8.3} {:>7.2} {:>7.3}  {q}",
            total / orders.max(1.0),
            calls / orders.max(1.0),
            mean
        );
    }
}

/// The addresses a worker needs (the stack's processes stay with the caller).
struct StackRef {
    order: String,
    emulator: String,
}

impl StackRef {
    fn as_stack(&self) -> processes::Addresses<'_> {
        processes::Addresses {
            order: &self.order,
            emulator: &self.emulator,
        }
    }
}

pub async fn run() {
    let secs: u64 = std::env::var("ORDO_BENCH_CHECKOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let levels: Vec<usize> = std::env::var("ORDO_BENCH_CHECKOUT_CONCURRENCY")
        .ok()
        .map(|s| s.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32]);
    let db = ordo_testkit::TestDb::create().await;
    let bus = ordo_testkit::TestBus::create().await;
    let su = db.superuser_pool().await;
    let stack = Stack::start(&db, &bus).await;
    let shop = Arc::new(seed(&stack, Uuid::now_v7()).await);
    println!("\ncheckout ({secs} s windows, services as release processes; CPU ms per order):");
    println!(
        "  {:<7} {:>3} {:>8} {:>7} {:>7} {:>8} {:>8} {:>8} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "mix",
        "c",
        "orders/s",
        "p50 ms",
        "p99 ms",
        "complete",
        "paid p50",
        "paid p99",
        "commits",
        "pg",
        "order",
        "pay",
        "notif",
        "nats",
        "all"
    );
    let mixes: Vec<Mix> = match std::env::var("ORDO_BENCH_CHECKOUT_MIX").as_deref() {
        Ok("hot") => vec![Mix::HotSku],
        Ok("spread") => vec![Mix::Spread],
        _ => vec![Mix::HotSku, Mix::Spread],
    };
    let statements: Option<usize> = std::env::var("ORDO_BENCH_STATEMENTS").ok().and_then(|s| s.parse().ok());
    if statements.is_some() {
        sqlx::query("create extension if not exists pg_stat_statements")
            .execute(&su)
            .await
            .expect("ORDO_BENCH_STATEMENTS needs pg_stat_statements in shared_preload_libraries");
    }
    let mut rows = Vec::new();
    for mix in mixes {
        for &c in &levels {
            if statements.is_some() {
                sqlx::query("select pg_stat_statements_reset()")
                    .execute(&su)
                    .await
                    .unwrap();
            }
            let r = window(&stack, &shop, &su, &db.name, c, secs, mix).await;
            let cpu = &r["cpu_ms_per_order"];
            println!(
                "  {:<7} {:>3} {:>8.1} {:>7.1} {:>7.1} {:>8.1} {:>8.1} {:>8.1} {:>7.1} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>6.1}",
                if mix == Mix::HotSku { "hot" } else { "spread" },
                c,
                r["orders_per_sec"].as_f64().unwrap_or(0.0),
                r["checkout_p50_ms"].as_f64().unwrap_or(f64::NAN),
                r["checkout_p99_ms"].as_f64().unwrap_or(f64::NAN),
                r["steps"]["complete"]["p50_ms"].as_f64().unwrap_or(f64::NAN),
                r["placed_to_paid_p50_ms"].as_f64().unwrap_or(f64::NAN),
                r["placed_to_paid_p99_ms"].as_f64().unwrap_or(f64::NAN),
                r["commits_per_order"].as_f64().unwrap_or(0.0),
                cpu["postgresql"].as_f64().unwrap_or(0.0),
                cpu["order"].as_f64().unwrap_or(0.0),
                cpu["payment"].as_f64().unwrap_or(0.0),
                cpu["notification"].as_f64().unwrap_or(0.0),
                cpu["nats"].as_f64().unwrap_or(0.0),
                r["cpu_ms_per_order_all"].as_f64().unwrap_or(0.0),
            );
            if let Some(n) = statements {
                top_statements(&su, n, r["orders"].as_f64().unwrap_or(1.0)).await;
            }
            rows.push(r);
        }
    }
    let rss = &rows.last().map(|r| r["rss_mib"].clone()).unwrap_or_default();
    println!("  resident memory after the last window (MiB): {rss}");
    let out = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench/checkout.json");
    std::fs::write(&out, serde_json::to_string_pretty(&json!({"windows": rows})).unwrap()).unwrap();
    println!("  written to {}", out.display());
    drop(stack);
}
