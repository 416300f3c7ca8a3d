//! Orders at scale: one tenant with 1,000,000 orders (and a neighbour with 200,000), the
//! operators' list/filter/sort/stats endpoints timed over HTTP against the real order service,
//! and the plans of their queries (run as the service role under row-level security) printed so
//! one can see the indexes at work.

use ordo_db::{Role, Scope};
use std::time::{Duration, Instant};
use uuid::Uuid;

async fn seed(su: &sqlx::PgPool, tenant: Uuid, n: i64) {
    sqlx::query(
        "insert into orders.orders (id, tenant_id, customer_id, cart_id, number, email, currency, status, payment_status,
            fulfillment_status, subtotal, shipping_total, tax_total, total, captured_amount, refunded_amount, created_at)
         select gen_random_uuid(), $1, 'c' || (i % 5000), gen_random_uuid(), 1000 + i, 'c' || (i % 5000) || '@example.com', 'EUR',
                s.status, s.payment, s.fulfillment, 1000 + (i % 9000), 490, 190, 1680 + (i % 9000),
                case when s.payment in ('captured', 'refunded') then 1680 + (i % 9000) end,
                case when s.payment = 'refunded' then 1680 + (i % 9000) else 0 end,
                now() - (i * interval '30 seconds')
         from generate_series(1, $2) i
         cross join lateral (select (array['pending','paid','fulfilled','delivered','canceled','refunded'])[1 + i % 6] as status) st
         cross join lateral (select st.status,
             case st.status when 'pending' then 'awaiting' when 'canceled' then 'canceled' when 'refunded' then 'refunded' else 'captured' end as payment,
             case st.status when 'fulfilled' then 'fulfilled' when 'delivered' then 'delivered' when 'canceled' then 'canceled' else 'not_fulfilled' end as fulfillment) s",
    )
    .bind(tenant)
    .bind(n)
    .execute(su)
    .await
    .unwrap();
}

fn fmt(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .replace('+', "%2B")
}

pub async fn run() {
    let db = ordo_testkit::TestDb::create().await;
    let bus = ordo_testkit::TestBus::create().await;
    let su = db.superuser_pool().await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let t0 = Instant::now();
    seed(&su, a, 1_000_000).await;
    seed(&su, b, 200_000).await;
    sqlx::raw_sql("vacuum analyze orders.orders")
        .execute(&su)
        .await
        .unwrap();
    println!(
        "\norders at scale: seeded 1,000,000 + 200,000 orders in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let mut cfg = ordo_testkit::service_config("order", &db, &bus);
    cfg.checkout.sweep_interval_secs = 3600;
    let running = ordo_order::build(cfg).await.unwrap();
    let base = format!("http://127.0.0.1:{}", running.port());
    tokio::spawn(running.run_until_stopped());
    let token = ordo_testkit::token("admin", a, "admin");
    let client = reqwest::Client::new();
    let now = time::OffsetDateTime::now_utc();
    let month = format!(
        "filter[created_from]={}&filter[created_to]={}",
        fmt(now - time::Duration::days(30)),
        fmt(now)
    );
    let endpoints = [
        ("newest first, page of 20", "/admin/orders".to_owned()),
        ("status=paid", "/admin/orders?filter[status]=paid".to_owned()),
        (
            "payment_status=refunded",
            "/admin/orders?filter[payment_status]=refunded".to_owned(),
        ),
        (
            "fulfillment_status=fulfilled",
            "/admin/orders?filter[fulfillment_status]=fulfilled".to_owned(),
        ),
        ("sort=-total", "/admin/orders?sort=-total".to_owned()),
        ("q=email", "/admin/orders?filter[q]=c42%40example.com".to_owned()),
        ("q=#number", "/admin/orders?filter[q]=%23500000".to_owned()),
        ("created range (30 days)", format!("/admin/orders?{month}")),
        ("stats (30 days vs previous 30)", format!("/admin/stats?{month}")),
    ];
    println!(
        "  {:<34} {:>9} {:>9}",
        "endpoint (tenant with 1M orders)", "p50 ms", "max ms"
    );
    for (name, path) in &endpoints {
        let mut times = Vec::new();
        let mut next = Some(path.clone());
        for i in 0..20 {
            let p = if i < 10 {
                path.clone()
            } else {
                next.clone().unwrap_or_else(|| path.clone())
            };
            let start = Instant::now();
            let res = client
                .get(format!("{base}{p}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 200, "{p}");
            let body: serde_json::Value = res.json().await.unwrap();
            times.push(start.elapsed());
            if let Some(n) = body["links"]["next"].as_str() {
                next = Some(n.to_owned()); // later calls walk the cursor pages
            }
        }
        times.sort();
        println!(
            "  {:<34} {:>9.2} {:>9.2}",
            name,
            ms(times[times.len() / 2]),
            ms(*times.last().unwrap())
        );
    }

    dashboard_pages(&base, a).await;

    // The plans, as the service role with the tenant's admin scope (RLS applies).
    let pool = db.pool_for("ordo_order", 1).await;
    let plans = [
        (
            "newest first",
            "select * from orders.orders o where o.tenant_id = $1 order by o.created_at desc, o.id desc limit 21",
        ),
        (
            "status filter",
            "select * from orders.orders o where o.tenant_id = $1 and o.status = any('{paid}') order by o.created_at desc, o.id desc limit 21",
        ),
        (
            "payment_status filter",
            "select * from orders.orders o where o.tenant_id = $1 and o.payment_status = any('{refunded}') order by o.created_at desc, o.id desc limit 21",
        ),
        (
            "sort by total",
            "select * from orders.orders o where o.tenant_id = $1 order by o.total desc, o.id desc limit 21",
        ),
        (
            "email",
            "select * from orders.orders o where o.tenant_id = $1 and o.email_lc = 'c42@example.com' order by o.created_at desc, o.id desc limit 21",
        ),
        (
            "stats",
            "select currency, count(*), sum(coalesce(captured_amount, 0) - refunded_amount) from orders.orders where tenant_id = $1 and created_at >= now() - interval '60 days' group by currency",
        ),
    ];
    for (name, sql) in plans {
        let mut tx = ordo_db::begin_scoped(&pool, &Scope::new(a, None, Role::Admin))
            .await
            .unwrap();
        let explain = format!("explain (analyze, costs off, timing off, summary on) {sql}");
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
            .bind(a)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        println!("  plan: {name}");
        for r in rows
            .iter()
            .filter(|r| r.contains("Scan") || r.contains("Execution Time") || r.contains("Index Cond"))
        {
            println!("    {}", r.trim());
        }
    }
}

/// The operators' list page of the dashboard on the same tenant: server-side time (the
/// dashboard's `Server-Timing`, its call to the order service included) per page. Budget: 50 ms.
async fn dashboard_pages(order_base: &str, tenant: Uuid) {
    let port = ordo_testkit::peers::free_port();
    let mut cfg = ordo_dashboard::DashboardConfig::defaults();
    cfg.http.port = port;
    cfg.dashboard.order_url = order_base.to_owned();
    // Never contacted: the bench brings its own session.
    cfg.dashboard.oidc.issuer = "http://127.0.0.1:9".into();
    cfg.dashboard.session_key = ordo_config::Secret::new("bench-session-key-".repeat(2));
    let signer = ordo_dashboard::session::signer(&cfg.dashboard).unwrap();
    let running = ordo_dashboard::build(cfg).await.unwrap();
    tokio::spawn(running.run_until_stopped());
    let now = ordo_dashboard::session::now();
    let session = ordo_dashboard::session::Session {
        subject: "bench".into(),
        email: "bench@example.com".into(),
        tenant_id: tenant,
        token: ordo_testkit::token("admin", tenant, "admin"),
        csrf: "bench".into(),
        expires_at: now + 3600,
    };
    let line = signer.set_cookie(ordo_dashboard::session::SESSION_COOKIE, &session, now + 3600);
    let cookie = line.split(';').next().unwrap().to_owned();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let pages = [
        ("list, newest first (50 rows)", "/orders"),
        ("list, payment refunded", "/orders?payment_status=refunded"),
        ("list, status paid, highest total", "/orders?status=paid&sort=-total"),
        ("list, search by e-mail", "/orders?q=c42%40example.com"),
        ("list, 30 days", "/orders?from=2026-01-01&to=2030-01-01"),
        ("overview (30 days)", "/"),
    ];
    println!(
        "  {:<34} {:>9} {:>9}   (dashboard, server-side)",
        "page (tenant with 1M orders)", "p50 ms", "max ms"
    );
    for (name, path) in pages {
        let mut times = Vec::new();
        for _ in 0..20 {
            let res = client
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 200, "{path}");
            let timing = res.headers()["server-timing"].to_str().unwrap().to_owned();
            let body = res.text().await.unwrap();
            assert!(body.contains("<table") || path == "/", "{path}: a page with rows");
            let dur: f64 = timing.trim_start_matches("total;dur=").parse().unwrap();
            times.push(dur);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "  {:<34} {:>9.2} {:>9.2}",
            name,
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
