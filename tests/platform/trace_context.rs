//! Trace context set on a published event is the parent of the consumer's span.

use crate::support::*;
use async_nats::jetstream::consumer::pull;
use futures::StreamExt;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use ordo_bus::consumer::{Consumer, Outcome};
use ordo_bus::outbox::Outbox;
use ordo_bus::relay::Relay;
use ordo_config::ServiceConfig;
use ordo_testkit::{TestBus, TestDb};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;

#[tokio::test] // current-thread runtime: the thread-local subscriber sees every task
async fn consumer_span_is_a_child_of_the_publishing_span() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let db = TestDb::create().await;
    let bus = TestBus::create().await;
    let superuser = db.superuser_pool().await;
    create_effects_table(&superuser).await;
    let pool = db.pool_for("ordo_order", 2).await;

    let event = paid_event(Uuid::now_v7(), "o-traced");
    async {
        let mut tx = pool.begin().await.unwrap();
        Outbox::new("orders").enqueue(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
    }
    .instrument(tracing::info_span!("checkout.request"))
    .await;

    let cfg = ServiceConfig::defaults("order", 0);
    Relay::new(pool.clone(), bus.bus.clone(), "orders", &cfg.outbox)
        .publish_batch()
        .await
        .unwrap();

    let spec = order_events_spec("trace_test");
    let stream = bus
        .bus
        .jetstream()
        .get_stream(bus.bus.stream_name(spec.context))
        .await
        .unwrap();
    let js_consumer = stream
        .get_or_create_consumer(
            "trace_test",
            pull::Config {
                durable_name: Some("trace_test".into()),
                ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let msg = js_consumer
        .fetch()
        .max_messages(1)
        .messages()
        .await
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap();
    let consumer = Consumer::new(spec, cfg.consumer, pool.clone(), bus.bus.clone(), RecordEffect);
    assert_eq!(consumer.process(msg).await, Outcome::Applied);

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let find = |name: &str| {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name}: {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let request = find("checkout.request");
    let enqueue = find("outbox.enqueue");
    let consume = find("ordo.consume");
    assert_eq!(
        enqueue.parent_span_id,
        request.span_context.span_id(),
        "enqueue runs inside the request span"
    );
    assert_eq!(
        consume.span_context.trace_id(),
        request.span_context.trace_id(),
        "one trace from request to consumer"
    );
    assert_eq!(
        consume.parent_span_id,
        enqueue.span_context.span_id(),
        "the consumer's parent is the span that published"
    );
}
