//! What must hold after the chaos, read from the databases (as superuser), the Stripe
//! emulator and what the clients were told. Each check counts what it looked at and names
//! every violation (the order, and what happened to it).

use crate::load::{Catalog, INITIAL_STOCK, Record};
use crate::settle::{CONSUMERS, SCHEMAS, Stripe, missing, scalar, subjects_of};
use serde_json::Value;
use sqlx::{AssertSqlSafe, PgPool, Row};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// One line of the table.
#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub checked: usize,
    pub violations: Vec<String>,
}

/// An order's story, for a violation: status, payment, refunded amount and its transitions.
async fn story(su: &PgPool, order: Uuid) -> String {
    let row = sqlx::query(
        "select status, payment_status, total, captured_amount, refunded_amount, payment_intent_id,
                (select string_agg(coalesce(h.from_status, '∅') || '→' || h.to_status || ' (' || h.trigger || ')', ', ' order by h.id)
                 from orders.order_state_history h where h.order_id = o.id) as history
         from orders.orders o where id = $1",
    )
    .bind(order)
    .fetch_optional(su)
    .await;
    match row {
        Ok(Some(r)) => format!(
            "order {order}: {} / {}, total {}, captured {:?}, refunded {}, PI {:?}; history: {}",
            r.try_get::<String, _>("status").unwrap_or_default(),
            r.try_get::<String, _>("payment_status").unwrap_or_default(),
            r.try_get::<i64, _>("total").unwrap_or_default(),
            r.try_get::<Option<i64>, _>("captured_amount").unwrap_or_default(),
            r.try_get::<i64, _>("refunded_amount").unwrap_or_default(),
            r.try_get::<Option<String>, _>("payment_intent_id").unwrap_or_default(),
            r.try_get::<Option<String>, _>("history")
                .unwrap_or_default()
                .unwrap_or_default()
        ),
        _ => format!("order {order}: not found"),
    }
}

fn cart_of(pi: &Value) -> Option<Uuid> {
    pi["metadata"]["ordo_cart_id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
}

pub async fn check(
    su: &PgPool,
    stripe: &Stripe,
    record: &Record,
    cat: &Catalog,
    deleted: &[(Uuid, String)],
) -> Vec<Check> {
    let mut out = Vec::new();
    let orders_by_cart: HashMap<Uuid, Vec<(Uuid, String)>> = {
        let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as("select cart_id, id, status from orders.orders")
            .fetch_all(su)
            .await
            .unwrap_or_default();
        let mut m: HashMap<Uuid, Vec<(Uuid, String)>> = HashMap::new();
        for (cart, id, status) in rows {
            m.entry(cart).or_default().push((id, status));
        }
        m
    };
    let succeeded_refunds: HashMap<String, i64> = {
        let mut m = HashMap::new();
        for r in stripe.refunds.iter().filter(|r| r["status"] == "succeeded") {
            *m.entry(r["payment_intent"].as_str().unwrap_or_default().to_owned())
                .or_default() += r["amount"].as_i64().unwrap_or(0);
        }
        m
    };

    // 1. Every complete that answered 2xx is exactly one order, the one it named.
    let mut c = Check {
        name: "complete answered 2xx → exactly that one order",
        checked: record.completed.len(),
        violations: Vec::new(),
    };
    for (cart, order) in &record.completed {
        let found = Uuid::parse_str(cart)
            .ok()
            .and_then(|k| orders_by_cart.get(&k))
            .cloned()
            .unwrap_or_default();
        if found.len() != 1 || found[0].0.to_string() != *order {
            c.violations.push(format!(
                "cart {cart}: complete named {order}, orders of the cart: {found:?}"
            ));
        }
    }
    out.push(c);

    // 2. Nobody charged without an order or a refund: every succeeded PaymentIntent's cart is a
    //    paid (or later) order, or the money went back.
    let mut c = Check {
        name: "PaymentIntent succeeded → order paid, or refunded",
        checked: 0,
        violations: Vec::new(),
    };
    for pi in stripe.intents.iter().filter(|p| p["status"] == "succeeded") {
        c.checked += 1;
        let id = pi["id"].as_str().unwrap_or_default();
        let received = pi["amount_received"].as_i64().unwrap_or(0);
        let refunded = succeeded_refunds.get(id).copied().unwrap_or(0);
        let orders = cart_of(pi)
            .and_then(|k| orders_by_cart.get(&k))
            .cloned()
            .unwrap_or_default();
        let paid = orders
            .iter()
            .any(|(_, s)| matches!(s.as_str(), "paid" | "fulfilled" | "delivered" | "refunded"));
        if !paid && refunded < received {
            let detail = match orders.first() {
                Some((o, _)) => story(su, *o).await,
                None => format!("no order for cart {:?}", cart_of(pi)),
            };
            c.violations
                .push(format!("{id} charged {received}, refunded {refunded}: {detail}"));
        }
    }
    out.push(c);

    // 3. Every order ordo calls paid was charged its total at Stripe, and its refunded amount is
    //    what Stripe refunded.
    let mut c = Check {
        name: "order paid/refunded ↔ Stripe charged its total, refunds match",
        checked: 0,
        violations: Vec::new(),
    };
    let by_pi: HashMap<&str, &Value> = stripe
        .intents
        .iter()
        .filter_map(|p| p["id"].as_str().map(|i| (i, p)))
        .collect();
    let paid: Vec<(Uuid, i64, i64, Option<String>)> = sqlx::query_as(
        "select id, total, refunded_amount, payment_intent_id from orders.orders
         where status in ('paid', 'fulfilled', 'delivered', 'refunded')",
    )
    .fetch_all(su)
    .await
    .unwrap_or_default();
    for (order, total, refunded, pi) in paid {
        c.checked += 1;
        let at_stripe = pi.as_deref().and_then(|p| by_pi.get(p));
        let ok = at_stripe.is_some_and(|p| {
            p["status"] == "succeeded"
                && p["amount_received"].as_i64() == Some(total)
                && succeeded_refunds
                    .get(p["id"].as_str().unwrap_or_default())
                    .copied()
                    .unwrap_or(0)
                    == refunded
        });
        if !ok {
            let s = at_stripe.map(|p| {
                format!(
                    "Stripe: {} received {}, refunded {}",
                    p["status"],
                    p["amount_received"],
                    succeeded_refunds
                        .get(p["id"].as_str().unwrap_or_default())
                        .copied()
                        .unwrap_or(0)
                )
            });
            c.violations.push(format!(
                "{} — {}",
                story(su, order).await,
                s.unwrap_or("no PaymentIntent".into())
            ));
        }
    }
    out.push(c);

    // 4. At most one PaymentIntent per cart.
    let mut per_cart: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for pi in &stripe.intents {
        if let Some(k) = cart_of(pi) {
            per_cart
                .entry(k)
                .or_default()
                .push(pi["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    out.push(Check {
        name: "one PaymentIntent per cart",
        checked: per_cart.len(),
        violations: per_cart
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, v)| format!("cart {k}: {v:?}"))
            .collect(),
    });

    // 5. No refund twice: one Stripe refund per refund request, never more than was received,
    //    and each order's accepted requests add up to what was refunded.
    let mut c = Check {
        name: "no refund twice (per request, per order, ≤ received)",
        checked: stripe.refunds.len(),
        violations: Vec::new(),
    };
    let mut per_request: BTreeMap<String, usize> = BTreeMap::new();
    for r in &stripe.refunds {
        if let Some(req) = r["metadata"]["ordo_refund_request_id"].as_str() {
            *per_request.entry(req.to_owned()).or_default() += 1;
        }
    }
    for (req, n) in per_request.iter().filter(|(_, n)| **n > 1) {
        c.violations
            .push(format!("refund request {req}: {n} refunds at Stripe"));
    }
    for (pi, refunded) in &succeeded_refunds {
        let received = by_pi
            .get(pi.as_str())
            .and_then(|p| p["amount_received"].as_i64())
            .unwrap_or(0);
        if *refunded > received {
            c.violations.push(format!("{pi}: refunded {refunded} of {received}"));
        }
    }
    let mut asked: BTreeMap<&str, i64> = BTreeMap::new();
    for (order, amount) in &record.refunds {
        *asked.entry(order.as_str()).or_default() += amount;
    }
    for (order, amount) in asked {
        let Ok(id) = Uuid::parse_str(order) else { continue };
        let refunded: i64 = sqlx::query_scalar("select refunded_amount from orders.orders where id = $1")
            .bind(id)
            .fetch_one(su)
            .await
            .unwrap_or(-1);
        if refunded != amount {
            c.violations
                .push(format!("asked {amount} back — {}", story(su, id).await));
        }
    }
    out.push(c);

    // 6. Stock = initial − sold (lines of orders not canceled; a cancellation gives back what it took).
    let mut c = Check {
        name: "stock = initial − sold",
        checked: cat.physical.len(),
        violations: Vec::new(),
    };
    for v in &cat.physical {
        let Ok(id) = Uuid::parse_str(v) else { continue };
        let row: Option<(Option<i32>, i64)> = sqlx::query_as(
            "select v.inventory,
                    (select coalesce(sum(coalesce(l.reserved, l.quantity)), 0)::int8 from orders.order_lines l
                     join orders.orders o on o.id = l.order_id where l.variant_id = v.id and o.status <> 'canceled')
             from orders.variants v where v.id = $1",
        )
        .bind(id)
        .fetch_optional(su)
        .await
        .ok()
        .flatten();
        match row {
            Some((Some(stock), sold)) if i64::from(stock) == INITIAL_STOCK - sold => {}
            other => c.violations.push(format!(
                "variant {v}: stock and sold {other:?}, started with {INITIAL_STOCK}"
            )),
        }
    }
    out.push(c);

    // 7. One notification per (event, kind), and every one sent.
    let dupes: Vec<(Uuid, String, i64)> =
        sqlx::query_as("select event_id, kind, count(*) from notifications.messages group by 1, 2 having count(*) > 1")
            .fetch_all(su)
            .await
            .unwrap_or_default();
    let unsent: Vec<(Uuid, String, String)> =
        sqlx::query_as("select order_id, kind, status from notifications.messages where status <> 'sent'")
            .fetch_all(su)
            .await
            .unwrap_or_default();
    let mut v: Vec<String> = dupes
        .iter()
        .map(|(e, k, n)| format!("event {e} {k}: {n} messages"))
        .collect();
    v.extend(unsent.iter().map(|(o, k, s)| format!("order {o}: {k} {s}")));
    out.push(Check {
        name: "one notification per (event, kind), all sent",
        checked: usize::try_from(scalar(su, "select count(*) from notifications.messages").await).unwrap_or(0),
        violations: v,
    });

    // 8. Inbox = outbox per consumer: nothing of its subjects missing, nothing applied that
    //    was never published.
    let mut c = Check {
        name: "inbox = outbox, per consumer (its subjects)",
        checked: 0,
        violations: Vec::new(),
    };
    for (consumer, schema, context, handled) in CONSUMERS {
        let producer = context.schema();
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "select count(*) from {producer}.outbox where subject = any($1)"
        )))
        .bind(subjects_of(context, handled))
        .fetch_one(su)
        .await
        .unwrap_or(0);
        c.checked += usize::try_from(n).unwrap_or(0);
        for (id, subject) in missing(su, consumer, schema, context, handled).await {
            c.violations.push(format!("{consumer}: {subject} {id} never applied"));
        }
        let extra: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "select count(*) from {schema}.inbox i where i.consumer = $1
               and not exists (select 1 from {producer}.outbox o where o.id = i.event_id)"
        )))
        .bind(consumer)
        .fetch_one(su)
        .await
        .unwrap_or(0);
        if extra > 0 {
            c.violations.push(format!(
                "{consumer}: {extra} inbox rows of events its producer never wrote"
            ));
        }
    }
    out.push(c);

    // 9. The events deleted from the stream reached delivery anyway (published again).
    let mut c = Check {
        name: "events deleted from the stream were re-published and applied",
        checked: deleted.len(),
        violations: Vec::new(),
    };
    for (id, subject) in deleted {
        let applied: bool = sqlx::query_scalar(
            "select exists(select 1 from delivery.inbox where consumer = 'delivery_order_events' and event_id = $1)",
        )
        .bind(id)
        .fetch_one(su)
        .await
        .unwrap_or(false);
        if !applied {
            c.violations.push(format!("{subject} {id}: not in delivery's inbox"));
        }
    }
    out.push(c);

    // 10. Every download and every parcel delivery reached the order: its lines of that kind
    //     are delivered.
    let mut c = Check {
        name: "downloads and parcel deliveries reached the order's lines",
        checked: record.downloads.len() + record.shipments.len(),
        violations: Vec::new(),
    };
    for (orders, kind) in [(&record.downloads, "digital"), (&record.shipments, "physical")] {
        for order in orders {
            let Ok(id) = Uuid::parse_str(order) else { continue };
            let open: i64 = sqlx::query_scalar(
                "select count(*) from orders.order_lines where order_id = $1 and kind = $2 and delivered_at is null",
            )
            .bind(id)
            .bind(kind)
            .fetch_one(su)
            .await
            .unwrap_or(-1);
            if open != 0 {
                c.violations
                    .push(format!("{kind} line not delivered — {}", story(su, id).await));
            }
        }
    }
    out.push(c);

    // 11. Dead letters: none (each would be an event a retry might have fixed; the operator's
    //     replay is how one is fixed).
    let mut c = Check {
        name: "nothing in dead letters",
        checked: SCHEMAS.len(),
        violations: Vec::new(),
    };
    for s in SCHEMAS {
        let rows: Vec<(String, String, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "select consumer, subject, error from {s}.dead_letters where replayed_at is null"
        )))
        .fetch_all(su)
        .await
        .unwrap_or_default();
        c.violations
            .extend(rows.into_iter().map(|(cn, sub, e)| format!("{cn}: {sub}: {e}")));
    }
    out.push(c);
    out
}
