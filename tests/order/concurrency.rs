//! Races: one cart completed 50 times at once; 100 carts after 10 units.

use futures::future::join_all;
use ordo_tests::shop::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_completions_make_one_order_and_fifty_identical_answers() {
    let shop = Shop::start().await;
    let cat = shop.seed(shop.tenant, Some(100)).await;
    let alice = Caller::customer(shop.tenant, "alice");
    let cart = shop.ready_cart(&alice, &cat, &[(&cat.physical, 2)]).await;
    let path = format!("/store/carts/{cart}/complete");
    let answers = join_all((0..50).map(|_| shop.send("POST", &path, &alice, None, None))).await;
    let first = &answers[0];
    assert_eq!(first.0, 200, "{}", first.1);
    for a in &answers {
        assert_eq!(a, first, "every completion answers with the same order");
    }
    let su = shop.db.superuser_pool().await;
    let orders: i64 = sqlx::query_scalar("select count(*) from orders.orders")
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(orders, 1);
    let stock: i32 = sqlx::query_scalar("select inventory from orders.variants where kind = 'physical'")
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(stock, 98, "reserved once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_carts_race_for_ten_units() {
    let shop = Shop::start().await;
    let cat = shop.seed(shop.tenant, Some(10)).await;
    let customers: Vec<Caller> = (0..100)
        .map(|i| Caller::customer(shop.tenant, &format!("c{i}")))
        .collect();
    let carts = join_all(
        customers
            .iter()
            .map(|c| async { shop.ready_cart(c, &cat, &[(&cat.physical, 1)]).await }),
    )
    .await;
    let results = join_all(customers.iter().zip(&carts).map(|(c, cart)| {
        let shop = &shop;
        async move {
            shop.send("POST", &format!("/store/carts/{cart}/complete"), c, None, None)
                .await
        }
    }))
    .await;
    let won = results.iter().filter(|(s, _)| *s == 200).count();
    let lost: Vec<_> = results.iter().filter(|(s, _)| *s != 200).collect();
    assert_eq!(won, 10);
    assert_eq!(lost.len(), 90);
    for (s, body) in lost {
        assert_eq!(
            (*s, body["errors"][0]["code"].as_str()),
            (409, Some("out_of_stock")),
            "{body}"
        );
    }
    let su = shop.db.superuser_pool().await;
    let stock: i32 = sqlx::query_scalar("select inventory from orders.variants where kind = 'physical'")
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(stock, 0);
    let orders: i64 = sqlx::query_scalar("select count(*) from orders.orders")
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(orders, 10);
    let numbers: Vec<i64> = sqlx::query_scalar("select number from orders.orders order by number")
        .fetch_all(&su)
        .await
        .unwrap();
    assert_eq!(
        numbers,
        (1001..=1010).collect::<Vec<_>>(),
        "order numbers are consecutive per tenant"
    );
    let open: i64 = sqlx::query_scalar("select count(*) from orders.carts where status = 'open'")
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(open, 90, "losing carts were left untouched");
}

/// A completion that waits for the cart's lock reads the cart as the lock's previous holder
/// left it: a quantity changed (and committed) while it waited is the quantity ordered and
/// charged, never the one from before the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_waiting_for_the_cart_sees_what_the_lock_holder_committed() {
    let shop = Shop::start().await;
    let cat = shop.seed(shop.tenant, Some(100)).await;
    let alice = Caller::customer(shop.tenant, "alice");
    let cart = shop.ready_cart(&alice, &cat, &[(&cat.physical, 1)]).await;
    let su = shop.db.superuser_pool().await;
    let cart_id: uuid::Uuid = cart.parse().unwrap();
    let mut holder = su.begin().await.unwrap();
    sqlx::query("select 1 from orders.carts where id = $1 for update")
        .bind(cart_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    sqlx::query("update orders.cart_lines set quantity = 3 where cart_id = $1")
        .bind(cart_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    sqlx::query("update orders.carts set updated_at = now() where id = $1")
        .bind(cart_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let complete = {
        let (shop, alice, path) = (&shop, &alice, format!("/store/carts/{cart}/complete"));
        async move { shop.send("POST", &path, alice, None, None).await }
    };
    let commit_later = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await; // the completion is waiting by now
        holder.commit().await.unwrap();
    };
    let ((status, order), ()) = tokio::join!(complete, commit_later);
    assert_eq!(status, 200, "{order}");
    let quantity: i32 = sqlx::query_scalar("select quantity from orders.order_lines")
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(quantity, 3, "the order has the quantity committed while it waited");
    let (subtotal, stock): (i64, i32) = sqlx::query_as(
        "select o.subtotal, v.inventory from orders.orders o, orders.variants v where v.kind = 'physical'",
    )
    .fetch_one(&su)
    .await
    .unwrap();
    let unit: i64 = sqlx::query_scalar("select unit_price from orders.order_lines")
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!((subtotal, stock), (3 * unit, 97), "charged and reserved for three");
}

/// A state change that waits for the order's lock sees what the lock's previous holder
/// committed — its row, and also the changes it applied (read in the same statement as the
/// lock): the same event applied by two transactions at once takes effect once, and the second
/// finds it applied (a duplicate), not an order moved under it by an unknown change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_waiting_for_the_order_sees_what_the_lock_holder_applied() {
    use ordo_domain::order::{CancelReason, Trigger};
    use ordo_order::app::lifecycle::{self, Applied, Source};
    let shop = Shop::start().await;
    let cat = shop.seed(shop.tenant, Some(100)).await;
    let alice = Caller::customer(shop.tenant, "alice");
    let cart = shop.ready_cart(&alice, &cat, &[(&cat.physical, 1)]).await;
    let order = shop
        .ok("POST", &format!("/store/carts/{cart}/complete"), &alice, None, 200)
        .await;
    let order: uuid::Uuid = order["data"]["id"].as_str().unwrap().parse().unwrap();
    let pool = shop.db.pool_for("ordo_order", 2).await;
    let scope = ordo_db::Scope::service(shop.tenant);
    let event = uuid::Uuid::now_v7();
    let cancel = || Trigger::Cancel {
        reason: CancelReason::Customer,
    };
    let source = || Source {
        actor: "test",
        cause: None,
        payment_intent_id: None,
        note: None,
    };
    let mut first = ordo_db::begin_scoped(&pool, &scope).await.unwrap();
    let applied = lifecycle::apply(&mut first, order, event, cancel(), source())
        .await
        .unwrap();
    assert!(matches!(applied, Applied::Changed(_)));
    let second = {
        let (pool, scope) = (pool.clone(), scope.clone());
        tokio::spawn(async move {
            let mut tx = ordo_db::begin_scoped(&pool, &scope).await.unwrap();
            let r = lifecycle::apply(&mut tx, order, event, cancel(), source()).await;
            tx.commit().await.unwrap();
            r.map(|a| matches!(a, Applied::Duplicate)).map_err(|e| e.to_string())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await; // the second waits by now
    first.commit().await.unwrap();
    assert_eq!(
        second.await.unwrap(),
        Ok(true),
        "the waiting change saw the event applied by the lock's holder"
    );
    let su = shop.db.superuser_pool().await;
    let rows: i64 = sqlx::query_scalar("select count(*) from orders.order_state_history where event_id = $1")
        .bind(event)
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(rows, 1, "one history row for the event");
}
