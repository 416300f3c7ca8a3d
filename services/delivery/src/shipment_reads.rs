//! `GET /admin/orders/{id}/shipments`: an order's shipments for operators (the dashboard's order
//! page), newest last, each with its carrier, tracking number, status and lines. Row-level
//! security scopes the read to the caller's tenant: another tenant's order, like an order this
//! service has not seen (not paid yet), simply has none.

use crate::AppState;
use actix_web::{HttpResponse, web};
use ordo_db::{Role, Scope};
use ordo_http::jsonapi::{Document, Resource, rfc3339};
use ordo_http::{AdminOnly, ApiError};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

ordo_http::endpoints!(list_shipments);

/// One shipment of physical lines.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShipmentOut {
    pub order_id: Uuid,
    pub carrier: String,
    pub tracking_number: String,
    /// `shipped` or `delivered`
    pub status: String,
    /// The order lines it carries.
    pub line_ids: Vec<Uuid>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct ShipmentRow {
    id: Uuid,
    order_id: Uuid,
    carrier: String,
    tracking_number: String,
    status: String,
    line_ids: Vec<Uuid>,
    created_at: OffsetDateTime,
    delivered_at: Option<OffsetDateTime>,
}

/// The error answer.
#[derive(Debug, utoipa::IntoResponses)]
pub enum ShipmentErrors {
    /// unauthenticated (401), not an admin (403)
    #[response(status = "4XX", content_type = "application/vnd.api+json")]
    Error(ordo_http::ErrorDocument),
}

#[utoipa::path(
    get,
    path = "/admin/orders/{id}/shipments",
    tag = "shipments",
    summary = "An order's shipments, oldest first",
    description = "Shipments are created through the order service (`POST /admin/orders/{id}/shipments`). \
        An order without shipments, not paid yet, or of another tenant answers an empty list.",
    params(("id" = Uuid, Path, description = "the order id")),
    responses(
        (status = 200, description = "The shipments", body = Document<Vec<Resource<ShipmentOut>>>, content_type = "application/vnd.api+json"),
        ShipmentErrors,
    ),
    security(("bearer" = [])),
)]
async fn list_shipments(
    state: web::Data<AppState>,
    admin: AdminOnly,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::new(admin.0.tenant_id, Some(admin.0.subject.clone()), Role::Admin);
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope).await?;
    let rows: Vec<ShipmentRow> = sqlx::query_as(
        "select s.id, s.order_id, s.carrier, s.tracking_number, s.status, s.created_at, s.delivered_at,
                coalesce(array_agg(l.line_id order by l.line_id) filter (where l.line_id is not null),
                         '{}') as line_ids
         from delivery.shipments s
         left join delivery.shipment_lines l on l.shipment_id = s.id
         where s.order_id = $1
         group by s.id
         order by s.created_at, s.id",
    )
    .bind(path.into_inner())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let data: Vec<_> = rows
        .into_iter()
        .map(|r| {
            Resource::new(
                "shipments",
                r.id,
                ShipmentOut {
                    order_id: r.order_id,
                    carrier: r.carrier,
                    tracking_number: r.tracking_number,
                    status: r.status,
                    line_ids: r.line_ids,
                    created_at: rfc3339(r.created_at),
                    delivered_at: r.delivered_at.map(rfc3339),
                },
            )
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type(ordo_http::JSON_API)
        .json(Document::new(data)))
}
