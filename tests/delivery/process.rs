//! The delivery service as a process of its own, watched from outside: its resident memory
//! while a 512 MiB asset goes up and down, and everything it (and the gateway) logs and traces
//! while tokens are issued, used, refused and revoked.

use ordo_tests::delivery_stack::*;

/// The delivery service as a program of its own.
const PROCESS: &str = env!("CARGO_BIN_EXE_ordo-delivery-process");
use bytes::Bytes;
use futures::StreamExt;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

const MIB: u64 = 1 << 20;

/// Chunk `i` of the big asset: 1 MiB of a pattern, its first 8 bytes the chunk number.
fn chunk(base: &[u8], i: u64) -> Bytes {
    let mut c = base.to_vec();
    c[..8].copy_from_slice(&i.to_be_bytes());
    Bytes::from(c)
}

/// Samples a process's resident memory every 5 ms; `peak()` is the highest seen since `start`.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_of(pid)));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_of(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Sampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_512_mib_asset_downloads_while_the_services_memory_grows_less_than_32_mib() {
    let shop = DeliveryStack::start_process(PROCESS, |_| {}).await;
    let pid = shop.process.as_ref().unwrap().child.id();
    let ada = shop.s.customer("ada");

    // Warm up: a small asset, uploaded and downloaded once, so pools and buffers exist.
    shop.upload(bytes(1 << 20)).await;
    let order = shop.paid_order(&ada, 0).await;
    let url = shop.link(&ada, &order).await;
    assert_eq!(shop.fetch(&url, None).await.0, 200);
    let idle = rss_of(pid);

    // Up: 512 MiB made on the fly, streamed (chunked) to the service.
    let total: u64 = 512;
    let base: Vec<u8> = (0..MIB).map(|i| (i * 131 % 251) as u8).collect();
    let sent = Arc::new(Mutex::new(Sha256::new()));
    let (b, h) = (base.clone(), sent.clone());
    let body = futures::stream::iter(0..total).map(move |i| {
        let c = chunk(&b, i);
        h.lock().unwrap().update(&c);
        Ok::<_, std::io::Error>(c)
    });
    let sampler = Sampler::start(pid);
    let started = Instant::now();
    let res = shop
        .http
        .put(format!("{}/admin/assets/{ASSET_KEY}", shop.delivery_base))
        .bearer_auth(&shop.s.admin().token)
        .header("content-type", "application/pdf")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    let upload_secs = started.elapsed().as_secs_f64();
    let upload_peak = sampler.finish();
    assert_eq!(res.status(), 200, "replacing the warm-up asset");
    let stored: serde_json::Value = res.json().await.unwrap();
    let expected = hex::encode(sent.lock().unwrap().clone().finalize());
    assert_eq!(stored["data"]["attributes"]["size"], json!(total * MIB));
    assert_eq!(stored["data"]["attributes"]["sha256"], json!(expected));

    // Down: a new order's link, the whole file read and hashed, never held.
    let order = shop.paid_order(&ada, 0).await;
    let url = shop.link(&ada, &order).await;
    let before = rss_of(pid);
    let sampler = Sampler::start(pid);
    let started = Instant::now();
    let mut res = shop.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.content_length(), Some(total * MIB));
    let mut got = Sha256::new();
    let mut len = 0u64;
    while let Some(c) = res.chunk().await.unwrap() {
        len += c.len() as u64;
        got.update(&c);
    }
    let download_secs = started.elapsed().as_secs_f64();
    let download_peak = sampler.finish();
    assert_eq!(len, total * MIB);
    assert_eq!(hex::encode(got.finalize()), expected);

    let mib = |b: u64| b as f64 / MIB as f64;
    let growth = download_peak.saturating_sub(before);
    eprintln!(
        "delivery RSS: idle {:.1} MiB; upload of 512 MiB peak {:.1} MiB (+{:.1}) in {upload_secs:.1} s; \
         download peak {:.1} MiB (+{:.1} over {:.1} before it) in {download_secs:.1} s",
        mib(idle),
        mib(upload_peak),
        mib(upload_peak.saturating_sub(idle)),
        mib(download_peak),
        mib(growth),
        mib(before),
    );
    assert!(
        growth < 32 * MIB,
        "the download grew the service by {:.1} MiB",
        mib(growth)
    );
    // The upload's part buffers (8 MiB, at most 2 in flight) are bounded too.
    let up = upload_peak.saturating_sub(idle);
    assert!(up < 64 * MIB, "the upload grew the service by {:.1} MiB", mib(up));
}

/// A `Write` into a shared buffer, for the in-process services' log lines.
#[derive(Clone)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_appears_in_any_log_line_or_span_at_trace_level() {
    // The gateway and the other services in this process: every target at trace, JSON lines with
    // span fields, and every span exported (the test's own HTTP client is left out: it is the
    // customer, who knows the token).
    let lines = Captured(Arc::new(Mutex::new(Vec::new())));
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(
            "trace,reqwest=off,hyper=off,hyper_util=off",
        ))
        .with(ordo_telemetry::secrets_cap())
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_writer(move || writer.clone()),
        )
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("scan")));
    tracing::subscriber::set_global_default(subscriber)
        .expect("one test per process (cargo nextest): this test owns the global subscriber");

    // The delivery service, its own process, logging everything at trace.
    let shop = DeliveryStack::start_process(PROCESS, |c| {
        c.telemetry.filter = "trace".into();
        c.delivery.max_downloads = 100; // the revocation, not the limit, must end this test
    })
    .await;
    shop.upload(bytes(200_000)).await;
    let eve = shop.s.customer("eve");
    let admin = shop.s.admin();
    let order = shop.paid_order(&eve, 0).await;
    let mut urls = vec![shop.link(&eve, &order).await];
    let (code, links) = shop
        .s
        .shop
        .get(&format!("/admin/orders/{order}/download-links"), &admin)
        .await;
    assert_eq!(code, 200);
    urls.push(
        links["data"][0]["attributes"]["url"]
            .as_str()
            .unwrap()
            .replace(PUBLIC_BASE, &shop.delivery_base),
    );
    let token_of = |u: &str| u.rsplit('/').next().unwrap().to_owned();
    let mut tokens: Vec<String> = urls.iter().map(|u| token_of(u)).collect();
    assert_ne!(tokens[0], tokens[1]);

    // Every way a token reaches the service: whole, ranges, multipart, 416, odd paths, queries,
    // used up, unknown, revoked.
    let url = &urls[0];
    assert_eq!(shop.fetch(url, None).await.0, 200);
    assert_eq!(shop.fetch(url, Some("bytes=0-99")).await.0, 206);
    assert_eq!(shop.fetch(url, Some("bytes=0-9,100-199")).await.0, 206);
    assert_eq!(shop.fetch(url, Some("bytes=999999-")).await.0, 416);
    assert_eq!(shop.fetch(&format!("{url}?utm_source=mail"), None).await.0, 200);
    assert_eq!(shop.fetch(&format!("{url}/extra"), None).await.0, 404);
    assert_eq!(shop.fetch(&format!("{url}x"), None).await.0, 403);
    let unknown = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    };
    tokens.push(unknown.clone());
    let (code, _, body) = shop
        .fetch(&format!("{}/downloads/{unknown}", shop.delivery_base), None)
        .await;
    assert_eq!((code, error_code(&body).as_str()), (403, "token_unknown"));
    shop.s
        .shop
        .ok(
            "POST",
            &format!("/admin/orders/{order}/refunds"),
            &admin,
            Some(json!({"data": {"type": "refunds", "attributes": {"amount": 1546, "reason": "scan"}}})),
            202,
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, _, body) = shop.fetch(&urls[1], None).await;
        if code == 403 {
            assert_eq!(error_code(&body), "token_revoked");
            break;
        }
        assert!(Instant::now() < deadline, "never revoked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // let the last lines and spans out

    let delivery = shop.process.as_ref().unwrap().output();
    let gateway = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let spans = format!("{:?}", exporter.get_finished_spans().unwrap());
    // The scan means something only if the requests were logged and traced at all.
    assert!(
        delivery.lines().filter(|l| l.contains("/downloads/")).count() >= 8,
        "the delivery service's request lines are missing:\n{}",
        &delivery[..delivery.len().min(4000)]
    );
    assert!(
        gateway.contains("download-links"),
        "the gateway's request lines are missing"
    );
    assert!(spans.contains("download-links"), "the gateway's spans are missing");
    eprintln!(
        "scanned {} delivery log lines, {} gateway log lines, {} spans for {} tokens",
        delivery.lines().count(),
        gateway.lines().count(),
        exporter.get_finished_spans().unwrap().len(),
        tokens.len()
    );
    for t in &tokens {
        for (name, text) in [
            ("delivery log", &delivery),
            ("gateway log", &gateway),
            ("spans", &spans),
        ] {
            if let Some(at) = text.find(t.as_str()) {
                let from = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let to = text[at..].find('\n').map_or(text.len(), |i| at + i);
                panic!("a token is in the {name}: {}", &text[from..to]);
            }
        }
    }
}
