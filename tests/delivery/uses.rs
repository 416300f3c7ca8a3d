//! What a download costs: a copy broken off just before its last byte counts, parallel copies
//! count each, and a real resume after a broken connection counts once.

use ordo_tests::delivery_stack::*;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Read `url` (with `range`) until at least `keep` bytes arrived, then drop the connection;
/// returns the bytes read.
async fn break_off(shop: &DeliveryStack, url: &str, range: Option<&str>, keep: usize) -> Vec<u8> {
    let mut req = shop.http.get(url);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let mut res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let mut got = Vec::new();
    while got.len() < keep {
        got.extend_from_slice(&res.chunk().await.unwrap().expect("the body ended early"));
    }
    drop(res);
    got
}

/// Wait until the service has recorded the end of every request of the link's run.
async fn settled(shop: &DeliveryStack, url: &str) {
    let hash = ordo_delivery::links::hash(url.rsplit('/').next().unwrap()).to_vec();
    let su = shop.superuser().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let claimed: bool = sqlx::query_scalar(
            "select exists (select 1 from delivery.download_claims c join delivery.tokens t
                              on t.token_hash = c.token_hash and t.run_number = c.run_number
                            where c.token_hash = $1)",
        )
        .bind(&hash)
        .fetch_one(&su)
        .await
        .unwrap();
        if !claimed {
            return;
        }
        assert!(Instant::now() < deadline, "requests never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn used(shop: &DeliveryStack) -> Vec<i32> {
    sqlx::query_scalar("select downloads_used from delivery.grants order by created_at")
        .fetch_all(&shop.superuser().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn copies_broken_off_before_their_last_byte_or_fetched_in_parallel_each_count() {
    let shop = DeliveryStack::start().await;
    // Larger than what socket buffers hold, so a copy the client drops really is unfinished
    // at the service.
    let file = bytes(32 << 20);
    shop.upload(file.clone()).await;
    let gus = shop.s.customer("gus");
    let order = shop.paid_order(&gus, 0).await;
    let url = shop.link(&gus, &order).await;
    // Five copies, each dropped halfway (and never asking for the last 100 bytes): five uses,
    // then 403.
    for n in 1..=5 {
        let got = break_off(&shop, &url, Some(&format!("bytes=0-{}", file.len() - 101)), 16 << 20).await;
        assert_eq!(got[..1000], file[..1000]);
        settled(&shop, &url).await;
        assert_eq!(used(&shop).await, vec![n], "copy {n}");
    }
    let (code, _, body) = shop.fetch(&url, None).await;
    assert_eq!((code, error_code(&body).as_str()), (403, "download_limit_reached"));

    // The same with several ranges in one request (multipart): counted too.
    let order = shop.paid_order(&gus, 0).await;
    let url = shop.link(&gus, &order).await;
    for n in 1..=2 {
        break_off(&shop, &url, Some("bytes=0-9999999,10000000-33554000"), 16 << 20).await;
        settled(&shop, &url).await;
        assert_eq!(used(&shop).await[1], n, "multipart copy {n}");
    }

    // Three whole copies at once: three uses.
    let order = shop.paid_order(&gus, 0).await;
    let url = shop.link(&gus, &order).await;
    let responses = futures::future::join_all((0..3).map(|_| shop.http.get(&url).send())).await;
    for res in responses {
        let res = res.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap().len(), file.len());
    }
    settled(&shop, &url).await;
    assert_eq!(used(&shop).await[2], 3, "parallel copies");
}

#[tokio::test]
async fn a_download_resumed_after_a_broken_connection_counts_once() {
    let shop = DeliveryStack::start().await;
    let file = bytes(64 << 20);
    shop.upload(file.clone()).await;
    let hal = shop.s.customer("hal");
    let order = shop.paid_order(&hal, 0).await;
    let url = shop.link(&hal, &order).await;
    // The connection breaks after 8 MiB arrived (the service may have sent more into buffers).
    let mut got = break_off(&shop, &url, None, 8 << 20).await;
    settled(&shop, &url).await;
    // The client resumes from what it has: the same download.
    let (code, _, rest) = shop.fetch(&url, Some(&format!("bytes={}-", got.len()))).await;
    assert_eq!(code, 206);
    got.extend(rest);
    assert_eq!(Sha256::digest(&got), Sha256::digest(&file));
    settled(&shop, &url).await;
    assert_eq!(used(&shop).await, vec![1], "one download");
    shop.wait_status(&order, "delivered").await;
}

/// N requests for the same bytes in flight at once cost N uses, even when each asks for less
/// than the resume slack (the shared claim let the second and third join the first's run for
/// free, and the first to end dropped the others' claims).
#[tokio::test]
async fn parallel_requests_for_the_same_bytes_each_count() {
    let shop = DeliveryStack::start().await;
    let file = bytes(64 << 20);
    shop.upload(file.clone()).await;
    let ida = shop.s.customer("ida");
    let order = shop.paid_order(&ida, 0).await;
    let url = shop.link(&ida, &order).await;
    // 12 MiB each: below the slack (16 MiB for this file), above what socket buffers hold, so
    // all three are still sending while the others arrive.
    let mut open = Vec::new();
    for n in 1..=3 {
        let mut res = shop
            .http
            .get(&url)
            .header("range", "bytes=0-12582911")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 206);
        let first = res.chunk().await.unwrap().unwrap();
        assert_eq!(first[..], file[..first.len()]);
        open.push(res);
        assert_eq!(used(&shop).await, vec![n], "request {n} in flight");
    }
    // The second ends; the first and third still hold their claims: asking for their bytes
    // again is another use.
    let second = open.remove(1);
    drop(second);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut res = shop
        .http
        .get(&url)
        .header("range", "bytes=0-1048575")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    res.chunk().await.unwrap();
    assert_eq!(used(&shop).await, vec![4]);
    drop(res);
    drop(open);
    settled(&shop, &url).await;
    // Five uses in all: the fifth request is the last allowed, the sixth is refused.
    let (code, _, _) = shop.fetch(&url, Some("bytes=0-99")).await;
    assert_eq!(code, 206);
    assert_eq!(used(&shop).await, vec![5]);
    let (code, _, body) = shop.fetch(&url, Some("bytes=0-99")).await;
    assert_eq!((code, error_code(&body).as_str()), (403, "download_limit_reached"));
}
