//! PostgreSQL access for ordo services: the pool and the tenant-scoped transaction.
//!
//! Row-level security policies read `ordo.tenant_id`, `ordo.user_id` and `ordo.role`. They are
//! set with `set_config(..., true)` — local to the transaction — so when the transaction ends the
//! pooled connection carries nothing over to its next user; with nothing set, no tenant row is
//! visible.
//!
//! ```no_run
//! # async fn f(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
//! use ordo_db::{Scope, Role};
//! let scope = Scope::new(uuid::Uuid::now_v7(), Some("user-1".into()), Role::Customer);
//! let mut tx = ordo_db::begin_scoped(&pool, &scope).await?;
//! let n: i64 = sqlx::query_scalar("select count(*) from orders.orders").fetch_one(&mut *tx).await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```

use ordo_config::DatabaseConfig;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

pub use sqlx;

/// Who is acting inside the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sees only rows whose owner is `user_id`.
    Customer,
    /// Sees every row of the tenant.
    Admin,
    /// A service's own worker acting for the tenant (event consumers): like admin.
    Service,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

/// The tenant, user and role one transaction runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub tenant_id: Uuid,
    pub user_id: Option<String>,
    pub role: Role,
}

impl Scope {
    pub fn new(tenant_id: Uuid, user_id: Option<String>, role: Role) -> Self {
        Self {
            tenant_id,
            user_id,
            role,
        }
    }

    /// A service worker acting for `tenant_id`.
    pub fn service(tenant_id: Uuid) -> Self {
        Self {
            tenant_id,
            user_id: None,
            role: Role::Service,
        }
    }
}

/// Build the pool for a service's own role. Connections are opened lazily, so a service starts
/// (and reports not-ready) while the database is still coming up.
pub fn pool(cfg: &DatabaseConfig, application_name: &str) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(cfg.url.expose())?.application_name(application_name);
    Ok(PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .min_connections(cfg.min_connections)
        .acquire_timeout(Duration::from_millis(cfg.acquire_timeout_ms))
        // sqlx pings every idle connection it hands out (a round trip per transaction); under
        // load a connection waited microseconds, so only one that sat idle long enough to have
        // been cut (a database restart, a proxy's timeout) is tested before use.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_TEST_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options))
}

/// How long a pooled connection may sit idle before it is tested (pinged) on its way out.
pub const IDLE_TEST_AFTER: Duration = Duration::from_secs(1);

/// Set the scope on a connection that is inside a transaction (local to that transaction).
pub async fn set_scope(conn: &mut PgConnection, scope: &Scope) -> Result<(), sqlx::Error> {
    sqlx::query(
        "select set_config('ordo.tenant_id', $1, true), set_config('ordo.user_id', $2, true), \
         set_config('ordo.role', $3, true)",
    )
    .bind(scope.tenant_id.to_string())
    .bind(scope.user_id.as_deref().unwrap_or(""))
    .bind(scope.role.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// `v` as an SQL string literal (`E'…'`, backslashes and quotes escaped), for the values the
/// `BEGIN` batch carries; `None` when `v` holds a NUL byte, which no PostgreSQL text can.
pub fn quote_literal(v: &str) -> Option<String> {
    if v.contains('\0') {
        return None;
    }
    let mut out = String::with_capacity(v.len() + 3);
    out.push_str("E'");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Some(out)
}

/// The `BEGIN` batch of a transaction scoped to `scope`: one round trip (a simple query of
/// several statements) instead of `BEGIN` and then `set_config`.
fn begin_sql(scope: &Scope) -> Result<String, sqlx::Error> {
    Ok(format!("BEGIN; {}", scope_sql(scope)?))
}

/// The statement that sets `scope` (local to the transaction).
fn scope_sql(scope: &Scope) -> Result<String, sqlx::Error> {
    Ok(format!(
        "SELECT set_config('ordo.tenant_id', '{}', true), set_config('ordo.user_id', {}, true), \
         set_config('ordo.role', '{}', true)",
        scope.tenant_id,
        literal(scope.user_id.as_deref().unwrap_or(""), "user id")?,
        scope.role.as_str()
    ))
}

/// `v` as a string literal for a statement passed to [`begin_scoped_claimed`]; an error when it
/// holds a NUL byte.
pub fn literal(v: &str, what: &str) -> Result<String, sqlx::Error> {
    quote_literal(v).ok_or_else(|| sqlx::Error::Protocol(format!("{what} contains a NUL byte")))
}

/// Begin a transaction scoped to `scope`.
#[tracing::instrument(name = "db.begin_scoped", skip_all, fields(tenant = %scope.tenant_id, role = scope.role.as_str()))]
pub async fn begin_scoped(pool: &PgPool, scope: &Scope) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(AssertSqlSafe(begin_sql(scope)?)).await
}

/// Begin a transaction scoped to `scope` only if `claim` — one statement, its values written as
/// literals ([`quote_literal`]) — succeeds, all in one round trip: the scope is set, `claim` runs,
/// then `BEGIN` makes what they did (the scope, locks `claim` took) part of the transaction. If
/// `claim` raises, nothing runs after it and no transaction is left open: its error is returned
/// as a database error with its SQLSTATE.
#[tracing::instrument(name = "db.begin_scoped", skip_all, fields(tenant = %scope.tenant_id, role = scope.role.as_str()))]
pub async fn begin_scoped_claimed(
    pool: &PgPool,
    scope: &Scope,
    claim: &str,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    // Statements before an explicit BEGIN in one simple query form an implicit transaction that
    // the BEGIN turns into the explicit one (local settings and transaction locks carry over).
    let sql = format!("{}; {claim}; BEGIN", scope_sql(scope)?);
    pool.begin_with(AssertSqlSafe(sql)).await
}

/// Begin a transaction as the cross-tenant `system` actor. Row-level security grants this role
/// only the narrow reads (and purges) each schema's policies name for its sweeps; it is set by
/// server code only, never derived from a token.
pub async fn begin_system(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with("BEGIN; SELECT set_config('ordo.tenant_id', '', true), set_config('ordo.role', 'system', true)")
        .await
}

/// Switch the current transaction to the platform's `system` role (no tenant): for the
/// platform's own bookkeeping after a handler scoped it to a tenant.
pub async fn set_system(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select set_config('ordo.tenant_id', '', true), set_config('ordo.role', 'system', true)")
        .execute(conn)
        .await
        .map(|_| ())
}

/// Readiness probe: one round trip.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("select 1").execute(pool).await.map(|_| ())
}

/// A LISTEN connection for `channel`, of its own: opened with `pool`'s connection options but
/// never borrowed from the pool or returned to it. (sqlx's `PgListener::connect_with(pool)`
/// borrows one; after the server restarted under it, it could hand the pool back a connection
/// still subscribed and without its notification buffer, and the next query on it failed with
/// "unexpected message: NotificationResponse" — seen in the chaos run.) Dropped, it is closed.
pub async fn listener(pool: &PgPool, channel: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut l = sqlx::postgres::PgListener::connect_with(&own).await?;
    l.listen(channel).await?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(quote_literal("plain").unwrap(), "E'plain'");
        assert_eq!(quote_literal("o'brien").unwrap(), "E'o''brien'");
        assert_eq!(quote_literal(r"a\'b").unwrap(), r"E'a\\''b'");
        assert_eq!(quote_literal("x', true); --").unwrap(), "E'x'', true); --'");
        assert_eq!(quote_literal("ünï €").unwrap(), "E'ünï €'");
        assert!(quote_literal("a\0b").is_none());
    }
}
