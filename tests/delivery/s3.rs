//! The same delivery service with its assets in S3-compatible storage (moto's S3 server, a real
//! HTTP peer speaking the S3 protocol with signed requests): multipart upload, whole and ranged
//! downloads, and deletion all go through the bucket.

use ordo_testkit::peers::S3Server;
use ordo_tests::delivery_stack::*;

const BUCKET: &str = "ordo-assets";

#[tokio::test]
async fn assets_in_s3_upload_in_parts_download_with_ranges_and_delete() {
    ordo_auth::install_crypto_provider();
    let s3 = S3Server::start().await;
    let http = reqwest::Client::new();
    let made = http.put(format!("{}/{BUCKET}", s3.endpoint)).send().await.unwrap();
    assert!(made.status().is_success(), "create bucket: {}", made.status());
    let endpoint = s3.endpoint.clone();
    let shop = DeliveryStack::start_with(move |d| {
        d.storage.kind = "s3".into();
        d.storage.bucket = BUCKET.into();
        d.storage.region = "eu-central-1".into();
        d.storage.endpoint = endpoint;
        d.storage.allow_http = true;
        d.storage.access_key_id = ordo_config::Secret::new("ordo-test".into());
        d.storage.secret_access_key = ordo_config::Secret::new("ordo-test-secret".into());
    })
    .await;

    // 20 MiB: three parts of the multipart upload (8 MiB each, the last shorter).
    let file = bytes(20 << 20);
    shop.upload(file.clone()).await;
    let tenant = shop.s.tenant;
    let object = format!("{}/{BUCKET}/{tenant}/{ASSET_KEY}", s3.endpoint);
    let head = http.head(&object).send().await.unwrap();
    assert_eq!(head.status(), 200, "the object lies under the tenant's prefix");
    assert_eq!(
        head.headers().get("content-length").unwrap(),
        &(20u64 << 20).to_string()
    );
    assert!(
        !std::path::Path::new(&shop.assets).exists(),
        "nothing went to the local folder"
    );

    let ada = shop.s.customer("ada");
    let order = shop.paid_order(&ada, 0).await;
    let url = shop.link(&ada, &order).await;
    let (code, _, body) = shop.fetch(&url, None).await;
    assert_eq!(code, 200);
    assert!(body == file, "the whole file, byte for byte");
    let (code, headers, body) = shop.fetch(&url, Some("bytes=10000000-10000099")).await;
    assert_eq!(code, 206);
    assert_eq!(body, file[10_000_000..10_000_100]);
    assert_eq!(
        headers.get("content-range").unwrap(),
        &format!("bytes 10000000-10000099/{}", 20 << 20)
    );
    let (code, headers, body) = shop.fetch(&url, Some("bytes=0-9,-10")).await;
    assert_eq!(code, 206);
    let ct = headers.get("content-type").unwrap().to_str().unwrap();
    assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains(&format!("bytes 0-9/{}", 20 << 20)), "{text}");
    shop.wait_status(&order, "delivered").await;

    // An asset no grant needs is deleted from the bucket; the granted one is kept.
    let spare = "spare/extra.bin";
    let put = shop
        .http
        .put(format!("{}/admin/assets/{spare}", shop.delivery_base))
        .bearer_auth(&shop.s.admin().token)
        .body(vec![7u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let spare_object = format!("{}/{BUCKET}/{tenant}/{spare}", s3.endpoint);
    assert_eq!(http.head(&spare_object).send().await.unwrap().status(), 200);
    for (key, status) in [(spare, 204), (ASSET_KEY, 409)] {
        let res = shop
            .http
            .delete(format!("{}/admin/assets/{key}", shop.delivery_base))
            .bearer_auth(&shop.s.admin().token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{key}");
    }
    assert_eq!(http.head(&spare_object).send().await.unwrap().status(), 404);
    assert_eq!(http.head(&object).send().await.unwrap().status(), 200);
}
