//! `ordo-order`: see the crate documentation (src/lib.rs).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ordo_runtime::main_for(ordo_order::SERVICE, ordo_order::DEFAULT_PORT, ordo_order::build).await
}
