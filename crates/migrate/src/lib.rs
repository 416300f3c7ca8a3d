//! Database set-up for ordo, used by `make migrate`, by the services' deployment job and by the
//! test harness (so tests run against exactly the production schema and roles).
//!
//! 1. [`bootstrap`] (as a superuser): creates the owner role `ordo_owner` and one login role per
//!    service (`ordo_order`, `ordo_payment`, `ordo_delivery`, `ordo_notification`) — none
//!    superuser, none BYPASSRLS — the database owned by `ordo_owner`, and one schema per service;
//!    each service role may use only its own schema.
//! 2. [`migrate`] (as `ordo_owner`): applies `migrations/common/*.sql` (outbox, inbox, dead
//!    letters) to every service schema, then `migrations/<service>/*.sql`, each file once, in its
//!    own transaction, recorded with a checksum in `ordo_meta.applied_migrations`.
//!
//! Both are idempotent.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! ordo_migrate::bootstrap("postgres://postgres@127.0.0.1/postgres", "ordo").await?;
//! let applied = ordo_migrate::migrate("postgres://ordo_owner@127.0.0.1/ordo").await?;
//! # Ok(()) }
//! ```

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// A service: its migrations folder, schema and login role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceSchema {
    pub folder: &'static str,
    pub schema: &'static str,
    pub role: &'static str,
}

pub const SERVICES: [ServiceSchema; 4] = [
    ServiceSchema {
        folder: "order",
        schema: "orders",
        role: "ordo_order",
    },
    ServiceSchema {
        folder: "payment",
        schema: "payments",
        role: "ordo_payment",
    },
    ServiceSchema {
        folder: "delivery",
        schema: "delivery",
        role: "ordo_delivery",
    },
    ServiceSchema {
        folder: "notification",
        schema: "notifications",
        role: "ordo_notification",
    },
];

pub const OWNER_ROLE: &str = "ordo_owner";

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration {0} was changed after it was applied (checksum differs); add a new file instead")]
    Changed(String),
    #[error("invalid database name {0:?}")]
    BadName(String),
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Roles, database and schemas. `admin_url` is a superuser connection to any database.
#[tracing::instrument(skip(admin_url))]
pub async fn bootstrap(admin_url: &str, database: &str) -> Result<(), MigrateError> {
    if !valid_ident(database) {
        return Err(MigrateError::BadName(database.to_owned()));
    }
    let mut admin = PgConnection::connect(admin_url).await?;
    // Roles are cluster-wide: serialise concurrent bootstraps (parallel tests) on a lock.
    let mut tx = admin.begin().await?;
    tx.execute("select pg_advisory_xact_lock(727274001)").await?;
    let roles = std::iter::once(OWNER_ROLE).chain(SERVICES.iter().map(|s| s.role));
    for role in roles {
        let exists: bool = sqlx::query_scalar("select exists(select 1 from pg_roles where rolname = $1)")
            .bind(role)
            .fetch_one(&mut *tx)
            .await?;
        if !exists {
            tx.execute(AssertSqlSafe(format!("create role {role} login"))).await?;
        }
        // Enforced on every run, so a role altered by hand is put back.
        tx.execute(AssertSqlSafe(format!(
            "alter role {role} nosuperuser nocreatedb nocreaterole noreplication nobypassrls"
        )))
        .await?;
    }
    tx.commit().await?;

    let exists: bool = sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
        .bind(database)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        admin
            .execute(AssertSqlSafe(format!("create database {database} owner {OWNER_ROLE}")))
            .await?;
    }
    admin.close().await?;

    let mut db = PgConnection::connect(&replace_database(admin_url, database)).await?;
    let mut sql = format!(
        "revoke all on database {database} from public;
         grant connect, temporary on database {database} to {OWNER_ROLE};
         revoke create on schema public from public;
         create schema if not exists ordo_meta authorization {OWNER_ROLE};\n"
    );
    for s in SERVICES {
        sql.push_str(&format!(
            "create schema if not exists {schema} authorization {OWNER_ROLE};
             revoke all on schema {schema} from public;
             grant connect on database {database} to {role};
             grant usage on schema {schema} to {role};\n",
            schema = s.schema,
            role = s.role
        ));
    }
    sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(&mut db).await?;
    db.close().await?;
    Ok(())
}

/// Swap the database name in a `postgres://` URL (keeps user, host and query).
pub fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let mut out = match path_start {
        Some(i) => format!("{}/{database}", &base[..i]),
        None => format!("{base}/{database}"),
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Swap the user in a `postgres://user@host/...` URL (passwords are dropped; local trust auth or
/// `PGPASSWORD`-style configuration supplies them).
pub fn replace_user(url: &str, user: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[scheme_end..];
    let host_part = rest.split_once('@').map(|(_, h)| h).unwrap_or(rest);
    format!("{}{user}@{host_part}", &url[..scheme_end])
}

/// The migrations to apply, in order: (schema, key, sql).
pub fn plan() -> Vec<(ServiceSchema, String, String)> {
    let mut out = Vec::new();
    for s in SERVICES {
        let others: Vec<&str> = SERVICES.iter().map(|o| o.role).filter(|r| *r != s.role).collect();
        for folder in ["common", s.folder] {
            for (f, name, sql) in EMBEDDED.iter().filter(|(f, _, _)| *f == folder) {
                let sql = sql
                    .replace("__SCHEMA__", s.schema)
                    .replace("__ROLE__", s.role)
                    .replace("__OTHER_ROLES__", &others.join(", "));
                out.push((s, format!("{f}/{name}"), sql));
            }
        }
    }
    out
}

/// Apply every pending migration as the owner role. Returns the keys applied by this run.
#[tracing::instrument(skip(owner_url))]
pub async fn migrate(owner_url: &str) -> Result<Vec<String>, MigrateError> {
    let mut conn = PgConnection::connect(owner_url).await?;
    conn.execute("select pg_advisory_lock(727274002)").await?;
    let result = apply_all(&mut conn).await;
    conn.execute("select pg_advisory_unlock(727274002)").await?;
    conn.close().await?;
    result
}

async fn apply_all(conn: &mut PgConnection) -> Result<Vec<String>, MigrateError> {
    sqlx::raw_sql(
        "create table if not exists ordo_meta.applied_migrations (
             schema_name text not null,
             migration   text not null,
             checksum    text not null,
             applied_at  timestamptz not null default now(),
             primary key (schema_name, migration))",
    )
    .execute(&mut *conn)
    .await?;
    let mut applied = Vec::new();
    for (s, key, sql) in plan() {
        let row = sqlx::query(
            "select checksum, md5($3) as now from ordo_meta.applied_migrations where schema_name = $1 and migration = $2",
        )
        .bind(s.schema)
        .bind(&key)
        .bind(&sql)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            let (was, now): (String, String) = (row.try_get("checksum")?, row.try_get("now")?);
            if was != now {
                return Err(MigrateError::Changed(format!("{}:{key}", s.schema)));
            }
            continue;
        }
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(&mut *tx).await?;
        sqlx::query(
            "insert into ordo_meta.applied_migrations (schema_name, migration, checksum) values ($1, $2, md5($3))",
        )
        .bind(s.schema)
        .bind(&key)
        .bind(&sql)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(schema = s.schema, migration = %key, "applied");
        applied.push(format!("{}:{key}", s.schema));
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rewriting() {
        assert_eq!(
            replace_database("postgres://u@h:5432/postgres", "ordo"),
            "postgres://u@h:5432/ordo"
        );
        assert_eq!(
            replace_database("postgres://u@h/x?sslmode=disable", "y"),
            "postgres://u@h/y?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "y"), "postgres://u@h/y");
        assert_eq!(
            replace_user("postgres://postgres:pw@h:5432/db", "ordo_order"),
            "postgres://ordo_order@h:5432/db"
        );
        assert_eq!(
            replace_user("postgres://h/db", "ordo_order"),
            "postgres://ordo_order@h/db"
        );
    }

    #[test]
    fn plan_covers_every_schema_with_common_first() {
        let p = plan();
        for s in SERVICES {
            let keys: Vec<&String> = p.iter().filter(|(x, _, _)| *x == s).map(|(_, k, _)| k).collect();
            assert_eq!(
                keys.first().map(|k| k.as_str()),
                Some("common/0001_messaging.sql"),
                "{}",
                s.schema
            );
        }
        assert!(p.iter().all(|(_, _, sql)| !sql.contains("__SCHEMA__")
            && !sql.contains("__ROLE__")
            && !sql.contains("__OTHER_ROLES__")));
    }
}
