//! Download links (RPC `ordo.rpc.delivery.v1.download_links`, asked by the order service for a
//! customer or an operator): a fresh token per usable grant of the order.
//!
//! A token is 32 bytes from the operating system's generator, base64url without padding (43
//! characters); only its SHA-256 is stored, with an expiry `link_ttl_secs` after issue by the
//! database clock. The token itself exists only in the reply.

use crate::AppState;
use base64::Engine as _;
use ordo_events::common::v1::RpcError;
use ordo_events::delivery::v1::{DownloadLink, DownloadLinksReply, DownloadLinksRequest};
use rand::TryRngCore as _;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::sync::Arc;
use uuid::Uuid;

/// A new token and its hash.
pub fn new_token() -> Result<(String, [u8; 32]), rand::rand_core::OsError> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut raw)?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    Ok((token.clone(), hash(&token)))
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn error(code: &str, message: &str) -> DownloadLinksReply {
    DownloadLinksReply {
        links: vec![],
        error: Some(RpcError {
            code: code.into(),
            message: message.into(),
        }),
    }
}

pub async fn download_links(state: Arc<AppState>, req: DownloadLinksRequest) -> DownloadLinksReply {
    match issue(&state, &req).await {
        Ok(reply) => reply,
        Err(e) => {
            let code = crate::failure_code(&e);
            if code == "unavailable" {
                tracing::warn!(error = %e, "download links rolled back: database connection lost");
            } else {
                tracing::error!(error = %e, "download links failed");
            }
            error(code, "links could not be issued")
        }
    }
}

async fn issue(state: &AppState, req: &DownloadLinksRequest) -> anyhow::Result<DownloadLinksReply> {
    let (Ok(tenant), Ok(order)) = (Uuid::parse_str(&req.tenant_id), Uuid::parse_str(&req.order_id)) else {
        return Ok(error("invalid_request", "tenant and order must be UUIDs"));
    };
    let mut tx = ordo_db::begin_scoped(&state.pool, &ordo_db::Scope::service(tenant)).await?;
    let row =
        sqlx::query("select customer_id, revoked_at is not null as revoked from delivery.orders where order_id = $1")
            .bind(order)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(row) = row else {
        return Ok(error("order_unknown", "no paid order with this id"));
    };
    let customer: String = row.try_get("customer_id")?;
    // Who asks is said, never implied by a missing field: a customer's request must name the
    // order's own customer (the order service checks first; this is the second lock).
    match req.requester.as_str() {
        "customer" if !req.customer_id.is_empty() && req.customer_id == customer => {}
        "customer" => return Ok(error("order_unknown", "no paid order with this id")),
        "operator" | "service" => {}
        _ => {
            return Ok(error(
                "invalid_request",
                "requester must be customer, operator or service",
            ));
        }
    }
    if row.try_get::<bool, _>("revoked")? {
        return Ok(error(
            "grants_revoked",
            "the order was refunded or canceled: its downloads are revoked",
        ));
    }
    let grants = sqlx::query(
        "select id, line_id, max_downloads - downloads_used as remaining from delivery.grants
         where order_id = $1 and revoked_at is null order by line_id",
    )
    .bind(order)
    .fetch_all(&mut *tx)
    .await?;
    let mut links = Vec::with_capacity(grants.len());
    for g in grants {
        let grant: Uuid = g.try_get("id")?;
        let line: Uuid = g.try_get("line_id")?;
        let remaining: i32 = g.try_get("remaining")?;
        if remaining <= 0 {
            links.push(DownloadLink {
                line_id: line.to_string(),
                url: String::new(),
                expires_at: None,
                remaining_downloads: 0,
            });
            continue;
        }
        let (token, digest) = new_token()?;
        let expires: time::OffsetDateTime = sqlx::query_scalar(
            "insert into delivery.tokens (token_hash, tenant_id, grant_id, expires_at)
             values ($1, $2, $3, now() + make_interval(secs => $4)) returning expires_at",
        )
        .bind(&digest[..])
        .bind(tenant)
        .bind(grant)
        .bind(state.config.link_ttl_secs as f64)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("insert into delivery.token_tenants (token_hash, tenant_id) values ($1, $2)")
            .bind(&digest[..])
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        links.push(DownloadLink {
            line_id: line.to_string(),
            url: format!(
                "{}/downloads/{token}",
                state.config.public_base_url.trim_end_matches('/')
            ),
            expires_at: Some(ordo_events::timestamp(expires)),
            remaining_downloads: remaining as u32,
        });
    }
    tx.commit().await?;
    metrics::counter!("ordo_delivery_links_issued_total").increment(links.len() as u64);
    Ok(DownloadLinksReply { links, error: None })
}
