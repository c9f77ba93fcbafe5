//! Fuzz target: the AEDAT 4 decoder on arbitrary multi-stream files (IMU, trigger, frame and two
//! event streams in the seeds) with every stream choice; the stream list, the declared sensor
//! and the decoded events must agree, and nothing may panic, hang or over-allocate. The body is
//! `dvs_decode_fuzz::check_aedat4_streams`.
#![no_main]

use dvs_decode_fuzz::check_aedat4_streams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_aedat4_streams(data);
});
