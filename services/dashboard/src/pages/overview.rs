//! The overview: for the chosen period (last 7, 30 or 90 days, UTC) per currency — orders,
//! revenue, average order value, awaiting fulfilment, refunds, each against the previous period
//! of the same length — revenue and orders per day, orders by status; and the latest orders.

use super::{Nav, money, when, words};
use crate::AppState;
use crate::api::Service;
use crate::views::{Doc, OrderSummary, PageOf, Res, Stats};
use crate::web::{Operator, PageResult, html};
use actix_web::web;
use askama::Template;
use serde::Deserialize;
use time::{Duration, OffsetDateTime, Time};

#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    days: Option<i64>,
}

/// One currency's card.
#[derive(Debug)]
pub struct CurrencyCard {
    pub stats: Stats,
    pub chart: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Nav,
    days: i64,
    from: String,
    to: String,
    cards: Vec<CurrencyCard>,
    latest: Vec<Res<OrderSummary>>,
}

impl OverviewPage {
    fn money(&self, amount: &i64, currency: &str) -> String {
        money(*amount, currency)
    }

    fn change(&self, p: &Option<f64>) -> String {
        match p {
            None => "no earlier data".into(),
            Some(v) if *v >= 0.0 => format!("+{v:.1}% vs previous"),
            Some(v) => format!("{v:.1}% vs previous"),
        }
    }

    fn up(&self, p: &Option<f64>) -> &'static str {
        match p {
            Some(v) if *v > 0.0 => "up",
            Some(v) if *v < 0.0 => "down",
            _ => "flat",
        }
    }

    fn when(&self, t: &str) -> String {
        when(t)
    }

    fn words(&self, s: &str) -> String {
        words(s)
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    ordo_http::jsonapi::rfc3339(t)
}

pub async fn page(state: web::Data<AppState>, op: Operator, q: web::Query<PeriodQuery>) -> PageResult {
    let days = q.days.filter(|d| [7, 30, 90].contains(d)).unwrap_or(30);
    let to = OffsetDateTime::now_utc().replace_time(Time::MIDNIGHT) + Duration::days(1);
    let from = to - Duration::days(days);
    let path = format!(
        "/admin/stats?filter[created_from]={}&filter[created_to]={}",
        ordo_http::urlencode(&rfc3339(from)),
        ordo_http::urlencode(&rfc3339(to))
    );
    let token = &op.0.token;
    let (stats, latest) = futures::join!(
        state.api.get::<Doc<Vec<Res<Stats>>>>(Service::Order, &path, token),
        state
            .api
            .get::<PageOf<OrderSummary>>(Service::Order, "/admin/orders?page[size]=8", token),
    );
    let cards = stats?
        .data
        .into_iter()
        .map(|r| {
            let s = r.attributes;
            let per_day: Vec<(String, i64, i64)> = (0..days)
                .map(|i| {
                    let day = (from + Duration::days(i)).date().to_string();
                    let found = s.daily.iter().find(|d| d.day == day);
                    (day, found.map_or(0, |d| d.orders), found.map_or(0, |d| d.revenue))
                })
                .collect();
            CurrencyCard {
                chart: crate::draw::daily_chart(&per_day, &s.currency),
                stats: s,
            }
        })
        .collect();
    html(&OverviewPage {
        nav: Nav::new(&op.0, "overview"),
        days,
        from: from.date().to_string(),
        to: (to - Duration::days(1)).date().to_string(),
        cards,
        latest: latest?.data,
    })
}
