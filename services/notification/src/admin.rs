//! Operators' view, on the notification service with an admin token:
//! * `GET /admin/notifications` — the tenant's messages, newest first, with status, attempts and
//!   the last error (`filter[order_id]`, `filter[status]`, `page[size]` ≤ 200, `page[before]`);
//! * `GET /admin/notification-settings` and `PUT` — the store name, sender address and order page
//!   URL template its messages use (missing: the configured defaults).

use crate::AppState;
use actix_web::{HttpResponse, web};
use ordo_db::{Role, Scope};
use ordo_domain::checkout::{EMAIL_PATTERN, Email, TEXT_PATTERN};
use ordo_http::jsonapi::{Document, Input, Kind, Page, PageLinks, Resource};
use ordo_http::{AdminOnly, ApiError};
use uuid::Uuid;

ordo_http::endpoints!(list_notifications, get_notification_settings, put_notification_settings);

/// The error answer of the operators' routes.
#[derive(Debug, utoipa::IntoResponses)]
pub enum Errors {
    /// Bad filter or body (400), unauthenticated (401), not an admin (403), invalid settings (422)
    #[response(status = "4XX", content_type = "application/vnd.api+json")]
    Error(ordo_http::ErrorDocument),
}

fn scope(admin: &AdminOnly) -> Scope {
    Scope::new(admin.0.tenant_id, Some(admin.0.subject.clone()), Role::Admin)
}

fn ts(t: Option<time::OffsetDateTime>) -> Option<String> {
    t.map(ordo_http::jsonapi::rfc3339)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the messages of this order
    #[serde(rename = "filter[order_id]")]
    #[param(rename = "filter[order_id]")]
    order_id: Option<Uuid>,
    /// `pending`, `sent` or `failed`
    #[serde(rename = "filter[status]")]
    #[param(rename = "filter[status]", pattern = "^(pending|sent|failed)$")]
    status: Option<String>,
    /// 1 to 200 (default 50)
    #[serde(rename = "page[size]")]
    #[param(rename = "page[size]", minimum = 1, maximum = 200)]
    size: Option<u32>,
    /// From `links.next`
    #[serde(rename = "page[before]")]
    #[param(rename = "page[before]")]
    before: Option<i64>,
}

/// One message to a customer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NotificationOut {
    /// e.g. `order_confirmation`, `payment_failed`, `downloads_ready`
    pub kind: String,
    pub order_id: Uuid,
    pub recipient: String,
    /// `pending`, `sent` or `failed`
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub subject: Option<String>,
    pub created_at: Option<String>,
    pub sent_at: Option<String>,
    /// When a pending message is tried next.
    pub next_attempt_at: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    seq: i64,
    kind: String,
    order_id: Uuid,
    recipient: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    subject: Option<String>,
    created_at: Option<time::OffsetDateTime>,
    sent_at: Option<time::OffsetDateTime>,
    next_attempt_at: Option<time::OffsetDateTime>,
}

#[utoipa::path(
    get,
    path = "/admin/notifications",
    tag = "notifications",
    summary = "The tenant's messages, newest first: kind, recipient, status, attempts, last error",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of messages", body = Page<NotificationOut>, content_type = "application/vnd.api+json"),
        Errors,
    ),
    security(("bearer" = [])),
)]
async fn list_notifications(
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
    let size = q.size.unwrap_or(50);
    if !(1..=200).contains(&size) {
        return Err(ApiError::bad_request("invalid_filter", "page[size] is 1 to 200"));
    }
    let size = i64::from(size);
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin)).await?;
    let rows: Vec<MessageRow> = sqlx::query_as(
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
    .await?;
    tx.commit().await?;
    let more = rows.len() as i64 > size;
    let rows: Vec<MessageRow> = rows.into_iter().take(size as usize).collect();
    let last = rows.last().map(|r| r.seq);
    let data = rows
        .into_iter()
        .map(|r| {
            let pending = r.status == "pending";
            let out = NotificationOut {
                kind: r.kind,
                order_id: r.order_id,
                recipient: r.recipient,
                status: r.status,
                attempts: r.attempts,
                last_error: r.last_error,
                subject: r.subject,
                created_at: ts(r.created_at),
                sent_at: ts(r.sent_at),
                next_attempt_at: if pending { ts(r.next_attempt_at) } else { None },
            };
            Resource::new("notifications", r.id, out)
        })
        .collect();
    let next = match (more, last) {
        (true, Some(seq)) => Some(format!("/admin/notifications?page[before]={seq}&page[size]={size}")),
        _ => None,
    };
    Ok(HttpResponse::Ok().content_type(ordo_http::JSON_API).json(Page {
        data,
        links: PageLinks { next },
    }))
}

/// The store name, sender and order page the tenant's messages use.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SettingsOut {
    pub store_name: String,
    pub sender: String,
    /// `{order_id}` and `{order_number}` are replaced
    pub order_page_url: String,
    /// false: the configured defaults
    pub customized: bool,
}

fn settings_doc(store_name: &str, sender: &str, order_page_url: &str, custom: bool) -> Document<Resource<SettingsOut>> {
    let out = SettingsOut {
        store_name: store_name.to_owned(),
        sender: sender.to_owned(),
        order_page_url: order_page_url.to_owned(),
        customized: custom,
    };
    Document::new(Resource::new("notification-settings", "current", out))
}

#[derive(Debug, sqlx::FromRow)]
struct SettingsRow {
    store_name: String,
    sender: String,
    order_page_url: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/notification-settings",
    tag = "notifications",
    summary = "The store name, sender and order page the tenant's messages use",
    responses(
        (status = 200, description = "The settings (customized: false = the configured defaults)", body = Document<Resource<SettingsOut>>, content_type = "application/vnd.api+json"),
        Errors,
    ),
    security(("bearer" = [])),
)]
async fn get_notification_settings(state: web::Data<AppState>, admin: AdminOnly) -> Result<HttpResponse, ApiError> {
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin)).await?;
    let row: Option<SettingsRow> =
        sqlx::query_as("select store_name, sender, order_page_url from notifications.settings")
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    let cfg = &state.config;
    let doc = match row {
        Some(r) => settings_doc(
            &r.store_name,
            &r.sender,
            &r.order_page_url.unwrap_or_else(|| cfg.order_page_url.clone()),
            true,
        ),
        None => settings_doc(&cfg.default_store_name, &cfg.default_sender, &cfg.order_page_url, false),
    };
    Ok(HttpResponse::Ok().content_type(ordo_http::JSON_API).json(doc))
}

/// An http(s) URL without white space or control characters, or empty (the default).
const URL_PATTERN: &str =
    "^(?:https?://[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*)?$";

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    store_name: String,
    sender: String,
    #[serde(default)]
    order_page_url: Option<String>,
}

impl utoipa::__dev::ComposeSchema for SettingsInput {
    fn compose(
        _: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let schema = serde_json::json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["store_name", "sender"],
            "properties": {
                "store_name": {"type": "string", "maxLength": 200, "pattern": TEXT_PATTERN,
                               "description": "1 to 200 characters, not only white space, no control characters (stored trimmed)"},
                "sender": {"type": "string", "maxLength": 254, "pattern": EMAIL_PATTERN, "description": "The From address"},
                "order_page_url": {"type": ["string", "null"], "maxLength": 2000, "pattern": URL_PATTERN,
                                   "description": "http(s) URL of the storefront's order page; {order_id} and {order_number} are replaced; empty or null: the configured default"},
            },
        });
        serde_json::from_value(schema).unwrap_or_else(|_| utoipa::openapi::RefOr::T(Default::default()))
    }
}

impl utoipa::ToSchema for SettingsInput {}

impl Kind for SettingsInput {
    const KIND: &'static str = "notification-settings";
}

#[utoipa::path(
    put,
    path = "/admin/notification-settings",
    tag = "notifications",
    summary = "Set the store name, sender and order page",
    request_body(content = Input<SettingsInput>, content_type = "application/vnd.api+json"),
    responses(
        (status = 200, description = "The settings", body = Document<Resource<SettingsOut>>, content_type = "application/vnd.api+json"),
        Errors,
    ),
    security(("bearer" = [])),
)]
async fn put_notification_settings(
    state: web::Data<AppState>,
    admin: AdminOnly,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = ordo_http::jsonapi::parse_input::<SettingsInput>(&body)?.attributes;
    let store_name = ordo_domain::checkout::text("store_name", &input.store_name, 200).map_err(|_| {
        ApiError::unprocessable(
            "invalid_store_name",
            "the store name is 1 to 200 characters on one line",
            Some("/data/attributes/store_name"),
        )
    })?;
    let store_name = store_name.as_str();
    let sender = Email::parse(&input.sender).map_err(|_| {
        ApiError::unprocessable(
            "invalid_sender",
            "the sender is an e-mail address",
            Some("/data/attributes/sender"),
        )
    })?;
    let sender = sender.as_str();
    let url = input.order_page_url.as_deref().filter(|u| !u.is_empty());
    if let Some(u) = url
        && (!(u.starts_with("https://") || u.starts_with("http://"))
            || u.chars().count() > 2000
            || u.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(ApiError::unprocessable(
            "invalid_order_page_url",
            "the order page is an http(s) URL; {order_id} and {order_number} are replaced",
            Some("/data/attributes/order_page_url"),
        ));
    }
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin)).await?;
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
    .await?;
    tx.commit().await?;
    let shown = url.map_or_else(|| state.config.order_page_url.clone(), str::to_owned);
    Ok(HttpResponse::Ok()
        .content_type(ordo_http::JSON_API)
        .json(settings_doc(store_name, sender, &shown, true)))
}
