//! Fuzz target: the `.npy` decoder on arbitrary bytes (float-column seeds) under every time
//! unit, so that the float scaling, rounding and whole-number checks see every value. The body
//! is `dvs_decode_fuzz::check_npy_units`.
#![no_main]

use dvs_decode_fuzz::check_npy_units;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_npy_units(data);
});
