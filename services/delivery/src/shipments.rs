//! Shipments of physical lines, asked by the order service for an operator over NATS:
//! `ordo.rpc.delivery.v1.create_shipment` (carrier, tracking number, lines → one shipment,
//! `delivery.shipment_created`) and `ordo.rpc.delivery.v1.mark_shipment_delivered`
//! (→ `delivery.shipment_delivered`; a repeat changes nothing). A line ships once, whole; only
//! physical lines of a paid, not refunded order ship.

use crate::AppState;
use crate::order_events::meta;
use ordo_bus::outbox::Outbox;
use ordo_db::Scope;
use ordo_events::common::v1::RpcError;
use ordo_events::delivery::v1::{
    CreateShipmentReply, CreateShipmentRequest, MarkShipmentDeliveredReply, MarkShipmentDeliveredRequest,
    ShipmentCreated, ShipmentDelivered,
};
use sqlx::Row;
use std::sync::Arc;
use uuid::Uuid;

fn rpc_error(code: &str, message: &str) -> Option<RpcError> {
    Some(RpcError {
        code: code.into(),
        message: message.into(),
    })
}

pub async fn create(state: Arc<AppState>, req: CreateShipmentRequest) -> CreateShipmentReply {
    match try_create(&state, &req).await {
        Ok(Ok(id)) => CreateShipmentReply {
            shipment_id: id.to_string(),
            error: None,
        },
        Ok(Err((code, message))) => CreateShipmentReply {
            shipment_id: String::new(),
            error: rpc_error(code, &message),
        },
        Err(e) => {
            tracing::error!(error = %e, "shipment not created");
            CreateShipmentReply {
                shipment_id: String::new(),
                error: rpc_error(crate::failure_code(&e), "the shipment could not be created"),
            }
        }
    }
}

type Refusal = (&'static str, String);

async fn try_create(state: &AppState, req: &CreateShipmentRequest) -> anyhow::Result<Result<Uuid, Refusal>> {
    let (Ok(tenant), Ok(order)) = (Uuid::parse_str(&req.tenant_id), Uuid::parse_str(&req.order_id)) else {
        return Ok(Err(("invalid_request", "tenant and order must be UUIDs".into())));
    };
    let carrier = req.carrier.trim();
    let tracking = req.tracking_number.trim();
    if carrier.is_empty() || carrier.chars().count() > 100 || tracking.is_empty() || tracking.chars().count() > 100 {
        return Ok(Err((
            "invalid_shipment",
            "carrier and tracking number are 1 to 100 characters".into(),
        )));
    }
    if req.line_ids.is_empty() || req.line_ids.len() > 1000 {
        return Ok(Err(("invalid_shipment", "name 1 to 1000 lines to ship".into())));
    }
    let mut lines = Vec::with_capacity(req.line_ids.len());
    for l in &req.line_ids {
        match Uuid::parse_str(l) {
            Ok(id) if !lines.contains(&id) => lines.push(id),
            Ok(_) => return Ok(Err(("invalid_shipment", format!("line {l} is named twice")))),
            Err(_) => return Ok(Err(("invalid_shipment", format!("line id {l:?} is not a UUID")))),
        }
    }
    let mut tx = ordo_db::begin_scoped(&state.pool, &Scope::service(tenant)).await?;
    let revoked: Option<bool> =
        sqlx::query_scalar("select revoked_at is not null from delivery.orders where order_id = $1 for update")
            .bind(order)
            .fetch_optional(&mut *tx)
            .await?;
    match revoked {
        None => return Ok(Err(("order_unknown", "no paid order with this id".into()))),
        Some(true) => return Ok(Err(("order_revoked", "the order was refunded or canceled".into()))),
        Some(false) => {}
    }
    // A retry of a request whose shipment exists (the caller lost the first answer) gets that
    // shipment again.
    let request = match req.request_id.as_str() {
        "" => None,
        r => match Uuid::parse_str(r) {
            Ok(id) => Some(id),
            Err(_) => return Ok(Err(("invalid_request", "request_id must be a UUID".into()))),
        },
    };
    if let Some(id) = request {
        let existing: Option<Uuid> = sqlx::query_scalar("select order_id from delivery.shipments where id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        match existing {
            Some(o) if o == order => {
                tx.commit().await?;
                return Ok(Ok(id));
            }
            Some(_) => {
                return Ok(Err((
                    "invalid_request",
                    "request_id names another order's shipment".into(),
                )));
            }
            None => {}
        }
    }
    let known = sqlx::query(
        "select l.line_id, l.kind, s.shipment_id from delivery.order_lines l
         left join delivery.shipment_lines s on s.line_id = l.line_id
         where l.order_id = $1 and l.line_id = any($2)",
    )
    .bind(order)
    .bind(&lines)
    .fetch_all(&mut *tx)
    .await?;
    for l in &lines {
        let Some(row) = known.iter().find(|r| r.try_get::<Uuid, _>("line_id").ok() == Some(*l)) else {
            return Ok(Err(("line_unknown", format!("line {l} is not a line of this order"))));
        };
        if row.try_get::<String, _>("kind")? != "physical" {
            return Ok(Err((
                "line_not_physical",
                format!("line {l} is digital: it is delivered by download"),
            )));
        }
        if row.try_get::<Option<Uuid>, _>("shipment_id")?.is_some() {
            return Ok(Err((
                "line_already_shipped",
                format!("line {l} is already in a shipment"),
            )));
        }
    }
    let id = request.unwrap_or_else(Uuid::now_v7);
    sqlx::query(
        "insert into delivery.shipments (id, tenant_id, order_id, carrier, tracking_number, status)
         values ($1, $2, $3, $4, $5, 'shipped')",
    )
    .bind(id)
    .bind(tenant)
    .bind(order)
    .bind(carrier)
    .bind(tracking)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into delivery.shipment_lines (line_id, tenant_id, shipment_id) select unnest($1::uuid[]), $2, $3",
    )
    .bind(&lines)
    .bind(tenant)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let event = ShipmentCreated {
        meta: Some(meta::<ShipmentCreated>(tenant, order, None)),
        order_id: order.to_string(),
        shipment_id: id.to_string(),
        carrier: carrier.to_owned(),
        tracking_number: tracking.to_owned(),
        line_ids: lines.iter().map(Uuid::to_string).collect(),
    };
    Outbox::new(crate::SCHEMA).enqueue(&mut tx, &event).await?;
    tx.commit().await?;
    metrics::counter!("ordo_delivery_shipments_created_total").increment(1);
    tracing::info!(%order, shipment = %id, lines = lines.len(), "shipment created");
    Ok(Ok(id))
}

pub async fn mark_delivered(state: Arc<AppState>, req: MarkShipmentDeliveredRequest) -> MarkShipmentDeliveredReply {
    match try_mark(&state, &req).await {
        Ok(Ok(already)) => MarkShipmentDeliveredReply {
            already_delivered: already,
            error: None,
        },
        Ok(Err((code, message))) => MarkShipmentDeliveredReply {
            already_delivered: false,
            error: rpc_error(code, &message),
        },
        Err(e) => {
            tracing::error!(error = %e, "shipment not marked delivered");
            MarkShipmentDeliveredReply {
                already_delivered: false,
                error: rpc_error(crate::failure_code(&e), "the shipment could not be updated"),
            }
        }
    }
}

async fn try_mark(state: &AppState, req: &MarkShipmentDeliveredRequest) -> anyhow::Result<Result<bool, Refusal>> {
    let (Ok(tenant), Ok(order), Ok(shipment)) = (
        Uuid::parse_str(&req.tenant_id),
        Uuid::parse_str(&req.order_id),
        Uuid::parse_str(&req.shipment_id),
    ) else {
        return Ok(Err((
            "invalid_request",
            "tenant, order and shipment must be UUIDs".into(),
        )));
    };
    let mut tx = ordo_db::begin_scoped(&state.pool, &Scope::service(tenant)).await?;
    let status: Option<String> =
        sqlx::query_scalar("select status from delivery.shipments where id = $1 and order_id = $2 for update")
            .bind(shipment)
            .bind(order)
            .fetch_optional(&mut *tx)
            .await?;
    match status.as_deref() {
        None => return Ok(Err(("shipment_unknown", "no such shipment for this order".into()))),
        Some("delivered") => return Ok(Ok(true)),
        _ => {}
    }
    sqlx::query("update delivery.shipments set status = 'delivered', delivered_at = now() where id = $1")
        .bind(shipment)
        .execute(&mut *tx)
        .await?;
    let lines: Vec<Uuid> =
        sqlx::query_scalar("select line_id from delivery.shipment_lines where shipment_id = $1 order by line_id")
            .bind(shipment)
            .fetch_all(&mut *tx)
            .await?;
    let event = ShipmentDelivered {
        meta: Some(meta::<ShipmentDelivered>(tenant, order, None)),
        order_id: order.to_string(),
        shipment_id: shipment.to_string(),
        line_ids: lines.iter().map(Uuid::to_string).collect(),
    };
    Outbox::new(crate::SCHEMA).enqueue(&mut tx, &event).await?;
    tx.commit().await?;
    metrics::counter!("ordo_delivery_shipments_delivered_total").increment(1);
    Ok(Ok(false))
}
