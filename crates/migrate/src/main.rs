//! `ordo-migrate`: bootstrap roles/database/schemas (when `ORDO_ADMIN_DATABASE_URL` is set)
//! and apply all migrations as the owner role (`ORDO_OWNER_DATABASE_URL`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    let database = std::env::var("ORDO_DATABASE_NAME").unwrap_or_else(|_| "ordo".into());
    let admin = std::env::var("ORDO_ADMIN_DATABASE_URL").ok();
    let owner = match std::env::var("ORDO_OWNER_DATABASE_URL") {
        Ok(u) => u,
        Err(_) => match &admin {
            Some(a) => {
                ordo_migrate::replace_user(&ordo_migrate::replace_database(a, &database), ordo_migrate::OWNER_ROLE)
            }
            None => anyhow::bail!("set ORDO_OWNER_DATABASE_URL (and ORDO_ADMIN_DATABASE_URL to bootstrap)"),
        },
    };
    if let Some(admin) = &admin {
        ordo_migrate::bootstrap(admin, &database).await?;
        println!("bootstrap: roles, database {database} and schemas are in place");
    }
    let applied = ordo_migrate::migrate(&owner).await?;
    if applied.is_empty() {
        println!("migrate: nothing to apply, schema is up to date");
    } else {
        for a in applied {
            println!("migrate: applied {a}");
        }
    }
    Ok(())
}

fn tracing_subscriber_init() {
    let cfg = ordo_config::TelemetryConfig {
        log_format: "pretty".into(),
        filter: "warn".into(),
    };
    // Logs are secondary here; failures surface through the returned error.
    let _ = ordo_telemetry::init("migrate", &cfg).map(std::mem::forget);
}
