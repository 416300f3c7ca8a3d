//! Helpers shared by the platform tests.

use ordo_bus::consumer::{ConsumerSpec, Delivery, Handler, HandlerError};
use ordo_events::{Context, Event, EventMetadata, order::v1::OrderPaid};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A table the test handlers write their effect into (created as superuser, granted to the
/// order service role): one row per effect, no unique constraint, so duplicates would show.
pub async fn create_effects_table(superuser: &PgPool) {
    sqlx::raw_sql(
        "create table orders.test_effects (event_id uuid not null, order_id text not null, at timestamptz default now());
         grant select, insert on orders.test_effects to ordo_order;",
    )
    .execute(superuser)
    .await
    .unwrap();
}

pub fn paid_event(tenant: Uuid, order_id: &str) -> OrderPaid {
    OrderPaid {
        meta: Some(EventMetadata::for_event::<OrderPaid>(&tenant.to_string(), order_id, 1)),
        order_id: order_id.to_owned(),
        order_number: 1001,
        email: "a@example.com".into(),
        amount: Some(ordo_events::money(1299, "EUR")),
        ..Default::default()
    }
}

pub fn event_id<E: Event>(e: &E) -> Uuid {
    Uuid::parse_str(&e.meta().unwrap().event_id).unwrap()
}

/// Records every applied event in `orders.test_effects`.
pub struct RecordEffect;

impl Handler for RecordEffect {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        let paid: OrderPaid = event.decode()?;
        sqlx::query("insert into orders.test_effects (event_id, order_id) values ($1, $2)")
            .bind(event.event_id)
            .bind(&paid.order_id)
            .execute(tx)
            .await?;
        Ok(())
    }
}

pub fn order_events_spec(name: &str) -> ConsumerSpec {
    ConsumerSpec {
        name: name.to_owned(),
        context: Context::Order,
        filter: "ordo.order.v1.>".into(),
        schema: "orders".into(),
    }
}

pub async fn effects(pool: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar("select event_id from orders.test_effects order by event_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Poll `f` until it returns true or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Poll until `count_sql` (a `select count(*)`) returns `n`, for at most `secs`.
pub async fn count_reaches(pool: &PgPool, count_sql: &'static str, n: i64, secs: u64) -> bool {
    eventually(secs, || async {
        sqlx::query_scalar::<_, i64>(count_sql).fetch_one(pool).await.unwrap() == n
    })
    .await
}
