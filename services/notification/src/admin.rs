//! Operators' view, on the notification service with an admin token:
//! * `GET /admin/notifications` — the tenant's messages, newest first, with status, attempts and
//!   the last error (`filter[order_id]`, `filter[status]`, `page[size]` ≤ 200, `page[before]`);
//! * `GET /admin/notification-settings` and `PUT` — the store name, sender address and order page
//!   URL template its messages use (missing: the configured defaults).

use crate::AppState;
use actix_web::{HttpResponse, web};
use ordo_db::{Role, Scope};
use ordo_http::{AdminOnly, ApiError};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

fn scope(admin: &AdminOnly) -> Scope {
    Scope::new(admin.0.tenant_id, Some(admin.0.subject.clone()), Role::Admin)
}

fn ts(t: Option<time::OffsetDateTime>) -> serde_json::Value {
    t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .map_or(serde_json::Value::Null, serde_json::Value::String)
}

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    #[serde(rename = "filter[order_id]")]
    order_id: Option<Uuid>,
    #[serde(rename = "filter[status]")]
    status: Option<String>,
    #[serde(rename = "page[size]")]
    size: Option<u32>,
    #[serde(rename = "page[before]")]
    before: Option<i64>,
}

pub async fn list(
    state: web::Data<AppState>,
    admin: AdminOnly,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(s) = &q.status
        && !matches!(s.as_str(), "pending" | "sent" | "failed")
    {
        return Err(ApiError::bad_request(
            "invalid_filter",
            "filter[status] is pending, sent or failed",
        ));
    }
    let size = i64::from(q.size.unwrap_or(50).clamp(1, 200));
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin))
        .await
        .map_err(ApiError::database)?;
    let rows = sqlx::query(
        "select id, seq, kind, order_id, recipient, status, attempts, last_error, subject, created_at, sent_at,
                next_attempt_at
         from notifications.messages
         where ($1::uuid is null or order_id = $1) and ($2::text is null or status = $2)
           and ($3::int8 is null or seq < $3)
         order by seq desc limit $4",
    )
    .bind(q.order_id)
    .bind(q.status.as_deref())
    .bind(q.before)
    .bind(size + 1)
    .fetch_all(&mut *tx)
    .await
    .map_err(ApiError::database)?;
    tx.commit().await.map_err(ApiError::database)?;
    let more = rows.len() as i64 > size;
    let mut data = Vec::new();
    let mut last = None;
    for r in rows.iter().take(size as usize) {
        last = Some(r.try_get::<i64, _>("seq").map_err(ApiError::database)?);
        let pending = r.try_get::<String, _>("status").map_err(ApiError::database)? == "pending";
        data.push(json!({"type": "notifications", "id": r.try_get::<Uuid, _>("id").map_err(ApiError::database)?, "attributes": {
            "kind": r.try_get::<String, _>("kind").map_err(ApiError::database)?,
            "order_id": r.try_get::<Uuid, _>("order_id").map_err(ApiError::database)?,
            "recipient": r.try_get::<String, _>("recipient").map_err(ApiError::database)?,
            "status": r.try_get::<String, _>("status").map_err(ApiError::database)?,
            "attempts": r.try_get::<i32, _>("attempts").map_err(ApiError::database)?,
            "last_error": r.try_get::<Option<String>, _>("last_error").map_err(ApiError::database)?,
            "subject": r.try_get::<Option<String>, _>("subject").map_err(ApiError::database)?,
            "created_at": ts(r.try_get("created_at").map_err(ApiError::database)?),
            "sent_at": ts(r.try_get("sent_at").map_err(ApiError::database)?),
            "next_attempt_at": if pending { ts(r.try_get("next_attempt_at").map_err(ApiError::database)?) } else { serde_json::Value::Null },
        }}));
    }
    let next = match (more, last) {
        (true, Some(seq)) => Some(format!("/admin/notifications?page[before]={seq}&page[size]={size}")),
        _ => None,
    };
    Ok(HttpResponse::Ok()
        .content_type(ordo_http::JSON_API)
        .json(json!({"data": data, "links": {"next": next}})))
}

fn settings_doc(store_name: &str, sender: &str, order_page_url: &str, custom: bool) -> serde_json::Value {
    json!({"data": {"type": "notification-settings", "id": "current", "attributes": {
        "store_name": store_name, "sender": sender, "order_page_url": order_page_url, "customized": custom}}})
}

pub async fn get_settings(state: web::Data<AppState>, admin: AdminOnly) -> Result<HttpResponse, ApiError> {
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin))
        .await
        .map_err(ApiError::database)?;
    let row = sqlx::query("select store_name, sender, order_page_url from notifications.settings")
        .fetch_optional(&mut *tx)
        .await
        .map_err(ApiError::database)?;
    tx.commit().await.map_err(ApiError::database)?;
    let cfg = &state.config;
    let doc = match row {
        Some(r) => settings_doc(
            &r.try_get::<String, _>("store_name").map_err(ApiError::database)?,
            &r.try_get::<String, _>("sender").map_err(ApiError::database)?,
            &r.try_get::<Option<String>, _>("order_page_url")
                .map_err(ApiError::database)?
                .unwrap_or_else(|| cfg.order_page_url.clone()),
            true,
        ),
        None => settings_doc(&cfg.default_store_name, &cfg.default_sender, &cfg.order_page_url, false),
    };
    Ok(HttpResponse::Ok().content_type(ordo_http::JSON_API).json(doc))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    store_name: String,
    sender: String,
    #[serde(default)]
    order_page_url: Option<String>,
}

impl ordo_http::jsonapi::Kind for SettingsInput {
    const KIND: &'static str = "notification-settings";
}

pub async fn put_settings(
    state: web::Data<AppState>,
    admin: AdminOnly,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = ordo_http::jsonapi::parse_input::<SettingsInput>(&body)?.attributes;
    let store_name = input.store_name.trim();
    if store_name.is_empty() || store_name.len() > 200 || store_name.contains(['\r', '\n']) {
        return Err(ApiError::unprocessable(
            "invalid_store_name",
            "the store name is 1 to 200 characters on one line",
            Some("/data/attributes/store_name"),
        ));
    }
    let sender = input.sender.trim();
    if sender.parse::<lettre::Address>().is_err() || sender.len() > 320 {
        return Err(ApiError::unprocessable(
            "invalid_sender",
            "the sender is an e-mail address",
            Some("/data/attributes/sender"),
        ));
    }
    let url = input.order_page_url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    if let Some(u) = url
        && (!(u.starts_with("https://") || u.starts_with("http://"))
            || u.len() > 2000
            || u.contains(char::is_whitespace))
    {
        return Err(ApiError::unprocessable(
            "invalid_order_page_url",
            "the order page is an http(s) URL; {order_id} and {order_number} are replaced",
            Some("/data/attributes/order_page_url"),
        ));
    }
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin))
        .await
        .map_err(ApiError::database)?;
    sqlx::query(
        "insert into notifications.settings (tenant_id, store_name, sender, order_page_url) values ($1, $2, $3, $4)
         on conflict (tenant_id) do update set store_name = excluded.store_name, sender = excluded.sender,
             order_page_url = excluded.order_page_url, updated_at = now()",
    )
    .bind(admin.0.tenant_id)
    .bind(store_name)
    .bind(sender)
    .bind(url)
    .execute(&mut *tx)
    .await
    .map_err(ApiError::database)?;
    tx.commit().await.map_err(ApiError::database)?;
    let shown = url.map_or_else(|| state.config.order_page_url.clone(), str::to_owned);
    Ok(HttpResponse::Ok()
        .content_type(ordo_http::JSON_API)
        .json(settings_doc(store_name, sender, &shown, true)))
}
