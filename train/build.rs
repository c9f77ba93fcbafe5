//! Build script: generates the ONNX protobuf types (module `onnx` in `export::proto`) from the
//! vendored `proto/onnx.proto` with `protox` (a pure-Rust protobuf compiler, so no system `protoc`
//! is needed) and `prost-build`.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = Path::new("proto");
    let proto_file = proto_dir.join("onnx.proto");
    println!("cargo:rerun-if-changed={}", proto_file.display());
    println!("cargo:rerun-if-changed=build.rs");
    let descriptors = protox::compile([&proto_file], [proto_dir])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
