//! The ONNX protobuf message types (`onnx.proto`, package `onnx`), generated at build time by
//! `build.rs` from the vendored `train/proto/onnx.proto` with protox + prost-build. Nothing here is
//! hand-written; the exporter builds these messages and prost encodes them.

#![allow(clippy::all, missing_docs, rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
