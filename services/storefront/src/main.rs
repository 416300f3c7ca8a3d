//! `ordo-storefront`: see the crate documentation (src/lib.rs).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ordo_auth::install_crypto_provider();
    let config = ordo_storefront::StorefrontConfig::load()?;
    let _telemetry = ordo_telemetry::init(ordo_storefront::SERVICE, &config.telemetry)?;
    let running = ordo_storefront::build(config).await?;
    running.run_until_stopped().await?;
    Ok(())
}
