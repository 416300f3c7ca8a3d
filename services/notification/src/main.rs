//! `ordo-notification`: see the crate documentation (src/lib.rs).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ordo_runtime::main_for(
        ordo_notification::SERVICE,
        ordo_notification::DEFAULT_PORT,
        ordo_notification::build,
    )
    .await
}
