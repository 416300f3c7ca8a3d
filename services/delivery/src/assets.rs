//! Operators' assets: `PUT /admin/assets/{key}` uploads (streamed to object storage, never held
//! in memory whole; size and SHA-256 computed on the way), `GET /admin/assets` lists,
//! `DELETE /admin/assets/{key}` deletes — refused while a live grant points at the asset.
//! A variant's `asset_key` names one of these keys.

use crate::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use object_store::{ObjectStoreExt as _, WriteMultipart};
use ordo_db::{Role, Scope};
use ordo_http::{AdminOnly, ApiError};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;

fn key_of(raw: &str) -> Result<String, ApiError> {
    if crate::storage::valid_key(raw) {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::unprocessable(
            "invalid_asset_key",
            "an asset key is 1–512 characters of A-Z a-z 0-9 . _ - in /-separated segments (no . or ..)",
            None,
        ))
    }
}

fn doc(row: &sqlx::postgres::PgRow) -> Result<serde_json::Value, ApiError> {
    let ts = |c: &str| -> Result<String, ApiError> {
        let t: time::OffsetDateTime = row.try_get(c).map_err(ApiError::database)?;
        t.format(&time::format_description::well_known::Rfc3339)
            .map_err(ApiError::internal)
    };
    Ok(
        json!({"type": "assets", "id": row.try_get::<String, _>("key").map_err(ApiError::database)?, "attributes": {
            "size": row.try_get::<i64, _>("size").map_err(ApiError::database)?,
            "content_type": row.try_get::<String, _>("content_type").map_err(ApiError::database)?,
            "sha256": row.try_get::<String, _>("sha256").map_err(ApiError::database)?,
            "created_at": ts("created_at")?,
            "updated_at": ts("updated_at")?,
        }}),
    )
}

fn scope(admin: &AdminOnly) -> Scope {
    Scope::new(admin.0.tenant_id, Some(admin.0.subject.clone()), Role::Admin)
}

/// Upload (or replace) an asset. The body is the file; `Content-Type` is remembered for
/// downloads (default `application/octet-stream`).
pub async fn upload(
    state: web::Data<AppState>,
    admin: AdminOnly,
    req: HttpRequest,
    key: web::Path<String>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&key)?;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 255 && v.is_ascii())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let limit = state.config.max_asset_bytes;
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(ApiError::payload_too_large());
    }
    let location = crate::storage::location(admin.0.tenant_id, &key);
    let upload = state.store.put_multipart(&location).await.map_err(ApiError::internal)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(ApiError::bad_request(
                    "upload_interrupted",
                    &format!("the upload broke off: {e}"),
                ));
            }
        };
        size += chunk.len() as u64;
        if size > limit {
            let _ = writer.abort().await;
            return Err(ApiError::payload_too_large());
        }
        hasher.update(&chunk);
        if let Err(e) = writer.wait_for_capacity(2).await {
            return Err(ApiError::internal(e));
        }
        writer.put(chunk);
    }
    writer.finish().await.map_err(ApiError::internal)?;
    let sha = hex::encode(hasher.finalize());
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin))
        .await
        .map_err(ApiError::database)?;
    let row = sqlx::query(
        "insert into delivery.assets (tenant_id, key, size, content_type, sha256) values ($1, $2, $3, $4, $5)
         on conflict (tenant_id, key) do update set size = excluded.size, content_type = excluded.content_type,
             sha256 = excluded.sha256, updated_at = now()
         returning key, size, content_type, sha256, created_at, updated_at, (xmax = 0) as inserted",
    )
    .bind(admin.0.tenant_id)
    .bind(&key)
    .bind(size as i64)
    .bind(&content_type)
    .bind(&sha)
    .fetch_one(&mut *tx)
    .await
    .map_err(ApiError::database)?;
    tx.commit().await.map_err(ApiError::database)?;
    let inserted: bool = row.try_get("inserted").map_err(ApiError::database)?;
    tracing::info!(asset = %key, size, "asset stored");
    metrics::counter!("ordo_delivery_asset_bytes_uploaded_total").increment(size);
    let status = if inserted { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status)
        .content_type(ordo_http::JSON_API)
        .json(json!({"data": doc(&row)?})))
}

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    #[serde(rename = "page[after]")]
    after: Option<String>,
    #[serde(rename = "page[size]")]
    size: Option<u32>,
}

/// The tenant's assets by key, 100 per page (`page[size]` up to 500), `page[after]` = last key.
pub async fn list(
    state: web::Data<AppState>,
    admin: AdminOnly,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let size = q.size.unwrap_or(100).clamp(1, 500) as i64;
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin))
        .await
        .map_err(ApiError::database)?;
    let rows = sqlx::query(
        "select key, size, content_type, sha256, created_at, updated_at from delivery.assets
         where ($1::text is null or key > $1) order by key limit $2",
    )
    .bind(q.after.as_deref())
    .bind(size + 1)
    .fetch_all(&mut *tx)
    .await
    .map_err(ApiError::database)?;
    tx.commit().await.map_err(ApiError::database)?;
    let more = rows.len() as i64 > size;
    let data = rows
        .iter()
        .take(size as usize)
        .map(doc)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if more {
        data.last()
            .and_then(|d| d["id"].as_str())
            .map(|k| format!("/admin/assets?page[after]={k}&page[size]={size}"))
    } else {
        None
    };
    Ok(HttpResponse::Ok()
        .content_type(ordo_http::JSON_API)
        .json(json!({"data": data, "links": {"next": next}})))
}

/// Delete an asset no live grant needs.
pub async fn delete(
    state: web::Data<AppState>,
    admin: AdminOnly,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&key)?;
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin))
        .await
        .map_err(ApiError::database)?;
    let in_use: i64 =
        sqlx::query_scalar("select count(*) from delivery.grants where asset_key = $1 and revoked_at is null")
            .bind(&key)
            .fetch_one(&mut *tx)
            .await
            .map_err(ApiError::database)?;
    if in_use > 0 {
        return Err(ApiError::conflict(
            "asset_in_use",
            &format!("{in_use} download grants still deliver this asset"),
        ));
    }
    let gone = sqlx::query("delete from delivery.assets where key = $1")
        .bind(&key)
        .execute(&mut *tx)
        .await
        .map_err(ApiError::database)?;
    if gone.rows_affected() == 0 {
        return Err(ApiError::not_found("asset", &key));
    }
    tx.commit().await.map_err(ApiError::database)?;
    // The row is gone first: a failure here leaves an orphaned object, never a dangling row.
    if let Err(e) = state
        .store
        .delete(&crate::storage::location(admin.0.tenant_id, &key))
        .await
    {
        tracing::warn!(asset = %key, error = %e, "asset object not deleted (orphaned)");
    }
    Ok(HttpResponse::NoContent().finish())
}
