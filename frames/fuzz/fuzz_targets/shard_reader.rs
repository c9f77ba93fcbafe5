//! Fuzz target: arbitrary bytes as a shard. Validating the header, footer and index and decoding
//! every record must return `Ok` or `Err`, never panic, hang or allocate without bound.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.dvsf");
    if let Ok(index) = dvs_frames::ShardIndex::from_bytes(path, data) {
        for i in 0..index.len() {
            let _ = index.key(i);
        }
    }
    if let Ok(reader) = dvs_frames::ShardReader::from_bytes(path, data.to_vec()) {
        for i in 0..reader.len() {
            let _ = reader.read_raw(i);
            let _ = reader.read_f32(i);
        }
    }
});
