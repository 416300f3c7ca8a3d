//! Where asset bytes live: one [`ObjectStore`] (a local folder by default, any S3-compatible
//! store when configured), each tenant under its own prefix `{tenant_id}/{key}`.

use anyhow::{Context as _, bail};
use object_store::ObjectStore;
use object_store::path::Path;
use ordo_config::StorageConfig;
use std::sync::Arc;
use uuid::Uuid;

pub type Store = Arc<dyn ObjectStore>;

pub fn build(cfg: &StorageConfig) -> anyhow::Result<Store> {
    match cfg.kind.as_str() {
        "local" => {
            std::fs::create_dir_all(&cfg.root).with_context(|| format!("creating asset folder {}", cfg.root))?;
            // A deleted asset takes its emptied folders with it: no folder is left where a
            // later asset's file must go.
            let fs = object_store::local::LocalFileSystem::new_with_prefix(&cfg.root)
                .with_context(|| format!("asset folder {}", cfg.root))?
                .with_automatic_cleanup(true);
            Ok(Arc::new(fs))
        }
        "s3" => {
            let mut b = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(&cfg.bucket)
                .with_region(&cfg.region)
                .with_allow_http(cfg.allow_http);
            if !cfg.endpoint.is_empty() {
                b = b.with_endpoint(&cfg.endpoint);
            }
            if !cfg.access_key_id.expose().is_empty() {
                b = b
                    .with_access_key_id(cfg.access_key_id.expose())
                    .with_secret_access_key(cfg.secret_access_key.expose());
            }
            Ok(Arc::new(b.build().context("S3 storage")?))
        }
        other => bail!("delivery.storage.kind must be `local` or `s3`, not {other:?}"),
    }
}

/// After an aborted upload to a local folder: remove the folders it created for `key` if they
/// are empty, so that no empty folder stands where a later asset's file must go. (Object stores
/// have no folders; `remove_dir` never removes a folder that holds anything.)
pub fn tidy_after_abort(cfg: &StorageConfig, tenant: Uuid, key: &str) {
    if cfg.kind != "local" {
        return;
    }
    let tenant_dir = std::path::Path::new(&cfg.root).join(tenant.to_string());
    let mut dir = tenant_dir.join(key);
    while dir.pop() && dir.starts_with(&tenant_dir) && dir != tenant_dir {
        if std::fs::remove_dir(&dir).is_err() {
            break;
        }
    }
}

/// A valid asset key: 1–512 characters of `A-Z a-z 0-9 . _ -` in `/`-separated segments, none
/// of them `.` or `..` (mirrors the database's check).
/// 1–512 characters of `A-Z a-z 0-9 . _ -` in `/`-separated segments of at most 200 (a file
/// name's limit of 255, less the suffix of a file being written), none of them `.` or `..`: a key cannot leave its tenant's prefix.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg.len() <= 200
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// The object's location: the tenant's prefix, then the key.
pub fn location(tenant: Uuid, key: &str) -> Path {
    Path::from(format!("{tenant}/{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_their_tenant() {
        for good in ["a.pdf", "comics/moon-1.pdf", "A_b/C.d-e/f"] {
            assert!(valid_key(good), "{good}");
        }
        for bad in [
            "",
            "../x",
            "a/../b",
            "a//b",
            "/a",
            "a/",
            ".",
            "a/./b",
            "a b",
            "a\\b",
            "ü.pdf",
            &"x".repeat(513),
        ] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
