//! A crash between two commits, reproduced in the database: the next insert into a table fails
//! once, as if the process had died just before its transaction committed (everything the
//! transaction did rolls back; whatever another service did before stays).

use sqlx::{AssertSqlSafe, PgPool};

/// Make the next insert into `schema.table` (by `role`) fail once. The count lives in a
/// sequence, which the failing transaction's rollback does not undo.
pub async fn fail_next_insert(superuser: &PgPool, schema: &str, table: &str, role: &str) {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "create sequence {schema}.test_fail_once;
         grant usage on sequence {schema}.test_fail_once to {role};
         create function {schema}.test_fail_once() returns trigger language plpgsql as $$
         begin
             if nextval('{schema}.test_fail_once') = 1 then
                 raise exception 'simulated crash before commit';
             end if;
             return new;
         end $$;
         create trigger test_fail_once before insert on {schema}.{table}
             for each row execute function {schema}.test_fail_once();"
    )))
    .execute(superuser)
    .await
    .unwrap();
}
