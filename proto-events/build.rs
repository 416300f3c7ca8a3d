//! Compiles proto/ with protox (pure Rust), so no system `protoc` is needed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

fn main() {
    let files = [
        "proto/ordo/common/v1/common.proto",
        "proto/ordo/order/v1/events.proto",
        "proto/ordo/payment/v1/events.proto",
        "proto/ordo/delivery/v1/events.proto",
        "proto/ordo/notification/v1/events.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(files, ["proto"]).expect("proto files compile");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR set by cargo"));
    std::fs::write(out.join("descriptor.bin"), prost::Message::encode_to_vec(&fds)).expect("write descriptor");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("prost generates Rust");
}
