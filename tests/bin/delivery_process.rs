//! `ordo-delivery-process`: the delivery service exactly as `ordo-delivery` starts it
//! (`ORDO_CONFIG`, telemetry, `build`), built inside the tests package so that its tests can run
//! it as a process of its own (`CARGO_BIN_EXE_ordo-delivery-process`) and watch it from outside:
//! resident memory in /proc, everything it writes to stdout and stderr.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ordo_runtime::main_for(
        ordo_delivery::SERVICE,
        ordo_delivery::DEFAULT_PORT,
        ordo_delivery::build,
    )
    .await
}
