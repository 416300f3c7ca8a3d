//! Delivery through the gateway: download links for customers and operators, shipments for
//! operators. The caller must see the order under row-level security first (the HTTP layer checks
//! with [`super::order::visible_status`]); then the delivery service is asked over NATS
//! request-reply, within `checkout.delivery_timeout_ms`.

use super::{Error, Peers, Result};
use ordo_domain::order::OrderStatus;
use ordo_events::common::v1::RpcError;
use ordo_events::delivery::v1::{
    CreateShipmentReply, CreateShipmentRequest, DownloadLink, DownloadLinksReply, DownloadLinksRequest,
    MarkShipmentDeliveredReply, MarkShipmentDeliveredRequest,
};
use uuid::Uuid;

/// Ask the delivery service; its refusal (`error` of the reply) becomes [`Error::Refused`].
async fn ask<Req, Rep>(
    peers: &Peers,
    subject: &str,
    request: &Req,
    refusal: impl FnOnce(&mut Rep) -> Option<RpcError>,
) -> Result<Rep>
where
    Req: prost::Message,
    Rep: prost::Message + Default,
{
    let mut reply: Rep = ordo_bus::rpc::request(&peers.bus, subject, request, peers.delivery_timeout)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "delivery service did not answer");
            Error::Unavailable {
                code: "delivery_service_unavailable",
            }
        })?;
    match refusal(&mut reply) {
        Some(e) => Err(Error::Refused {
            service: "delivery",
            code: e.code,
            message: e.message,
        }),
        None => Ok(reply),
    }
}

/// Who asks for download links: the customer who owns the order, or an operator.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    Customer(&'a str),
    Operator,
}

/// Fresh links for the digital lines of an order in `status` (paid or later).
pub async fn download_links(
    peers: &Peers,
    tenant: Uuid,
    order: Uuid,
    status: OrderStatus,
    requester: Requester<'_>,
) -> Result<Vec<DownloadLink>> {
    if matches!(status, OrderStatus::Pending | OrderStatus::Processing) {
        return Err(Error::conflict(
            "order_not_paid",
            "downloads are available once the order is paid",
        ));
    }
    let (customer, requester) = match requester {
        Requester::Customer(c) => (c, "customer"),
        Requester::Operator => ("", "operator"),
    };
    let request = DownloadLinksRequest {
        tenant_id: tenant.to_string(),
        order_id: order.to_string(),
        customer_id: customer.to_owned(),
        requester: requester.to_owned(),
    };
    let reply = ask(
        peers,
        ordo_events::rpc::DELIVERY_DOWNLOAD_LINKS,
        &request,
        |r: &mut DownloadLinksReply| r.error.take(),
    )
    .await?;
    Ok(reply.links)
}

/// An operator's shipment of physical lines.
#[derive(Debug, Clone)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
    pub line_ids: Vec<Uuid>,
}

/// Ship lines of `order`; returns the shipment id.
/// `request` is the same on every retry of the operator's request (see `Key::request_id`).
pub async fn create_shipment(peers: &Peers, tenant: Uuid, order: Uuid, s: &Shipment, request: Uuid) -> Result<String> {
    let request = CreateShipmentRequest {
        tenant_id: tenant.to_string(),
        order_id: order.to_string(),
        carrier: s.carrier.clone(),
        tracking_number: s.tracking_number.clone(),
        line_ids: s.line_ids.iter().map(Uuid::to_string).collect(),
        request_id: request.to_string(),
    };
    let reply = ask(
        peers,
        ordo_events::rpc::DELIVERY_CREATE_SHIPMENT,
        &request,
        |r: &mut CreateShipmentReply| r.error.take(),
    )
    .await?;
    Ok(reply.shipment_id)
}

/// The carrier delivered shipment `shipment` of `order`; returns whether it already was.
pub async fn mark_delivered(peers: &Peers, tenant: Uuid, order: Uuid, shipment: Uuid) -> Result<bool> {
    let request = MarkShipmentDeliveredRequest {
        tenant_id: tenant.to_string(),
        order_id: order.to_string(),
        shipment_id: shipment.to_string(),
    };
    let reply = ask(
        peers,
        ordo_events::rpc::DELIVERY_MARK_SHIPMENT_DELIVERED,
        &request,
        |r: &mut MarkShipmentDeliveredReply| r.error.take(),
    )
    .await?;
    Ok(reply.already_delivered)
}
