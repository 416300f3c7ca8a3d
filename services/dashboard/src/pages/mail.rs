//! Mail and dead letters: the customer e-mails (status, attempts, last error) and every
//! service's dead letters — events a consumer gave up on — with a replay button each.

use super::{Nav, when, words};
use crate::AppState;
use crate::api::{ApiFailure, Service};
use crate::views::{DeadLetter, Notification, PageOf, Res};
use crate::web::{Form, Notice, Operator, PageError, PageResult, after_post, html, shown, take_notice};
use actix_web::{HttpRequest, web};
use askama::Template;
use reqwest::Method;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct MailQuery {
    #[serde(default)]
    status: String,
}

/// One service's dead letters, or why they could not be read.
#[derive(Debug)]
pub struct Letters {
    pub service: &'static str,
    pub letters: Result<Vec<Res<DeadLetter>>, String>,
}

#[derive(Template)]
#[template(path = "mail.html")]
struct MailPage {
    nav: Nav,
    status: String,
    mails: Vec<Res<Notification>>,
    dead: Vec<Letters>,
    notice: Option<Notice>,
}

impl MailPage {
    fn when(&self, t: &Option<String>) -> String {
        t.as_deref().map(when).unwrap_or_default()
    }
    fn words(&self, s: &str) -> String {
        words(s)
    }
}

/// The dead-letter list answer (`meta.page`, not `links`).
#[derive(Debug, Deserialize)]
struct DeadLetterList {
    data: Vec<Res<DeadLetter>>,
}

pub async fn page(state: web::Data<AppState>, req: HttpRequest, op: Operator, q: web::Query<MailQuery>) -> PageResult {
    let status = match q.status.as_str() {
        s @ ("pending" | "sent" | "failed") => s.to_owned(),
        _ => String::new(),
    };
    let token = &op.0.token;
    let mail_path = if status.is_empty() {
        "/admin/notifications?page[size]=100".to_owned()
    } else {
        format!("/admin/notifications?page[size]=100&filter[status]={status}")
    };
    let dead_path = "/admin/dead-letters?filter[state]=pending&page[size]=50";
    let (mails, order, payment, delivery, notification) = futures::join!(
        state
            .api
            .get::<PageOf<Notification>>(Service::Notification, &mail_path, token),
        state.api.get::<DeadLetterList>(Service::Order, dead_path, token),
        state.api.get::<DeadLetterList>(Service::Payment, dead_path, token),
        state.api.get::<DeadLetterList>(Service::Delivery, dead_path, token),
        state.api.get::<DeadLetterList>(Service::Notification, dead_path, token),
    );
    let mut dead = Vec::new();
    for (service, r) in [
        (Service::Order, order),
        (Service::Payment, payment),
        (Service::Delivery, delivery),
        (Service::Notification, notification),
    ] {
        let letters = match r {
            Ok(l) => Ok(l.data),
            Err(ApiFailure::SignedOut) => return Err(ApiFailure::SignedOut.into()),
            Err(e) => Err(e.to_string()),
        };
        dead.push(Letters {
            service: service.name(),
            letters,
        });
    }
    let notice = take_notice(&state, &req);
    let page = MailPage {
        nav: Nav::new(&op.0, "mail"),
        status,
        mails: mails?.data,
        dead,
        notice: notice.clone(),
    };
    Ok(shown(&state, html(&page)?, &notice))
}

/// Replay one dead letter at the service that holds it.
pub async fn replay(state: web::Data<AppState>, path: web::Path<(String, String)>, form: Form) -> PageResult {
    let (service, id) = path.into_inner();
    let service = Service::parse(&service).ok_or(PageError::NotFound)?;
    let id = super::order::path_id(&id)?;
    let result = state
        .api
        .send(
            Method::POST,
            service,
            &format!("/admin/dead-letters/{id}/replay"),
            form.token(),
            None,
            form.key(),
        )
        .await
        .map(|doc| {
            format!(
                "Replayed: {}.",
                words(doc["data"]["attributes"]["replay_outcome"].as_str().unwrap_or("done"))
            )
        });
    after_post(&state, "/mail", "replay", result)
}
