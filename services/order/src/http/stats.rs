//! `GET /admin/stats`: orders, revenue, average order value, orders awaiting fulfilment, refunds
//! and orders by status per currency over a period, per day, and against the previous period of
//! the same length. Never summed across currencies.

use super::carts::timestamp;
use super::docs::ErrorResponses;
use super::orders::{bad_param, query_pairs, rfc3339};
use super::{AppState, endpoints};
use crate::app::order;
use crate::store::stats::PeriodRow;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ordo_http::jsonapi::{Resource, respond};
use ordo_http::{AdminOnly, ApiError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

endpoints!(stats);

/// The numbers of one currency over the period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatsOut {
    pub currency: String,
    pub orders: i64,
    /// Captured minus refunded.
    pub revenue: i64,
    /// Revenue per paid order; null without paid orders.
    pub average_order_value: Option<i64>,
    /// Paid, not fulfilled yet.
    pub awaiting_fulfillment: i64,
    pub previous_period: PreviousPeriodOut,
    pub daily: Vec<DayOut>,
    /// Refunds made in the period (whenever their order was placed).
    pub refunds: RefundsOut,
    /// Orders placed in the period by their status now.
    pub by_status: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefundsOut {
    pub count: i64,
    /// Minor units.
    pub amount: i64,
    pub previous_count: i64,
    pub previous_amount: i64,
    /// Null when the previous period had none.
    pub amount_change_percent: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviousPeriodOut {
    pub orders: i64,
    pub revenue: i64,
    /// Null without paid orders then.
    pub average_order_value: Option<i64>,
    /// Orders placed in the previous period that are paid and not fulfilled yet.
    pub awaiting_fulfillment: i64,
    /// Null when the previous period had none.
    pub orders_change_percent: Option<f64>,
    pub revenue_change_percent: Option<f64>,
    pub average_order_value_change_percent: Option<f64>,
    pub awaiting_fulfillment_change_percent: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayOut {
    /// `YYYY-MM-DD` (UTC)
    pub day: String,
    pub orders: i64,
    pub revenue: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PeriodOut {
    pub from: String,
    pub to: String,
}

/// `{"data": [per currency], "meta": {"from", "to"}}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatsDocument {
    pub data: Vec<Resource<StatsOut>>,
    pub meta: PeriodOut,
}

/// Query parameters of `GET /admin/stats`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct StatsQuery {
    /// Start of the period (RFC 3339)
    #[param(rename = "filter[created_from]", format = DateTime)]
    filter_created_from: String,
    /// End of the period, exclusive (RFC 3339); at most 366 days after the start
    #[param(rename = "filter[created_to]", format = DateTime)]
    filter_created_to: String,
}

#[utoipa::path(
    get,
    path = "/admin/stats",
    tag = "orders",
    summary = "Orders, revenue, average order value, orders awaiting fulfilment, refunds and orders by status per currency over filter[created_from]..filter[created_to] (<= 366 days), per day, and against the previous period of the same length",
    params(StatsQuery),
    responses(
        (status = 200, description = "Stats per currency", body = StatsDocument, content_type = "application/vnd.api+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
async fn stats(state: web::Data<AppState>, req: HttpRequest, who: AdminOnly) -> Result<HttpResponse, ApiError> {
    let params: HashMap<String, String> = query_pairs(req.query_string()).into_iter().collect();
    for k in params.keys() {
        if k != "filter[created_from]" && k != "filter[created_to]" {
            return Err(bad_param(k, &format!("unknown parameter {k}")));
        }
    }
    let time_param = |k: &str| -> Result<OffsetDateTime, ApiError> {
        rfc3339(
            k,
            params.get(k).ok_or_else(|| bad_param(k, &format!("{k} is required")))?,
        )
    };
    let (from, to) = (time_param("filter[created_from]")?, time_param("filter[created_to]")?);
    if to <= from || to - from > time::Duration::days(366) {
        return Err(bad_param(
            "filter[created_to]",
            "the range must be positive and at most 366 days",
        ));
    }
    let mut tx = state.begin(&who.0).await?;
    let order::Numbers {
        mut period,
        days,
        refunds,
        statuses,
    } = order::stats(&mut tx, who.0.tenant_id, from, to).await?;
    tx.commit().await?;
    let change =
        |now: i64, prev: i64| (prev != 0).then(|| ((now - prev) as f64 / prev as f64 * 10_000.0).round() / 100.0);
    // A currency with refunds but no order placed in the period still has its row.
    for r in &refunds {
        if !period.iter().any(|p| p.currency == r.currency) {
            period.push(PeriodRow {
                currency: r.currency.clone(),
                orders: 0,
                revenue: 0,
                paid_orders: 0,
                awaiting_fulfillment: 0,
                prev_orders: 0,
                prev_revenue: 0,
                prev_paid_orders: 0,
                prev_awaiting_fulfillment: 0,
            });
        }
    }
    period.sort_by(|a, b| a.currency.cmp(&b.currency));
    let data = period
        .into_iter()
        .map(|p| {
            let r = refunds.iter().find(|r| r.currency == p.currency);
            let (count, amount, previous_count, previous_amount) = r.map_or((0, 0, 0, 0), |r| {
                (r.refunds, r.refunded, r.prev_refunds, r.prev_refunded)
            });
            let by_status = statuses
                .iter()
                .filter(|(c, _, _)| *c == p.currency)
                .map(|(_, s, n)| (s.clone(), *n))
                .collect();
            let daily = days
                .iter()
                .filter(|d| d.currency == p.currency)
                .map(|d| DayOut {
                    day: timestamp(d.day).chars().take(10).collect(),
                    orders: d.orders,
                    revenue: d.revenue,
                })
                .collect();
            let aov = (p.paid_orders > 0).then(|| p.revenue / p.paid_orders);
            let prev_aov = (p.prev_paid_orders > 0).then(|| p.prev_revenue / p.prev_paid_orders);
            let out = StatsOut {
                currency: p.currency.clone(),
                orders: p.orders,
                revenue: p.revenue,
                average_order_value: aov,
                awaiting_fulfillment: p.awaiting_fulfillment,
                previous_period: PreviousPeriodOut {
                    orders: p.prev_orders,
                    revenue: p.prev_revenue,
                    average_order_value: prev_aov,
                    awaiting_fulfillment: p.prev_awaiting_fulfillment,
                    orders_change_percent: change(p.orders, p.prev_orders),
                    revenue_change_percent: change(p.revenue, p.prev_revenue),
                    average_order_value_change_percent: aov.zip(prev_aov).and_then(|(a, b)| change(a, b)),
                    awaiting_fulfillment_change_percent: change(p.awaiting_fulfillment, p.prev_awaiting_fulfillment),
                },
                daily,
                refunds: RefundsOut {
                    count,
                    amount,
                    previous_count,
                    previous_amount,
                    amount_change_percent: change(amount, previous_amount),
                },
                by_status,
            };
            Resource::new("order-stats", p.currency, out)
        })
        .collect();
    let doc = StatsDocument {
        data,
        meta: PeriodOut {
            from: timestamp(from),
            to: timestamp(to),
        },
    };
    Ok(respond(StatusCode::OK, &doc))
}
