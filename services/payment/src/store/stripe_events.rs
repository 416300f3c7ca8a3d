//! `payments.stripe_events`: every Stripe event received, by its id, and what became of it.

use sqlx::PgConnection;

/// Store a Stripe event by its id, as processed with outcome `applied` — what becomes of nearly
/// every event; [`processed`] or [`unprocessed`] correct it in the same transaction when the
/// event was ignored or is in doubt. False when it was stored before (a repeat).
pub async fn record(
    conn: &mut PgConnection,
    id: &str,
    kind: &str,
    created: i64,
    payment_intent_id: Option<&str>,
    payload: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let fresh: Option<String> = sqlx::query_scalar(
        "insert into payments.stripe_events (id, type, created, payment_intent_id, payload, processed_at, outcome)
         values ($1, $2, $3, $4, $5, now(), 'applied') on conflict (id) do nothing returning id",
    )
    .bind(id)
    .bind(kind)
    .bind(created)
    .bind(payment_intent_id)
    .bind(payload)
    .fetch_optional(conn)
    .await?;
    Ok(fresh.is_some())
}

/// Mark a stored Stripe event processed with its outcome (`applied` or why it was ignored).
pub async fn processed(conn: &mut PgConnection, id: &str, outcome: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update payments.stripe_events set processed_at = now(), outcome = $2 where id = $1")
        .bind(id)
        .bind(outcome)
        .execute(conn)
        .await?;
    Ok(())
}

/// Leave a stored event unprocessed (a doubt, for reconciliation).
pub async fn unprocessed(conn: &mut PgConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update payments.stripe_events set processed_at = null, outcome = null where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The oldest unprocessed event that is due, locked (`SKIP LOCKED`): (id, payload, attempts).
pub async fn next_due(conn: &mut PgConnection) -> Result<Option<(String, serde_json::Value, i32)>, sqlx::Error> {
    sqlx::query_as(
        "select id, payload, attempts from payments.stripe_events
         where processed_at is null and (next_attempt_at is null or next_attempt_at <= now())
         order by received_at limit 1 for update skip locked",
    )
    .fetch_optional(conn)
    .await
}

/// The event could not be settled: try again in `delay_secs`, or (`give_up`) record it as
/// given up after `attempts`.
pub async fn retry_later(
    conn: &mut PgConnection,
    id: &str,
    attempts: i32,
    error: &str,
    delay_secs: i64,
    give_up: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update payments.stripe_events set attempts = $2, last_error = $3,
            next_attempt_at = now() + make_interval(secs => $4),
            processed_at = case when $5 then now() end,
            outcome = case when $5 then 'gave up after ' || $2 || ' attempts: ' || $3 end
         where id = $1",
    )
    .bind(id)
    .bind(attempts)
    .bind(error)
    .bind(delay_secs as f64)
    .bind(give_up)
    .execute(conn)
    .await?;
    Ok(())
}
