//! Dead letters as an operator's work list, on every service:
//!
//! * `GET /admin/dead-letters` — the caller's tenant's dead letters, newest first
//!   (`filter[consumer]`, `filter[state]=pending|replayed`, `page[size]` ≤ 100, `page[after]`);
//! * `POST /admin/dead-letters/{id}/replay` — run one through its consumer again (inbox
//!   semantics: an effect already applied is not applied twice). Replaying is idempotent by
//!   nature: a replayed dead letter answers `409 already_replayed`.
//!
//! Admin only; row-level security limits both to the admin's tenant (another tenant's dead
//! letter is a 404). Every dead letter written is also an error-level log line and
//! `ordo_dead_letters_total{consumer,subject}` (see `ordo_bus::consumer`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use ordo_bus::consumer::{Outcome, Replayer};
use ordo_db::{Role, Scope};
use ordo_http::jsonapi::respond;
use ordo_http::{AdminOnly, ApiError};
use serde_json::json;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The service's consumers, by name.
#[derive(Debug, Clone, Default)]
pub struct Registry(Arc<Mutex<HashMap<String, Arc<dyn Replayer>>>>);

impl Registry {
    pub fn add(&self, consumer: Arc<dyn Replayer>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(consumer.name().to_owned(), consumer);
    }

    fn get(&self, name: &str) -> Option<Arc<dyn Replayer>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// The schemas holding this service's dead letters.
    fn schemas(&self) -> Vec<String> {
        let mut s: Vec<String> = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|c| c.schema().to_owned())
            .collect();
        s.sort();
        s.dedup();
        s
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/dead-letters")
            .route(web::get().to(list))
            .default_service(ordo_http::method_not_allowed("GET")),
    );
    cfg.service(
        web::resource("/admin/dead-letters/{id}/replay")
            .route(web::post().to(replay))
            .default_service(ordo_http::method_not_allowed("POST")),
    );
}

fn db(e: sqlx::Error) -> ApiError {
    ApiError::database(e)
}

fn scope(who: &AdminOnly) -> Scope {
    Scope::new(who.0.tenant_id, Some(who.0.subject.clone()), Role::Admin)
}

#[derive(Debug, serde::Deserialize)]
struct ListQuery {
    #[serde(rename = "filter[consumer]")]
    consumer: Option<String>,
    #[serde(rename = "filter[state]")]
    state: Option<String>,
    #[serde(rename = "page[size]")]
    size: Option<i64>,
    #[serde(rename = "page[after]")]
    after: Option<Uuid>,
}

const COLUMNS: &str = "id, consumer, subject, event_id, error, attempts, created_at, replayed_at, replay_error, \
     octet_length(payload) as payload_bytes";

fn document(r: &sqlx::postgres::PgRow) -> Result<serde_json::Value, ApiError> {
    let ts = |c: &str| -> Result<Option<String>, ApiError> {
        let t: Option<time::OffsetDateTime> = r.try_get(c).map_err(db)?;
        Ok(t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()))
    };
    Ok(
        json!({"type": "dead-letters", "id": r.try_get::<Uuid, _>("id").map_err(db)?, "attributes": {
            "consumer": r.try_get::<String, _>("consumer").map_err(db)?,
            "subject": r.try_get::<String, _>("subject").map_err(db)?,
            "event_id": r.try_get::<Option<Uuid>, _>("event_id").map_err(db)?,
            "error": r.try_get::<String, _>("error").map_err(db)?,
            "attempts": r.try_get::<i32, _>("attempts").map_err(db)?,
            "payload_bytes": r.try_get::<Option<i32>, _>("payload_bytes").map_err(db)?,
            "created_at": ts("created_at")?,
            "replayed_at": ts("replayed_at")?,
            "replay_error": r.try_get::<Option<String>, _>("replay_error").map_err(db)?,
        }}),
    )
}

async fn list(
    registry: web::Data<Registry>,
    pool: web::Data<sqlx::PgPool>,
    who: AdminOnly,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let size = q.size.unwrap_or(50);
    if !(1..=100).contains(&size) {
        return Err(
            ApiError::bad_request("invalid_page_size", "page[size] must be 1 to 100").with_parameter("page[size]"),
        );
    }
    // A consumer's durable name; anything else (a NUL byte was a 500) is refused.
    if let Some(c) = &q.consumer
        && (!(1..=100).contains(&c.len())
            || !c
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
    {
        return Err(ApiError::bad_request(
            "invalid_filter",
            "filter[consumer] is a consumer name (1 to 100 of a-z 0-9 _)",
        )
        .with_parameter("filter[consumer]"));
    }
    let replayed = match q.state.as_deref() {
        None => None,
        Some("pending") => Some(false),
        Some("replayed") => Some(true),
        Some(_) => {
            return Err(
                ApiError::bad_request("invalid_filter", "filter[state] is pending or replayed")
                    .with_parameter("filter[state]"),
            );
        }
    };
    let mut tx = ordo_db::begin_scoped(&pool, &scope(&who)).await.map_err(db)?;
    let mut data = Vec::new();
    for schema in registry.schemas() {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from {schema}.dead_letters
             where ($1::text is null or consumer = $1) and ($2::bool is null or (replayed_at is not null) = $2)
               and ($3::uuid is null or id < $3)
             order by id desc limit $4"
        )))
        .bind(&q.consumer)
        .bind(replayed)
        .bind(q.after)
        .bind(size + 1)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for r in &rows {
            data.push(document(r)?);
        }
    }
    tx.commit().await.map_err(db)?;
    let more = data.len() as i64 > size;
    data.truncate(size as usize);
    let next = if more {
        data.last().map(|d| d["id"].clone())
    } else {
        None
    };
    Ok(respond(
        StatusCode::OK,
        &json!({"data": data, "meta": {"page": {"size": size, "next_after": next}}}),
    ))
}

/// Dead letter `id` as the admin's tenant sees it (row-level security), from whichever of the
/// service's schemas holds it.
async fn visible(
    registry: &Registry,
    pool: &sqlx::PgPool,
    who: &AdminOnly,
    id: Uuid,
) -> Result<Option<serde_json::Value>, ApiError> {
    let mut tx = ordo_db::begin_scoped(pool, &scope(who)).await.map_err(db)?;
    let mut found = None;
    for schema in registry.schemas() {
        if let Some(r) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from {schema}.dead_letters where id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        {
            found = Some(document(&r)?);
            break;
        }
    }
    tx.commit().await.map_err(db)?;
    Ok(found)
}

async fn replay(
    registry: web::Data<Registry>,
    pool: web::Data<sqlx::PgPool>,
    who: AdminOnly,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let not_found = || ApiError::not_found("dead letter", &id.to_string());
    let found = visible(&registry, &pool, &who, id).await?;
    let (consumer, replayed) = found
        .map(|d| {
            let a = &d["attributes"];
            (
                a["consumer"].as_str().unwrap_or_default().to_owned(),
                !a["replayed_at"].is_null(),
            )
        })
        .ok_or_else(not_found)?;
    if replayed {
        return Err(ApiError::conflict(
            "already_replayed",
            "this dead letter was replayed already",
        ));
    }
    let consumer = registry.get(&consumer).ok_or_else(|| {
        ApiError::conflict(
            "consumer_not_running",
            "the consumer of this dead letter does not run here",
        )
    })?;
    let outcome = match consumer.replay_boxed(id).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(dead_letter = %id, error = %e, "replay failed");
            metrics::counter!("ordo_dead_letter_replays_total", "result" => "failed").increment(1);
            return Err(ApiError::unprocessable(
                "replay_failed",
                "the event failed again; its error is recorded on the dead letter (replay_error)",
                None,
            ));
        }
    };
    metrics::counter!("ordo_dead_letter_replays_total", "result" => "replayed").increment(1);
    tracing::info!(dead_letter = %id, admin = %who.0.subject, ?outcome, "dead letter replayed");
    let mut doc = visible(&registry, &pool, &who, id).await?.ok_or_else(not_found)?;
    doc["attributes"]["replay_outcome"] = json!(match outcome {
        Outcome::Applied => "applied",
        Outcome::Duplicate => "already_applied",
        // Replay runs the handler whatever the subject; it never skips.
        Outcome::Skipped => "already_applied",
        Outcome::Retrying | Outcome::DeadLettered => "failed",
    });
    Ok(respond(StatusCode::OK, &json!({"data": doc})))
}

/// The routes above, as (method, path) in OpenAPI's spelling: every service serves them.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/admin/dead-letters"),
    ("post", "/admin/dead-letters/{id}/replay"),
];

/// Add the dead-letter operations (and their schema, the error document and the `bearer`
/// security scheme where missing) to a service's OpenAPI document.
pub fn document_in(doc: &mut serde_json::Value) {
    if !doc["paths"].is_object() {
        doc["paths"] = json!({});
    }
    if !doc["components"].is_object() {
        doc["components"] = json!({});
    }
    if !doc["components"]["schemas"].is_object() {
        doc["components"]["schemas"] = json!({});
    }
    if doc["components"]["schemas"]["ErrorDocument"].is_null() {
        doc["components"]["schemas"]["ErrorDocument"] = json!({"type": "object", "description": "JSON:API errors",
            "properties": {"errors": {"type": "array", "items": {"type": "object", "properties": {
                "status": {"type": "string"}, "code": {"type": "string"}, "title": {"type": "string"},
                "detail": {"type": "string"}, "source": {"type": "object"}}}}}});
    }
    if !doc["components"]["securitySchemes"].is_object() {
        doc["components"]["securitySchemes"] = json!({});
    }
    if doc["components"]["securitySchemes"]["bearer"].is_null() {
        doc["components"]["securitySchemes"]["bearer"] =
            json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"});
    }
    let error = json!({"description": "JSON:API error with a stable code", "content": {"application/vnd.api+json": {
        "schema": {"$ref": "#/components/schemas/ErrorDocument"}}}});
    let letter = json!({"$ref": "#/components/schemas/DeadLetter"});
    let paths = json!({
        "/admin/dead-letters": {"get": {
            "operationId": "list_dead_letters", "tags": ["dead-letters"],
            "summary": "The events this service's consumers gave up on, for the caller's tenant (admin)",
            "description": "Newest first. An event is dead-lettered after its retries (exponential backoff for about ten minutes by default) or at once when it can never succeed; each is also an error-level log line and ordo_dead_letters_total.",
            "parameters": [
                {"name": "filter[consumer]", "in": "query", "required": false, "description": "a consumer's durable name, e.g. order_payment_events", "schema": {"type": "string", "pattern": "^[a-z0-9_]{1,100}$"}},
                {"name": "filter[state]", "in": "query", "required": false, "schema": {"enum": ["pending", "replayed"]}},
                {"name": "page[size]", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
                {"name": "page[after]", "in": "query", "required": false, "description": "meta.page.next_after of the previous page", "schema": {"type": "string", "format": "uuid"}}],
            "responses": {
                "200": {"description": "Dead letters", "content": {"application/vnd.api+json": {"schema": {
                    "type": "object", "properties": {"data": {"type": "array", "items": letter}, "meta": {"type": "object"}}}}}},
                "4XX": error},
            "security": [{"bearer": []}]}},
        "/admin/dead-letters/{id}/replay": {"post": {
            "operationId": "replay_dead_letter", "tags": ["dead-letters"],
            "summary": "Run a dead letter through its consumer again (admin)",
            "description": "Applied at most once (the consumer's inbox); a replayed dead letter answers 409 already_replayed, so repeating the request is safe. 422 replay_failed when the event fails again (its error is recorded as replay_error). Another tenant's dead letter is a 404.",
            "parameters": [
                {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
                {"name": "Idempotency-Key", "in": "header", "required": false, "description": "Accepted; replaying is idempotent by itself", "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "The dead letter, replayed (attributes.replay_outcome: applied | already_applied)",
                    "content": {"application/vnd.api+json": {"schema": {"type": "object", "properties": {"data": letter}}}}},
                "4XX": error},
            "security": [{"bearer": []}]}},
    });
    let schema = json!({"type": "object", "properties": {
        "type": {"const": "dead-letters"}, "id": {"type": "string", "format": "uuid"},
        "attributes": {"type": "object", "properties": {
            "consumer": {"type": "string"}, "subject": {"type": "string"},
            "event_id": {"type": ["string", "null"], "format": "uuid"},
            "error": {"type": "string"}, "attempts": {"type": "integer"},
            "payload_bytes": {"type": ["integer", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "replayed_at": {"type": ["string", "null"], "format": "date-time"},
            "replay_error": {"type": ["string", "null"]},
            "replay_outcome": {"type": "string", "description": "only in the replay's answer"}}}}});
    if let (Some(target), Some(add)) = (doc["paths"].as_object_mut(), paths.as_object()) {
        for (k, v) in add {
            target.insert(k.clone(), v.clone());
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.insert("DeadLetter".into(), schema);
    }
}
