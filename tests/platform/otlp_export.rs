//! With an OTLP endpoint configured, spans really leave the process (checked against a fake
//! collector: compile-time checks and unit tests cannot see an exporter that silently drops).

use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry::trace::TracerProvider as _;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

/// (content type, body) of every request the fake collector received.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_http() {
    ordo_auth::install_crypto_provider();
    let received: Received = Arc::default();
    let sink = received.clone();
    let server = HttpServer::new(move || {
        let sink = sink.clone();
        App::new().route(
            "/v1/traces",
            web::post().to(move |req: actix_web::HttpRequest, body: web::Bytes| {
                let sink = sink.clone();
                async move {
                    let ct = req
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    sink.lock().unwrap().push((ct, body.to_vec()));
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());

    let provider =
        ordo_telemetry::tracer_provider_exporting_to("order", Some(format!("http://127.0.0.1:{port}/v1/traces")))
            .unwrap();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("ordo")));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("checkout.complete_cart", cart = "c-1");
        let _e = span.enter();
        tracing::info!("inside");
    });
    // force_flush blocks on the exporter thread: keep it off the async workers.
    let provider2 = provider.clone();
    tokio::task::spawn_blocking(move || provider2.force_flush())
        .await
        .unwrap()
        .unwrap();
    let got = received.lock().unwrap().clone();
    assert!(!got.is_empty(), "the collector received nothing");
    let (content_type, body) = &got[0];
    assert_eq!(content_type, "application/x-protobuf");
    let needle = b"checkout.complete_cart";
    assert!(
        body.windows(needle.len()).any(|w| w == needle),
        "span name not in the export"
    );
    let service = b"ordo-order";
    assert!(
        body.windows(service.len()).any(|w| w == service),
        "service.name not in the export"
    );
    let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
}
