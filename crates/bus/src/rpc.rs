//! Request-reply between services over core NATS (subjects `ordo.rpc.<context>.v1.<name>`,
//! outside every stream): protobuf request and reply, the caller's trace context in the headers,
//! replicas of the answering service share requests through a queue group.

use crate::{Bus, BusError};
use futures::StreamExt;
use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

/// Ask `subject` and wait up to `timeout` for the reply.
pub async fn request<Req: prost::Message, Rep: prost::Message + Default>(
    bus: &Bus,
    subject: &str,
    req: &Req,
    timeout: Duration,
) -> Result<Rep, BusError> {
    let mut headers = async_nats::HeaderMap::new();
    ordo_telemetry::inject_nats(&tracing::Span::current(), &mut headers);
    let request = async_nats::Request::new()
        .payload(req.encode_to_vec().into())
        .headers(headers)
        .timeout(Some(timeout));
    let msg = bus
        .client()
        .send_request(bus.subject(subject), request)
        .await
        .map_err(|e| BusError::Rpc(format!("{subject}: {e}")))?;
    Rep::decode(msg.payload).map_err(|e| BusError::Event(format!("{subject} reply: {e}")))
}

/// Answer `subject` with `handler` until the connection closes. Requests are handled
/// concurrently; a handler that fails to produce a reply leaves the caller to time out.
pub async fn serve<Req, Rep, F, Fut>(bus: Bus, subject: &str, group: &str, handler: F) -> Result<(), BusError>
where
    Req: prost::Message + Default + Send + 'static,
    Rep: prost::Message + Send + 'static,
    F: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Rep> + Send + 'static,
{
    let wire = bus.subject(subject);
    let mut sub = bus
        .client()
        .queue_subscribe(wire.clone(), group.to_owned())
        .await
        .map_err(|e| BusError::Rpc(format!("subscribe {wire}: {e}")))?;
    let subject = subject.to_owned();
    while let Some(msg) = sub.next().await {
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let req = match Req::decode(msg.payload.clone()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%subject, error = %e, "undecodable request ignored");
                continue;
            }
        };
        let (bus, handler) = (bus.clone(), handler.clone());
        let span = tracing::info_span!("rpc", subject = %subject);
        ordo_telemetry::set_parent_from_nats(&span, msg.headers.as_ref());
        tokio::spawn(
            async move {
                let rep = handler(req).await;
                if let Err(e) = bus.client().publish(reply_to, rep.encode_to_vec().into()).await {
                    tracing::warn!(error = %e, "reply not sent");
                }
            }
            .instrument(span),
        );
    }
    Ok(())
}

/// How long a caller waits by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
