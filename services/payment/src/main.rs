//! `ordo-payment`: see the crate documentation (src/lib.rs).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ordo_runtime::main_for(ordo_payment::SERVICE, ordo_payment::DEFAULT_PORT, ordo_payment::build).await
}
