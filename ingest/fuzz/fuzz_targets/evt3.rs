//! Fuzz target: the Prophesee EVT 3.0 decoder on arbitrary bytes must return events or
//! a located error, never panic, hang or over-allocate (the `%` header, its
//! geometry and every word type are reachable from the input). The body is
//! `dvs_decode_fuzz::check_stream`, which the stable smoke run (dvs-ingest's
//! `--example fuzz-smoke`) also drives.
#![no_main]

use dvs_decode::Format;
use dvs_decode_fuzz::check_stream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_stream(Format::Evt3, data);
});
