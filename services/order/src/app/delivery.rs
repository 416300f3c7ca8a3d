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

fn unavailable(e: ordo_bus::BusError) -> Error {
    tracing::warn!(error = %e, "delivery service did not answer");
    Error::Unavailable {
        code: "delivery_service_unavailable",
    }
}

fn refused(e: RpcError) -> Error {
    Error::Refused {
        service: "delivery",
        code: e.code,
        message: e.message,
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
    let reply: DownloadLinksReply = ordo_bus::rpc::request(
        &peers.bus,
        ordo_events::rpc::DELIVERY_DOWNLOAD_LINKS,
        &request,
        peers.delivery_timeout,
    )
    .await
    .map_err(unavailable)?;
    match reply.error {
        Some(e) => Err(refused(e)),
        None => Ok(reply.links),
    }
}

/// An operator's shipment of physical lines.
#[derive(Debug, Clone)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
    pub line_ids: Vec<Uuid>,
}

/// Ship lines of `order`; returns the shipment id.
pub async fn create_shipment(peers: &Peers, tenant: Uuid, order: Uuid, s: &Shipment) -> Result<String> {
    let request = CreateShipmentRequest {
        tenant_id: tenant.to_string(),
        order_id: order.to_string(),
        carrier: s.carrier.clone(),
        tracking_number: s.tracking_number.clone(),
        line_ids: s.line_ids.iter().map(Uuid::to_string).collect(),
    };
    let reply: CreateShipmentReply = ordo_bus::rpc::request(
        &peers.bus,
        ordo_events::rpc::DELIVERY_CREATE_SHIPMENT,
        &request,
        peers.delivery_timeout,
    )
    .await
    .map_err(unavailable)?;
    match reply.error {
        Some(e) => Err(refused(e)),
        None => Ok(reply.shipment_id),
    }
}

/// The carrier delivered shipment `shipment` of `order`; returns whether it already was.
pub async fn mark_delivered(peers: &Peers, tenant: Uuid, order: Uuid, shipment: Uuid) -> Result<bool> {
    let request = MarkShipmentDeliveredRequest {
        tenant_id: tenant.to_string(),
        order_id: order.to_string(),
        shipment_id: shipment.to_string(),
    };
    let reply: MarkShipmentDeliveredReply = ordo_bus::rpc::request(
        &peers.bus,
        ordo_events::rpc::DELIVERY_MARK_SHIPMENT_DELIVERED,
        &request,
        peers.delivery_timeout,
    )
    .await
    .map_err(unavailable)?;
    match reply.error {
        Some(e) => Err(refused(e)),
        None => Ok(reply.already_delivered),
    }
}
