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
use ordo_http::jsonapi::{Document, Page, PageLinks, Resource};
use ordo_http::{AdminOnly, ApiError};
use sha2::{Digest, Sha256};

ordo_http::endpoints!(
    list_assets,
    upload_asset => "/admin/assets/{key:.+}",
    delete_asset => "/admin/assets/{key:.+}",
);

/// An upload under way. Dropped before [`Staged::finish`], it is aborted in the background and
/// the folders it created in a local store are removed: nothing of it stays.
struct Staged {
    writer: Option<WriteMultipart>,
    storage: ordo_config::StorageConfig,
    tenant: uuid::Uuid,
    key: String,
}

impl Staged {
    async fn put(&mut self, chunk: bytes::Bytes) -> object_store::Result<()> {
        if let Some(w) = self.writer.as_mut() {
            w.wait_for_capacity(2).await?;
            w.put(chunk);
        }
        Ok(())
    }

    async fn finish(mut self) -> object_store::Result<()> {
        match self.writer.take() {
            Some(w) => w.finish().await.map(|_| ()),
            None => Ok(()),
        }
    }
}

async fn give_up(writer: WriteMultipart, storage: ordo_config::StorageConfig, tenant: uuid::Uuid, key: String) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(asset = %key, error = %e, "aborting an upload failed");
    }
    crate::storage::tidy_after_abort(&storage, tenant, &key);
}

impl Staged {
    /// Give the upload up now (before answering).
    async fn abort(mut self) {
        if let Some(w) = self.writer.take() {
            give_up(w, self.storage.clone(), self.tenant, std::mem::take(&mut self.key)).await;
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            let (storage, key) = (self.storage.clone(), std::mem::take(&mut self.key));
            tokio::spawn(give_up(w, storage, self.tenant, key));
        }
    }
}

/// Any bytes (an upload's body is the file as it is).
#[derive(Debug)]
pub struct AnyBytes;

impl utoipa::__dev::ComposeSchema for AnyBytes {
    fn compose(
        _: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
            .description(Some("The file's bytes"))
            .into()
    }
}

impl utoipa::ToSchema for AnyBytes {}

/// An asset as stored.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AssetOut {
    /// Bytes.
    pub size: i64,
    pub content_type: String,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The error answer of the asset operations.
#[derive(Debug, utoipa::IntoResponses)]
pub enum AssetErrors {
    /// upload_interrupted, empty_asset, invalid_parameter (400), unauthenticated (401), not an admin (403), not_found (404),
    /// asset_in_use, asset_key_conflict (409), payload_too_large (413), invalid_asset_key (422)
    #[response(status = "4XX", content_type = "application/vnd.api+json")]
    Error(ordo_http::ErrorDocument),
}

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

/// The `delivery.assets` row.
#[derive(Debug, sqlx::FromRow)]
struct AssetRow {
    key: String,
    size: i64,
    content_type: String,
    sha256: String,
    created_at: time::OffsetDateTime,
    updated_at: time::OffsetDateTime,
}

fn resource(row: AssetRow) -> Resource<AssetOut> {
    let ts = ordo_http::jsonapi::rfc3339;
    let out = AssetOut {
        size: row.size,
        content_type: row.content_type,
        sha256: row.sha256,
        created_at: ts(row.created_at),
        updated_at: ts(row.updated_at),
    };
    Resource::new("assets", row.key, out)
}

fn scope(admin: &AdminOnly) -> Scope {
    Scope::new(admin.0.tenant_id, Some(admin.0.subject.clone()), Role::Admin)
}

/// Upload (or replace) an asset. The body is the file; `Content-Type` is remembered for
/// downloads (default `application/octet-stream`).
#[utoipa::path(
    put,
    path = "/admin/assets/{key}",
    tag = "assets",
    summary = "Upload or replace an asset: the body is the file (streamed, up to delivery.max_asset_bytes)",
    params(
        ("key" = String, Path, description = "1 to 512 characters of A-Z a-z 0-9 . _ - in /-separated segments (segments of at most 200, no . or .. segment)",
         max_length = 512, pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,198}|\\.\\.[A-Za-z0-9._-]{1,198})(?:/(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,198}|\\.\\.[A-Za-z0-9._-]{1,198}))*$"),
    ),
    request_body(content = AnyBytes, content_type = "*/*", description = "The file (not empty); its Content-Type is remembered and sent with downloads (default application/octet-stream)"),
    responses(
        (status = 201, description = "Created", body = Document<Resource<AssetOut>>, content_type = "application/vnd.api+json"),
        (status = 200, description = "Replaced", body = Document<Resource<AssetOut>>, content_type = "application/vnd.api+json"),
        AssetErrors,
    ),
    security(("bearer" = [])),
)]
async fn upload_asset(
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
    // A key cannot also be the folder of other keys (`a` and `a/b`): a file system cannot
    // hold both, and one scheme for every store keeps keys portable.
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin)).await?;
    let clash: Option<String> = sqlx::query_scalar(
        "select key from delivery.assets where starts_with(key, $1 || '/') or starts_with($1, key || '/') limit 1",
    )
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    if let Some(other) = clash {
        return Err(ApiError::conflict(
            "asset_key_conflict",
            &format!("{key} and {other}: a key cannot also be the folder of another"),
        ));
    }
    let location = crate::storage::location(admin.0.tenant_id, &key);
    let upload = state.store.put_multipart(&location).await.map_err(ApiError::internal)?;
    // Given up on any path — an error below, or the client gone and this future dropped —
    // the upload is aborted and its folders tidied.
    let mut staged = Staged {
        writer: Some(WriteMultipart::new_with_chunk_size(upload, 8 << 20)),
        storage: state.config.storage.clone(),
        tenant: admin.0.tenant_id,
        key: key.clone(),
    };
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                staged.abort().await;
                return Err(ApiError::bad_request(
                    "upload_interrupted",
                    &format!("the upload broke off: {e}"),
                ));
            }
        };
        size += chunk.len() as u64;
        if size > limit {
            staged.abort().await;
            return Err(ApiError::payload_too_large());
        }
        hasher.update(&chunk);
        staged.put(chunk).await.map_err(ApiError::internal)?;
    }
    if size == 0 {
        staged.abort().await;
        return Err(ApiError::bad_request(
            "empty_asset",
            "the body is the file, and it is empty",
        ));
    }
    staged.finish().await.map_err(ApiError::internal)?;
    let sha = hex::encode(hasher.finalize());
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin)).await?;
    let stored: Stored = sqlx::query_as(
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
    .await?;
    tx.commit().await?;
    let inserted = stored.inserted;
    tracing::info!(asset = %key, size, "asset stored");
    metrics::counter!("ordo_delivery_asset_bytes_uploaded_total").increment(size);
    let status = if inserted { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status)
        .content_type(ordo_http::JSON_API)
        .json(Document::new(resource(stored.asset))))
}

/// An upserted asset and whether it is new.
#[derive(Debug, sqlx::FromRow)]
struct Stored {
    #[sqlx(flatten)]
    asset: AssetRow,
    inserted: bool,
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The last key of the previous page (`links.next` gives it)
    #[serde(rename = "page[after]")]
    #[param(
        rename = "page[after]",
        max_length = 512,
        pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,198}|\\.\\.[A-Za-z0-9._-]{1,198})(?:/(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,198}|\\.\\.[A-Za-z0-9._-]{1,198}))*$"
    )]
    after: Option<String>,
    /// 1 to 500 (default 100)
    #[serde(rename = "page[size]")]
    #[param(rename = "page[size]", minimum = 1, maximum = 500)]
    size: Option<u32>,
}

/// The tenant's assets by key, 100 per page (`page[size]` up to 500), `page[after]` = last key.
#[utoipa::path(
    get,
    path = "/admin/assets",
    tag = "assets",
    summary = "List the tenant's assets by key",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of assets", body = Page<AssetOut>, content_type = "application/vnd.api+json"),
        AssetErrors,
    ),
    security(("bearer" = [])),
)]
async fn list_assets(
    state: web::Data<AppState>,
    admin: AdminOnly,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(after) = &q.after
        && !crate::storage::valid_key(after)
    {
        return Err(
            ApiError::bad_request("invalid_parameter", "page[after] is an asset key").with_parameter("page[after]"),
        );
    }
    let size = q.size.unwrap_or(100);
    if !(1..=500).contains(&size) {
        return Err(ApiError::bad_request("invalid_parameter", "page[size] is 1 to 500").with_parameter("page[size]"));
    }
    let size = i64::from(size);
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin)).await?;
    let rows: Vec<AssetRow> = sqlx::query_as(
        "select key, size, content_type, sha256, created_at, updated_at from delivery.assets
         where ($1::text is null or key > $1) order by key limit $2",
    )
    .bind(q.after.as_deref())
    .bind(size + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let more = rows.len() as i64 > size;
    let data: Vec<_> = rows.into_iter().take(size as usize).map(resource).collect();
    let next = if more {
        data.last()
            .map(|d| format!("/admin/assets?page[after]={}&page[size]={size}", d.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().content_type(ordo_http::JSON_API).json(Page {
        data,
        links: PageLinks { next },
    }))
}

/// Delete an asset no live grant needs.
#[utoipa::path(
    delete,
    path = "/admin/assets/{key}",
    tag = "assets",
    summary = "Delete an asset no live grant needs",
    params(
        ("key" = String, Path, description = "1 to 512 characters of A-Z a-z 0-9 . _ - in /-separated segments (segments of at most 200, no . or .. segment)",
         max_length = 512, pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,198}|\\.\\.[A-Za-z0-9._-]{1,198})(?:/(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,198}|\\.\\.[A-Za-z0-9._-]{1,198}))*$"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        AssetErrors,
    ),
    security(("bearer" = [])),
)]
async fn delete_asset(
    state: web::Data<AppState>,
    admin: AdminOnly,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&key)?;
    let mut tx = ordo_db::begin_scoped(&state.pool, &scope(&admin)).await?;
    let in_use: i64 =
        sqlx::query_scalar("select count(*) from delivery.grants where asset_key = $1 and revoked_at is null")
            .bind(&key)
            .fetch_one(&mut *tx)
            .await?;
    if in_use > 0 {
        return Err(ApiError::conflict(
            "asset_in_use",
            &format!("{in_use} download grants still deliver this asset"),
        ));
    }
    let gone = sqlx::query("delete from delivery.assets where key = $1")
        .bind(&key)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(ApiError::not_found("asset", &key));
    }
    tx.commit().await?;
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
