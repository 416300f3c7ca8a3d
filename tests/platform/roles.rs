//! Database roles: least privilege, no owner, no superuser, no RLS bypass.

use ordo_testkit::TestDb;

const SERVICE_ROLES: [&str; 4] = ["ordo_order", "ordo_payment", "ordo_delivery", "ordo_notification"];

#[tokio::test]
async fn a_service_role_cannot_read_another_services_schema() {
    let db = TestDb::create().await;
    let payment = db.pool_for("ordo_payment", 1).await;
    for table in ["orders.orders", "orders.carts", "orders.outbox"] {
        let err = sqlx::query(sqlx::AssertSqlSafe(format!("select * from {table}")))
            .fetch_all(&payment)
            .await
            .unwrap_err();
        assert_eq!(
            err.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "{table}: {err}"
        );
    }
    // ...while its own schema works.
    let n: i64 = sqlx::query_scalar("select count(*) from payments.outbox")
        .fetch_one(&payment)
        .await
        .unwrap();
    assert_eq!(n, 0);
    // And it cannot create objects anywhere.
    for schema in ["payments", "public", "orders"] {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!("create table {schema}.x (id int)")))
            .execute(&payment)
            .await;
        assert!(r.is_err(), "ordo_payment could create a table in {schema}");
    }
    // The order history is append-only for the order service.
    let order = db.pool_for("ordo_order", 1).await;
    let err = sqlx::query("delete from orders.order_state_history")
        .execute(&order)
        .await
        .unwrap_err();
    assert_eq!(err.as_database_error().and_then(|e| e.code()).as_deref(), Some("42501"));
}

#[tokio::test]
async fn no_service_role_can_bypass_row_level_security() {
    let db = TestDb::create().await;
    let su = db.superuser_pool().await;
    for role in SERVICE_ROLES.iter().chain(["ordo_owner"].iter()) {
        let (superuser, bypass, createrole, createdb): (bool, bool, bool, bool) = sqlx::query_as(
            "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = $1",
        )
        .bind(role)
        .fetch_one(&su)
        .await
        .unwrap();
        assert!(
            !superuser && !bypass && !createrole && !createdb,
            "{role} is too powerful"
        );
        // Not a member of any role that could lend it such powers.
        let memberships: i64 = sqlx::query_scalar(
            "select count(*) from pg_auth_members m join pg_roles r on r.oid = m.member where r.rolname = $1",
        )
        .bind(role)
        .fetch_one(&su)
        .await
        .unwrap();
        assert_eq!(memberships, 0, "{role} is a member of another role");
    }
    // Every table with a tenant_id is under enabled and FORCED RLS, with a USING and a WITH CHECK
    // policy, and owned by the owner role (never a service role).
    let tables: Vec<(String, String, bool, bool, String, i64)> = sqlx::query_as(
        "select n.nspname::text, c.relname::text, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner)::text,
                (select count(*) from pg_policies p where p.schemaname = n.nspname and p.tablename = c.relname
                   and p.qual is not null and p.with_check is not null)
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'p') and n.nspname in ('orders', 'payments', 'delivery', 'notifications')
           and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)",
    )
    .fetch_all(&su)
    .await
    .unwrap();
    assert!(tables.len() >= 5, "expected the order tables, got {tables:?}");
    for (schema, table, rls, force, owner, policies) in tables {
        assert!(rls && force, "{schema}.{table}: RLS enabled={rls} forced={force}");
        assert_eq!(owner, "ordo_owner", "{schema}.{table}");
        assert!(policies >= 1, "{schema}.{table} has no USING + WITH CHECK policy");
    }
    let owned_by_services: i64 =
        sqlx::query_scalar("select count(*) from pg_class c where pg_get_userbyid(c.relowner) = any($1)")
            .bind(&SERVICE_ROLES[..])
            .fetch_one(&su)
            .await
            .unwrap();
    assert_eq!(owned_by_services, 0, "a service role owns a relation");
}
