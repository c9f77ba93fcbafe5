//! Fuzz target: the DECOLLE HDF5 reader on arbitrary bytes (written to a temp
//! file, since libhdf5 opens paths). Crashes inside libhdf5 itself are
//! possible and are outside this crate's control; our own code must not panic.
#![no_main]

use dvs_ingest::decode::read_hdf5_samples;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("dvs-ingest-fuzz-{}.h5", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Err(e) = read_hdf5_samples(&path) {
        assert_eq!(e.file, path);
    }
});
