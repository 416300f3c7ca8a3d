//! Download links: end to end, ranges, limits, revocation, expiry, hashing, who may ask.

use ordo_tests::delivery_stack::*;
use std::time::Duration;

#[tokio::test]
async fn a_paid_digital_order_is_fulfilled_and_delivered_by_its_first_download() {
    let shop = DeliveryStack::start().await;
    let file = bytes(300_000);
    shop.upload(file.clone()).await;
    let ada = shop.s.customer("ada");
    let order = shop.paid_order(&ada, 0).await;
    shop.wait_status(&order, "fulfilled").await;
    let url = shop.link(&ada, &order).await;
    let (code, headers, body) = shop.fetch(&url, None).await;
    assert_eq!(code, 200);
    assert_eq!(body, file);
    for (h, v) in [
        ("content-disposition", "attachment; filename=\"moon-1.pdf\""),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("accept-ranges", "bytes"),
        ("content-type", "application/pdf"),
    ] {
        assert_eq!(headers.get(h).and_then(|v| v.to_str().ok()), Some(v), "{h}");
    }
    let delivered = shop.wait_status(&order, "delivered").await;
    assert_eq!(delivered["data"]["attributes"]["fulfillment_status"], "delivered");
}

/// Found by `make chaos`: recording a finished download failed once (PostgreSQL restarting just
/// after the last byte) and was never tried again, so the order was never delivered. It is
/// retried now.
#[tokio::test]
async fn a_download_recorded_after_a_database_hiccup_still_delivers_the_order() {
    let shop = DeliveryStack::start().await;
    let file = bytes(10_000);
    shop.upload(file.clone()).await;
    let ada = shop.s.customer("ada");
    let order = shop.paid_order(&ada, 0).await;
    shop.wait_status(&order, "fulfilled").await;
    let url = shop.link(&ada, &order).await;
    // The first attempt to record the finished download rolls back.
    let su = shop.superuser().await;
    ordo_tests::crash::fail_next_delete(&su, "delivery", "download_claims", "ordo_delivery").await;
    let (code, _, body) = shop.fetch(&url, None).await;
    assert_eq!((code, body == file), (200, true));
    let delivered = shop.wait_status(&order, "delivered").await;
    assert_eq!(delivered["data"]["attributes"]["fulfillment_status"], "delivered");
    let failed_once: i64 = sqlx::query_scalar("select last_value from delivery.test_fail_once")
        .fetch_one(&su)
        .await
        .unwrap();
    assert!(failed_once >= 2, "the fault was exercised and passed: {failed_once}");
}

#[tokio::test]
async fn a_download_resumed_in_three_ranges_counts_once_and_bad_ranges_get_416() {
    let shop = DeliveryStack::start().await;
    let file = bytes(10_000);
    shop.upload(file.clone()).await;
    let bo = shop.s.customer("bo");
    let order = shop.paid_order(&bo, 0).await;
    let url = shop.link(&bo, &order).await;
    let mut got = Vec::new();
    for (range, want) in [
        ("bytes=0-3999", 0..4000),
        ("bytes=4000-7999", 4000..8000),
        ("bytes=8000-", 8000..10_000),
    ] {
        let (code, headers, body) = shop.fetch(&url, Some(range)).await;
        assert_eq!(code, 206, "{range}");
        assert_eq!(
            headers["content-range"].to_str().unwrap(),
            format!("bytes {}-{}/10000", want.start, want.end - 1)
        );
        assert_eq!(body, file[want]);
        got.extend(body);
    }
    assert_eq!(got, file);
    let links = shop.links(&bo, &order).await.1;
    assert_eq!(
        links["data"][0]["attributes"]["remaining_downloads"], 4,
        "three ranges, one download"
    );
    // The run is complete: the order is delivered.
    shop.wait_status(&order, "delivered").await;
    // 416: outside the file, and more ranges than allowed (8 by default), and overlapping.
    let (code, headers, body) = shop.fetch(&url, Some("bytes=10000-")).await;
    assert_eq!((code, error_code(&body).as_str()), (416, "range_not_satisfiable"));
    assert_eq!(headers["content-range"].to_str().unwrap(), "bytes */10000");
    let nine = (0..9)
        .map(|i| format!("{}-{}", i * 10, i * 10 + 5))
        .collect::<Vec<_>>()
        .join(",");
    let (code, _, body) = shop.fetch(&url, Some(&format!("bytes={nine}"))).await;
    assert_eq!((code, error_code(&body).as_str()), (416, "too_many_ranges"));
    let (code, _, _) = shop.fetch(&url, Some("bytes=0-99,50-149")).await;
    assert_eq!(code, 416);
    // Two disjoint ranges: multipart/byteranges with both parts.
    let (code, headers, body) = shop.fetch(&url, Some("bytes=0-9,100-109")).await;
    assert_eq!(code, 206);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("multipart/byteranges; boundary=")
    );
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("Content-Range: bytes 0-9/10000") && text.contains("Content-Range: bytes 100-109/10000"));
    // Refused requests did not cost a use; the multipart one started a new run (bytes already sent).
    let links = shop.links(&bo, &order).await.1;
    assert_eq!(links["data"][0]["attributes"]["remaining_downloads"], 3);
}

#[tokio::test]
async fn the_use_limit_then_403_and_a_refund_revokes_every_link_at_once() {
    let shop = DeliveryStack::start_with(|d| d.max_downloads = 2).await;
    shop.upload(bytes(1000)).await;
    let cy = shop.s.customer("cy");
    let order = shop.paid_order(&cy, 0).await;
    let url = shop.link(&cy, &order).await;
    assert_eq!(shop.fetch(&url, None).await.0, 200);
    assert_eq!(shop.fetch(&url, None).await.0, 200);
    let (code, _, body) = shop.fetch(&url, None).await;
    assert_eq!((code, error_code(&body).as_str()), (403, "download_limit_reached"));
    // New links share the grant's allowance: a used-up line gets none.
    let (code, links) = shop.links(&cy, &order).await;
    assert_eq!(code, 200);
    let a = &links["data"][0]["attributes"];
    assert_eq!(
        (a["url"].is_null(), &a["remaining_downloads"]),
        (true, &serde_json::json!(0))
    );

    // Another order, refunded in full: its links die immediately.
    let order2 = shop.paid_order(&cy, 0).await;
    let first = shop.link(&cy, &order2).await;
    let second = shop.link(&cy, &order2).await;
    let admin = shop.s.admin();
    shop.s
        .shop
        .ok(
            "POST",
            &format!("/admin/orders/{order2}/refunds"),
            &admin,
            Some(serde_json::json!({"data": {"type": "refunds", "attributes": {"amount": 1546, "reason": "test"}}})),
            202,
        )
        .await;
    shop.wait_status(&order2, "refunded").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (code, _, body) = shop.fetch(&first, None).await;
        if code == 403 {
            assert_eq!(error_code(&body), "token_revoked");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still downloadable after the refund"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, _, body) = shop.fetch(&second, None).await;
    assert_eq!((code, error_code(&body).as_str()), (403, "token_revoked"));
    let (code, body) = shop.links(&cy, &order2).await;
    assert_eq!(
        (code, body["errors"][0]["code"].as_str()),
        (409, Some("downloads_revoked"))
    );
}

#[tokio::test]
async fn a_link_works_within_its_window_and_not_after_by_the_database_clock() {
    let shop = DeliveryStack::start().await;
    shop.upload(bytes(100)).await;
    let di = shop.s.customer("di");
    let order = shop.paid_order(&di, 0).await;
    let url = shop.link(&di, &order).await;
    assert_eq!(shop.fetch(&url, Some("bytes=0-9")).await.0, 206);
    // Move the link's issue a day and a second into the past, in the database.
    let su = shop.superuser().await;
    let moved = sqlx::query(
        "update delivery.tokens set issued_at = issued_at - interval '24 hours 1 second',
                                    expires_at = expires_at - interval '24 hours 1 second'",
    )
    .execute(&su)
    .await
    .unwrap();
    assert_eq!(moved.rows_affected(), 1);
    let (code, _, body) = shop.fetch(&url, Some("bytes=10-19")).await;
    assert_eq!((code, error_code(&body).as_str()), (403, "token_expired"));
    // The expiry was 24 h after issue, set by the database.
    let ttl: f64 = sqlx::query_scalar("select extract(epoch from expires_at - issued_at)::float8 from delivery.tokens")
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(ttl, 86_400.0);
    // A fresh link works again.
    let fresh = shop.link(&di, &order).await;
    assert_eq!(shop.fetch(&fresh, None).await.0, 200);
}

#[tokio::test]
async fn links_expired_longer_than_the_retention_are_purged_and_system_sees_only_expired_ones() {
    let shop = DeliveryStack::start_with(|d| {
        d.purge_expired_after_secs = 60;
        d.purge_interval_secs = 1;
    })
    .await;
    shop.upload(bytes(100)).await;
    let fay = shop.s.customer("fay");
    let order = shop.paid_order(&fay, 0).await;
    let (old, recent, live) = (
        shop.link(&fay, &order).await,
        shop.link(&fay, &order).await,
        shop.link(&fay, &order).await,
    );
    let hash_of = |url: &str| ordo_delivery::links::hash(url.rsplit('/').next().unwrap()).to_vec();
    let su = shop.superuser().await;
    for (url, ago) in [(&old, "61 seconds"), (&recent, "10 seconds")] {
        sqlx::query("update delivery.tokens set expires_at = now() - $2::interval where token_hash = $1")
            .bind(hash_of(url))
            .bind(ago)
            .execute(&su)
            .await
            .unwrap();
    }
    // The service's own purge (every second) removes the old one: it is now unknown.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (code, _, body) = shop.fetch(&old, None).await;
        assert_eq!(code, 403);
        if error_code(&body) == "token_unknown" {
            break;
        }
        assert_eq!(error_code(&body), "token_expired");
        assert!(std::time::Instant::now() < deadline, "never purged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, _, body) = shop.fetch(&recent, None).await;
    assert_eq!((code, error_code(&body).as_str()), (403, "token_expired"));
    assert_eq!(shop.fetch(&live, None).await.0, 200);
    let left: Vec<(i64, i64)> =
        sqlx::query_as("select (select count(*) from delivery.tokens), (select count(*) from delivery.token_tenants)")
            .fetch_all(&su)
            .await
            .unwrap();
    assert_eq!(
        left,
        vec![(2, 2)],
        "the old link and its index entry are gone, nothing else"
    );

    // As the service's role: `system` sees the expired link only and can delete nothing; a purge
    // with a shorter retention takes the recent one too.
    let pool = shop.s.shop.db.pool_for("ordo_delivery", 2).await;
    let mut tx = ordo_db::begin_system(&pool).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from delivery.tokens")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 1);
    let deleted = sqlx::query("delete from delivery.tokens")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    tx.rollback().await.unwrap();
    assert_eq!(
        ordo_delivery::purge::purge_once(&pool, Duration::from_secs(5))
            .await
            .unwrap(),
        1
    );
    let (code, _, body) = shop.fetch(&recent, None).await;
    assert_eq!((code, error_code(&body).as_str()), (403, "token_unknown"));
    assert_eq!(shop.fetch(&live, Some("bytes=0-0")).await.0, 206);
}

#[tokio::test]
async fn no_plaintext_token_is_stored_and_random_tokens_are_all_refused() {
    let shop = DeliveryStack::start().await;
    shop.upload(bytes(100)).await;
    let ed = shop.s.customer("ed");
    let order = shop.paid_order(&ed, 0).await;
    let url = shop.link(&ed, &order).await;
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(token.len(), 43);
    let su = shop.superuser().await;
    // Search every column of every table of the database for the token, as text.
    let hits: i64 = sqlx::query_scalar(
        "select count(*) from (
            select t.table_schema, t.table_name from information_schema.tables t
            where t.table_schema in ('orders', 'payments', 'delivery', 'notifications') and t.table_type = 'BASE TABLE') x,
         lateral (select (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I r where r::text like %L',
                    x.table_schema, x.table_name, '%' || $1 || '%'), false, true, '')))[1]::text::int as n) c
         where c.n > 0",
    )
    .bind(&token)
    .fetch_one(&su)
    .await
    .unwrap();
    assert_eq!(hits, 0, "the token appears in a table");
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from delivery.tokens")
        .fetch_one(&su)
        .await
        .unwrap();
    use sha2::Digest as _;
    assert_eq!(stored, sha2::Sha256::digest(token.as_bytes()).to_vec());
    // 10,000 random well-formed tokens: all 403 token_unknown.
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut refused = 0;
    let mut rng = rand::rng();
    let base = url.rsplit_once('/').unwrap().0.to_owned();
    let client = reqwest::Client::new();
    let mut pending = futures::stream::FuturesUnordered::new();
    for _ in 0..10_000 {
        let mut raw = [0u8; 32];
        rng.fill_bytes(&mut raw);
        let t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let req = client.get(format!("{base}/{t}")).send();
        pending.push(req);
        if pending.len() >= 32 {
            use futures::StreamExt as _;
            let res = pending.next().await.unwrap().unwrap();
            refused += (res.status() == 403) as u32;
        }
    }
    use futures::StreamExt as _;
    while let Some(res) = pending.next().await {
        refused += (res.unwrap().status() == 403) as u32;
    }
    assert_eq!(refused, 10_000);
    let (code, _, body) = shop.fetch(&format!("{base}/not-a-token"), None).await;
    assert_eq!((code, error_code(&body).as_str()), (403, "token_unknown"));
}

#[tokio::test]
async fn another_customer_or_another_tenants_admin_gets_404() {
    let shop = DeliveryStack::start().await;
    shop.upload(bytes(100)).await;
    let fay = shop.s.customer("fay");
    let order = shop.paid_order(&fay, 0).await;
    shop.link(&fay, &order).await;
    let (code, _) = shop.links(&shop.s.customer("mallory"), &order).await;
    assert_eq!(code, 404);
    let other_tenant = ordo_tests::shop::Caller::admin(uuid::Uuid::now_v7());
    let (code, _) = shop
        .s
        .shop
        .get(&format!("/admin/orders/{order}/download-links"), &other_tenant)
        .await;
    assert_eq!(code, 404);
    let (code, _) = shop
        .s
        .shop
        .get(&format!("/admin/orders/{order}/download-links"), &shop.s.admin())
        .await;
    assert_eq!(code, 200, "the tenant's own admin may");
}

/// The links RPC never reads a missing field as "anyone": a request that does not say who asks
/// is refused, and a customer's request must name the order's own customer.
#[tokio::test]
async fn the_links_rpc_refuses_a_request_that_does_not_say_who_asks() {
    use ordo_events::delivery::v1::{DownloadLinksReply, DownloadLinksRequest};
    let shop = DeliveryStack::start().await;
    shop.upload(bytes(1000)).await;
    let kim = shop.s.customer("kim");
    let order = shop.paid_order(&kim, 0).await;
    let ask = |customer: &str, requester: &str| {
        let request = DownloadLinksRequest {
            tenant_id: shop.s.tenant.to_string(),
            order_id: order.clone(),
            customer_id: customer.to_owned(),
            requester: requester.to_owned(),
        };
        let bus = shop.s.shop.bus.bus.clone();
        async move {
            let reply: DownloadLinksReply = ordo_bus::rpc::request(
                &bus,
                ordo_events::rpc::DELIVERY_DOWNLOAD_LINKS,
                &request,
                std::time::Duration::from_secs(10),
            )
            .await
            .unwrap();
            (reply.error.map(|e| e.code).unwrap_or_default(), reply.links.len())
        }
    };
    // The delivery service learns of the order from order.paid: wait until it knows it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while ask("", "operator").await.0 == "order_unknown" {
        assert!(
            std::time::Instant::now() < deadline,
            "the delivery service never learned of the order"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        ask("", "").await,
        ("invalid_request".to_owned(), 0),
        "no requester: refused"
    );
    assert_eq!(
        ask("", "customer").await,
        ("order_unknown".to_owned(), 0),
        "a customer without id"
    );
    assert_eq!(ask("mallory", "customer").await, ("order_unknown".to_owned(), 0));
    assert_eq!(ask("kim", "customer").await, (String::new(), 1));
    assert_eq!(ask("", "operator").await, (String::new(), 1));
}
