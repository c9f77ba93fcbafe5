//! Fuzz target: the HDF5 `events/{x,y,t,p}` reader on arbitrary bytes (written to a temp file,
//! since libhdf5 opens paths, not buffers). Crashes inside libhdf5 itself are possible and are
//! outside this crate's control; our own code must not panic. The body is
//! `dvs_decode_fuzz::check_hdf5_events`.
#![no_main]

use dvs_decode_fuzz::check_hdf5_events;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("dvs-decode-fuzz-ev-{}.h5", std::process::id()));
    check_hdf5_events(&path, data);
});
