//! After the chaos: waiting for everything to settle, and reading what the run left behind —
//! each consumer's missing events, the Stripe emulator's PaymentIntents and refunds, the events
//! published again. The invariants (`invariants.rs`) judge it.

use ordo_events::Context;
use serde_json::Value;
use sqlx::{AssertSqlSafe, PgPool};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Every durable consumer: (name, its schema, the context it reads, the subjects it acts on).
pub const CONSUMERS: [(&str, &str, Context, &[&str]); 7] = [
    (
        "order_payment_events",
        "orders",
        Context::Payment,
        ordo_order::consumer::HANDLED,
    ),
    (
        "order_delivery_events",
        "orders",
        Context::Delivery,
        ordo_order::consumer::HANDLED,
    ),
    (
        "payment_order_events",
        "payments",
        Context::Order,
        ordo_payment::order_events::HANDLED,
    ),
    (
        "delivery_order_events",
        "delivery",
        Context::Order,
        ordo_delivery::order_events::HANDLED,
    ),
    (
        "notification_order_events",
        "notifications",
        Context::Order,
        ordo_notification::intake::HANDLED,
    ),
    (
        "notification_payment_events",
        "notifications",
        Context::Payment,
        ordo_notification::intake::HANDLED,
    ),
    (
        "notification_delivery_events",
        "notifications",
        Context::Delivery,
        ordo_notification::intake::HANDLED,
    ),
];

pub const SCHEMAS: [&str; 4] = ["orders", "payments", "delivery", "notifications"];

pub fn subjects_of(context: Context, handled: &[&str]) -> Vec<String> {
    let prefix = context.subjects().trim_end_matches('>');
    handled
        .iter()
        .filter(|s| s.starts_with(prefix))
        .map(|s| (*s).to_owned())
        .collect()
}

/// Events of a consumer's subjects its producer wrote that are in neither its inbox nor its
/// dead letters (including rows not published yet).
pub async fn missing(
    su: &PgPool,
    consumer: &str,
    schema: &str,
    context: Context,
    handled: &[&str],
) -> Vec<(Uuid, String)> {
    let producer = context.schema();
    sqlx::query_as(AssertSqlSafe(format!(
        "select o.id, o.subject from {producer}.outbox o where o.subject = any($1)
           and not exists (select 1 from {schema}.inbox i where i.consumer = $2 and i.event_id = o.id)
           and not exists (select 1 from {schema}.dead_letters d where d.consumer = $2 and d.event_id = o.id)
         order by o.id"
    )))
    .bind(subjects_of(context, handled))
    .bind(consumer)
    .fetch_all(su)
    .await
    .unwrap_or_default()
}

pub async fn scalar(su: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_owned()))
        .fetch_one(su)
        .await
        .unwrap_or(-1)
}

async fn webhooks_in_flight(emulator: &str) -> i64 {
    let stats: Option<Value> = match reqwest::get(format!("{emulator}_emulator/webhooks/stats")).await {
        Ok(r) => r.json().await.ok(),
        Err(_) => None,
    };
    stats.and_then(|s| s["in_flight"].as_i64()).unwrap_or(-1)
}

/// Wait until every outbox row is published, every consumer has every event of its subjects,
/// no webhook is in flight and no e-mail waits; how long after `start` that was (None: not
/// within `limit` of it).
pub async fn drain(su: &PgPool, emulator: &str, start: Instant, limit: Duration) -> Option<Duration> {
    loop {
        let mut work = 0i64;
        for s in SCHEMAS {
            work += scalar(
                su,
                &format!("select count(*) from {s}.outbox where published_at is null"),
            )
            .await;
        }
        for (c, schema, context, handled) in CONSUMERS {
            work += missing(su, c, schema, context, handled).await.len() as i64;
        }
        work += scalar(
            su,
            "select count(*) from notifications.messages where status = 'pending'",
        )
        .await;
        work += webhooks_in_flight(emulator).await;
        if work == 0 {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Everything the emulator holds: PaymentIntents and refunds.
pub struct Stripe {
    pub intents: Vec<Value>,
    pub refunds: Vec<Value>,
}

pub async fn stripe(emulator: &str) -> Stripe {
    let http = reqwest::Client::new();
    let intents: Value = match http.get(format!("{emulator}_emulator/payment_intents")).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let mut refunds = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{emulator}v1/refunds?limit=100");
        if let Some(a) = &after {
            url.push_str(&format!("&starting_after={a}"));
        }
        let page: Value = match http.get(url).bearer_auth(crate::stack::KEY).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let data = page["data"].as_array().cloned().unwrap_or_default();
        after = data.last().and_then(|r| r["id"].as_str().map(str::to_owned));
        refunds.extend(data);
        if page["has_more"] != true || after.is_none() {
            break;
        }
    }
    Stripe {
        intents: intents["data"].as_array().cloned().unwrap_or_default(),
        refunds,
    }
}

/// Figures for the report: events published again, per schema.
pub async fn republished(su: &PgPool) -> i64 {
    let mut n = 0;
    for s in SCHEMAS {
        n += scalar(su, &format!("select count(*) from {s}.outbox where republished > 0")).await;
    }
    n
}
