//! `ordo-delivery`: see the crate documentation (src/lib.rs).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ordo_runtime::main_for(
        ordo_delivery::SERVICE,
        ordo_delivery::DEFAULT_PORT,
        ordo_delivery::build,
    )
    .await
}
