//! Row-level security through the order service's role: tenants A and B, customers A1 and A2.

use futures::future::join_all;
use ordo_db::{Role, Scope, begin_scoped};
use ordo_testkit::TestDb;
use rand::Rng;
use sqlx::PgPool;
use uuid::Uuid;

struct World {
    a: Uuid,
    b: Uuid,
}

async fn insert_order(
    pool: &PgPool,
    scope: &Scope,
    tenant: Uuid,
    customer: &str,
    number: i64,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    let mut tx = begin_scoped(pool, scope).await?;
    sqlx::query(
        "insert into orders.orders (id, tenant_id, customer_id, cart_id, number, email, currency, status,
            payment_status, fulfillment_status, subtotal, shipping_total, tax_total, total)
         values ($1, $2, $3, $4, $5, 'x@example.com', 'EUR', 'pending', 'awaiting', 'not_fulfilled', 100, 0, 0, 100)",
    )
    .bind(id)
    .bind(tenant)
    .bind(customer)
    .bind(Uuid::now_v7())
    .bind(number)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn seed(pool: &PgPool) -> World {
    let w = World {
        a: Uuid::now_v7(),
        b: Uuid::now_v7(),
    };
    let admin_a = Scope::new(w.a, Some("admin-a".into()), Role::Admin);
    let admin_b = Scope::new(w.b, Some("admin-b".into()), Role::Admin);
    insert_order(pool, &admin_a, w.a, "A1", 1001).await.unwrap();
    insert_order(pool, &admin_a, w.a, "A1", 1002).await.unwrap();
    insert_order(pool, &admin_a, w.a, "A2", 1003).await.unwrap();
    insert_order(pool, &admin_b, w.b, "B1", 1001).await.unwrap();
    w
}

async fn visible(pool: &PgPool, scope: &Scope) -> Vec<(Uuid, String)> {
    let mut tx = begin_scoped(pool, scope).await.unwrap();
    let rows: Vec<(Uuid, String)> = sqlx::query_as("select tenant_id, customer_id from orders.orders order by number")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    rows
}

#[tokio::test]
async fn each_scope_sees_only_its_rows() {
    let db = TestDb::create().await;
    let pool = db.pool_for("ordo_order", 4).await;
    let w = seed(&pool).await;

    let a1 = visible(&pool, &Scope::new(w.a, Some("A1".into()), Role::Customer)).await;
    assert_eq!(a1, vec![(w.a, "A1".into()), (w.a, "A1".into())]);
    let a2 = visible(&pool, &Scope::new(w.a, Some("A2".into()), Role::Customer)).await;
    assert_eq!(a2, vec![(w.a, "A2".into())]);
    let admin_a = visible(&pool, &Scope::new(w.a, None, Role::Admin)).await;
    assert_eq!(admin_a.len(), 3);
    assert!(admin_a.iter().all(|(t, _)| *t == w.a));
    let admin_b = visible(&pool, &Scope::new(w.b, None, Role::Admin)).await;
    assert_eq!(admin_b, vec![(w.b, "B1".into())]);
    // A customer of A claiming to be B1 in tenant A sees nothing of B.
    assert!(
        visible(&pool, &Scope::new(w.a, Some("B1".into()), Role::Customer))
            .await
            .is_empty()
    );

    // No tenant set → zero rows, on every tenant table.
    for table in ["carts", "cart_lines", "orders", "order_lines", "order_state_history"] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from orders.{table}")))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table} visible without a tenant");
    }
    // Sanity: the rows are really there.
    let su: i64 = sqlx::query_scalar("select count(*) from orders.orders")
        .fetch_one(&db.superuser_pool().await)
        .await
        .unwrap();
    assert_eq!(su, 4);
}

#[tokio::test]
async fn writes_outside_the_scope_are_refused() {
    let db = TestDb::create().await;
    let pool = db.pool_for("ordo_order", 4).await;
    let w = seed(&pool).await;
    let admin_a = Scope::new(w.a, None, Role::Admin);
    let a1 = Scope::new(w.a, Some("A1".into()), Role::Customer);

    // An insert carrying another tenant's id.
    let err = insert_order(&pool, &admin_a, w.b, "B9", 2001).await.unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501"),
        "{err}"
    );
    // A customer inserting an order for another customer.
    assert!(insert_order(&pool, &a1, w.a, "A2", 2002).await.is_err());
    // No scope at all.
    let mut tx = pool.begin().await.unwrap();
    let r = sqlx::query("insert into orders.carts (id, tenant_id, customer_id, currency) values ($1, $2, 'A1', 'EUR')")
        .bind(Uuid::now_v7())
        .bind(w.a)
        .execute(&mut *tx)
        .await;
    assert!(r.is_err(), "insert without tenant must be refused");
    drop(tx);

    // Updating or moving rows across the boundary changes nothing / is refused.
    let mut tx = begin_scoped(&pool, &a1).await.unwrap();
    let n = sqlx::query("update orders.orders set email = 'evil@example.com' where customer_id = 'A2'")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 0);
    let moved = sqlx::query("update orders.orders set tenant_id = $1 where customer_id = 'A1'")
        .bind(w.b)
        .execute(&mut *tx)
        .await;
    assert!(moved.is_err(), "moving a row to another tenant must violate WITH CHECK");
    drop(tx);
    let mut tx = begin_scoped(&pool, &Scope::new(w.b, None, Role::Admin)).await.unwrap();
    let n = sqlx::query("delete from orders.orders where tenant_id = $1")
        .bind(w.a)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 0);
    tx.rollback().await.unwrap();
    let su: i64 = sqlx::query_scalar("select count(*) from orders.orders where email = 'x@example.com'")
        .fetch_one(&db.superuser_pool().await)
        .await
        .unwrap();
    assert_eq!(su, 4, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_never_leak_a_scope() {
    let db = TestDb::create().await;
    let pool = db.pool_for("ordo_order", 2).await; // two connections for 1,000 requests
    let w = seed(&pool).await;
    let scopes = [
        (Scope::new(w.a, Some("A1".into()), Role::Customer), 2usize),
        (Scope::new(w.a, Some("A2".into()), Role::Customer), 1),
        (Scope::new(w.a, None, Role::Admin), 3),
        (Scope::new(w.b, None, Role::Admin), 1),
        (Scope::new(w.b, Some("A1".into()), Role::Customer), 0),
    ];
    let picks: Vec<usize> = {
        let mut rng = rand::rng();
        (0..1_000).map(|_| rng.random_range(0..scopes.len())).collect()
    };
    let results = join_all(picks.into_iter().map(|i| {
        let pool = pool.clone();
        let (scope, expected) = scopes[i].clone();
        async move {
            let rows = visible(&pool, &scope).await;
            assert_eq!(rows.len(), expected, "{scope:?}");
            for (tenant, customer) in &rows {
                assert_eq!(*tenant, scope.tenant_id, "wrong tenant's row for {scope:?}");
                if scope.role == Role::Customer {
                    assert_eq!(Some(customer), scope.user_id.as_ref(), "another customer's row for {scope:?}");
                }
            }
            // Outside a transaction, the connection carries no scope.
            let leftover: (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
                "select current_setting('ordo.tenant_id', true), current_setting('ordo.user_id', true), current_setting('ordo.role', true)",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            let empty = |v: &Option<String>| v.as_deref().unwrap_or("").is_empty();
            assert!(empty(&leftover.0) && empty(&leftover.1) && empty(&leftover.2), "scope leaked: {leftover:?}");
            1
        }
    }))
    .await;
    assert_eq!(results.into_iter().sum::<i32>(), 1_000);
}

/// The scope travels inside the `BEGIN` batch as quoted literals: a subject made to break out
/// of its quotes stays one string, and the role stays the one the server chose.
#[tokio::test]
async fn a_subject_cannot_break_out_of_the_begin_batch() {
    let db = TestDb::create().await;
    let pool = db.pool_for("ordo_order", 2).await;
    let w = seed(&pool).await;
    for subject in [
        "A1', true), set_config('ordo.role', 'admin', true), set_config('ordo.user_id', 'A1",
        r"A1\', true); select set_config('ordo.role', 'admin', true); --",
        "o'brien \\ \"quoted\" ünï",
    ] {
        let scope = Scope::new(w.a, Some(subject.into()), Role::Customer);
        let mut tx = begin_scoped(&pool, &scope).await.unwrap();
        let (user, role, tenant): (String, String, String) = sqlx::query_as(
            "select current_setting('ordo.user_id'), current_setting('ordo.role'), current_setting('ordo.tenant_id')",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!((user.as_str(), role.as_str()), (subject, "customer"));
        assert_eq!(tenant, w.a.to_string());
        let visible: i64 = sqlx::query_scalar("select count(*) from orders.orders")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(visible, 0, "{subject:?} sees none of A1's orders");
        tx.rollback().await.unwrap();
    }
    let nul = Scope::new(w.a, Some("A1\0".into()), Role::Customer);
    assert!(begin_scoped(&pool, &nul).await.is_err(), "a NUL byte is refused");
    // The claim of an Idempotency-Key runs in the BEGIN batch with its values as literals too.
    let scope = Scope::new(w.a, Some("A1".into()), Role::Customer);
    let claim = format!(
        "SELECT orders.idempotency_claim({}, {}, '{}', {}, {})",
        ordo_db::literal("k'1", "key").unwrap(),
        ordo_db::literal("k\\2", "key").unwrap(),
        w.a,
        ordo_db::literal("A1", "subject").unwrap(),
        ordo_db::literal("key'\\", "key").unwrap()
    );
    let one = db.pool_for("ordo_order", 1).await;
    let mut tx = ordo_db::begin_scoped_claimed(&pool, &scope, &claim).await.unwrap();
    let user: String = sqlx::query_scalar("select current_setting('ordo.user_id')")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(user, "A1", "the scope set before the claim belongs to the transaction");
    let other = ordo_db::begin_scoped_claimed(&one, &scope, &claim).await;
    let code = other
        .err()
        .and_then(|e| e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned()));
    assert_eq!(
        code.as_deref(),
        Some("OI409"),
        "the second claim finds the key's lock taken"
    );
    // A claim that raised leaves nothing behind on its connection (the pool's only one): no
    // transaction (BEGIN works), no lock.
    let mut after = ordo_db::begin_scoped(&one, &scope).await.unwrap();
    let locks: i64 =
        sqlx::query_scalar("select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()")
            .fetch_one(&mut *after)
            .await
            .unwrap();
    assert_eq!(locks, 0, "the failed claim's lock went with its transaction");
    after.commit().await.unwrap();
    tx.commit().await.unwrap();
}
