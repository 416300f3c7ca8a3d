//! A crash between two commits, reproduced in the database: the next insert into (or delete
//! from) a table fails once, as if the process had died just before its transaction committed
//! (everything the transaction did rolls back; whatever another service did before stays).

use sqlx::{AssertSqlSafe, PgPool};

/// Make the next insert into `schema.table` (by `role`) fail once. The count lives in a
/// sequence, which the failing transaction's rollback does not undo.
pub async fn fail_next_insert(superuser: &PgPool, schema: &str, table: &str, role: &str) {
    fail_next(superuser, schema, table, role, "insert").await;
}

/// Make the next delete from `schema.table` (by `role`) fail once.
pub async fn fail_next_delete(superuser: &PgPool, schema: &str, table: &str, role: &str) {
    fail_next(superuser, schema, table, role, "delete").await;
}

async fn fail_next(superuser: &PgPool, schema: &str, table: &str, role: &str, operation: &str) {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "create sequence {schema}.test_fail_once;
         grant usage on sequence {schema}.test_fail_once to {role};
         create function {schema}.test_fail_once() returns trigger language plpgsql as $$
         begin
             if nextval('{schema}.test_fail_once') = 1 then
                 raise exception 'simulated crash before commit';
             end if;
             return coalesce(new, old);
         end $$;
         create trigger test_fail_once before {operation} on {schema}.{table}
             for each row execute function {schema}.test_fail_once();"
    )))
    .execute(superuser)
    .await
    .unwrap();
}
