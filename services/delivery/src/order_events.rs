//! Order events the delivery service acts on (consumer `delivery_order_events`):
//! * `order.paid` — remember the order and its lines, grant every digital line (once per line)
//!   and publish `delivery.grants_issued`;
//! * `order.refunded` (a full refund) and `order.canceled` — revoke the order's grants at once and
//!   publish `delivery.grants_revoked`. A revocation that overtakes its `order.paid` leaves a
//!   revoked order behind, so the grants are born revoked.
//!
//! Each runs in the consumer's inbox transaction: a redelivery changes nothing.

use ordo_bus::consumer::{Delivery, Handler, HandlerError};
use ordo_bus::outbox::Outbox;
use ordo_events::common::v1::LineKind;
use ordo_events::delivery::v1::{Grant, GrantsIssued, GrantsRevoked};
use ordo_events::order::v1::{OrderCanceled, OrderPaid, OrderRefunded};
use ordo_events::{Event, EventMetadata};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct OrderEvents {
    pub max_downloads: u32,
}

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
}

fn bus_err(e: ordo_bus::BusError) -> HandlerError {
    HandlerError::Transient(e.to_string())
}

/// The order events the delivery service acts on; every other one (e.g. `order.placed`) is
/// acknowledged unread. Keep in step with the `match` of [`OrderEvents::handle`].
pub const HANDLED: &[&str] = &[OrderPaid::SUBJECT, OrderRefunded::SUBJECT, OrderCanceled::SUBJECT];

impl Handler for OrderEvents {
    fn subjects(&self) -> Option<&'static [&'static str]> {
        Some(HANDLED)
    }

    async fn handle(&self, tx: &mut PgConnection, d: &Delivery) -> Result<(), HandlerError> {
        let tenant = d.tenant_id.ok_or_else(|| permanent("event without tenant"))?;
        let uuid = |s: &str| Uuid::parse_str(s).map_err(|_| permanent(format!("{} has a bad id {s:?}", d.subject)));
        match d.subject.as_str() {
            OrderPaid::SUBJECT => {
                let e: OrderPaid = d.decode()?;
                self.paid(tx, tenant, uuid(&e.order_id)?, &e).await
            }
            OrderRefunded::SUBJECT => {
                let e: OrderRefunded = d.decode()?;
                revoke(tx, tenant, uuid(&e.order_id)?, "refunded", e.meta.as_ref()).await
            }
            OrderCanceled::SUBJECT => {
                let e: OrderCanceled = d.decode()?;
                revoke(tx, tenant, uuid(&e.order_id)?, "canceled", e.meta.as_ref()).await
            }
            _ => Ok(()),
        }
    }
}

impl OrderEvents {
    async fn paid(&self, tx: &mut PgConnection, tenant: Uuid, order: Uuid, e: &OrderPaid) -> Result<(), HandlerError> {
        let revoked: Option<Option<time::OffsetDateTime>> = sqlx::query_scalar(
            "insert into delivery.orders (order_id, tenant_id, order_number, customer_id, email)
             values ($1, $2, $3, $4, $5)
             on conflict (order_id) do update set order_number = excluded.order_number,
                 customer_id = excluded.customer_id, email = excluded.email
             returning revoked_at",
        )
        .bind(order)
        .bind(tenant)
        .bind(e.order_number as i64)
        .bind(&e.customer_id)
        .bind(&e.email)
        .fetch_optional(&mut *tx)
        .await?;
        let revoked_at = revoked.flatten();
        let mut grants = Vec::new();
        for l in &e.lines {
            let line = Uuid::parse_str(&l.line_id).map_err(|_| permanent(format!("bad line id {:?}", l.line_id)))?;
            let kind = match LineKind::try_from(l.kind) {
                Ok(LineKind::Digital) => "digital",
                Ok(LineKind::Physical) => "physical",
                _ => return Err(permanent(format!("line {line} has no kind"))),
            };
            sqlx::query(
                "insert into delivery.order_lines (line_id, tenant_id, order_id, kind, sku, title, quantity, asset_key)
                 values ($1, $2, $3, $4, $5, $6, $7, nullif($8, '')) on conflict (line_id) do nothing",
            )
            .bind(line)
            .bind(tenant)
            .bind(order)
            .bind(kind)
            .bind(&l.sku)
            .bind(&l.title)
            .bind(l.quantity.max(1) as i32)
            .bind(&l.asset_key)
            .execute(&mut *tx)
            .await?;
            if kind != "digital" {
                continue;
            }
            if l.asset_key.is_empty() {
                return Err(permanent(format!("digital line {line} has no asset key")));
            }
            let id: Option<Uuid> = sqlx::query_scalar(
                "insert into delivery.grants (id, tenant_id, order_id, line_id, asset_key, max_downloads, revoked_at)
                 values ($1, $2, $3, $4, $5, $6, $7) on conflict (line_id) do nothing returning id",
            )
            .bind(Uuid::now_v7())
            .bind(tenant)
            .bind(order)
            .bind(line)
            .bind(&l.asset_key)
            .bind(self.max_downloads.max(1) as i32)
            .bind(revoked_at)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = id {
                grants.push(Grant {
                    grant_id: id.to_string(),
                    line_id: line.to_string(),
                    asset_key: l.asset_key.clone(),
                    max_downloads: self.max_downloads.max(1),
                });
            }
        }
        if grants.is_empty() || revoked_at.is_some() {
            return Ok(());
        }
        let n = grants.len();
        let event = GrantsIssued {
            meta: Some(meta::<GrantsIssued>(tenant, order, e.meta.as_ref())),
            order_id: order.to_string(),
            grants,
        };
        Outbox::new(crate::SCHEMA).enqueue(tx, &event).await.map_err(bus_err)?;
        metrics::counter!("ordo_delivery_grants_issued_total").increment(n as u64);
        tracing::info!(%order, grants = n, "download grants issued");
        Ok(())
    }
}

/// Revoke every grant of the order (and the order itself, so later grants are born revoked).
async fn revoke(
    tx: &mut PgConnection,
    tenant: Uuid,
    order: Uuid,
    reason: &str,
    cause: Option<&EventMetadata>,
) -> Result<(), HandlerError> {
    sqlx::query(
        "insert into delivery.orders (order_id, tenant_id, order_number, customer_id, revoked_at, revoked_reason)
         values ($1, $2, 0, '', now(), $3)
         on conflict (order_id) do update set revoked_at = coalesce(delivery.orders.revoked_at, now()),
             revoked_reason = coalesce(delivery.orders.revoked_reason, excluded.revoked_reason)",
    )
    .bind(order)
    .bind(tenant)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "update delivery.grants set revoked_at = now() where order_id = $1 and revoked_at is null returning id",
    )
    .bind(order)
    .fetch_all(&mut *tx)
    .await?;
    if ids.is_empty() {
        return Ok(());
    }
    let event = GrantsRevoked {
        meta: Some(meta::<GrantsRevoked>(tenant, order, cause)),
        order_id: order.to_string(),
        grant_ids: ids.iter().map(Uuid::to_string).collect(),
        reason: reason.to_owned(),
    };
    Outbox::new(crate::SCHEMA).enqueue(tx, &event).await.map_err(bus_err)?;
    metrics::counter!("ordo_delivery_grants_revoked_total").increment(ids.len() as u64);
    tracing::info!(%order, grants = ids.len(), reason, "download grants revoked");
    Ok(())
}

/// Metadata for an event about `order`, caused by `cause` when known.
pub(crate) fn meta<E: Event>(tenant: Uuid, order: Uuid, cause: Option<&EventMetadata>) -> EventMetadata {
    match cause {
        Some(c) => EventMetadata::caused_by::<E>(c, &order.to_string(), 0),
        None => EventMetadata::for_event::<E>(&tenant.to_string(), &order.to_string(), 0),
    }
}
