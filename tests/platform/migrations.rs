//! `make migrate` is idempotent: bootstrap and migrate twice, the second run applies nothing.

use ordo_testkit::TestDb;

#[tokio::test]
async fn bootstrap_and_migrate_are_idempotent() {
    let db = TestDb::create().await; // first run
    let admin = ordo_testkit::admin_url();
    ordo_migrate::bootstrap(&admin, &db.name).await.unwrap();
    let applied = ordo_migrate::migrate(&db.url_for(ordo_migrate::OWNER_ROLE))
        .await
        .unwrap();
    assert!(applied.is_empty(), "second run applied {applied:?}");
    let recorded: i64 = sqlx::query_scalar("select count(*) from ordo_meta.applied_migrations")
        .fetch_one(&db.superuser_pool().await)
        .await
        .unwrap();
    assert_eq!(recorded as usize, ordo_migrate::plan().len());
}

#[tokio::test]
async fn an_edited_migration_is_detected() {
    let db = TestDb::create().await;
    sqlx::query("update ordo_meta.applied_migrations set checksum = 'x' where migration = 'order/0001_orders.sql'")
        .execute(&db.superuser_pool().await)
        .await
        .unwrap();
    let err = ordo_migrate::migrate(&db.url_for(ordo_migrate::OWNER_ROLE))
        .await
        .unwrap_err();
    assert!(matches!(err, ordo_migrate::MigrateError::Changed(_)), "{err}");
}
