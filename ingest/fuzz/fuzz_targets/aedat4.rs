//! Fuzz target: the Aedat4 decoder on arbitrary bytes must return events or a
//! located error, never panic, hang or over-allocate. Both orientations and
//! validity policies are exercised (chosen by the first input byte).
#![no_main]

use std::path::Path;

use dvs_ingest::decode::{
    read_all_bytes, DecodeOptions, Format, Orientation, TimestampResetPolicy,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let options = DecodeOptions {
        orientation: if mode & 1 == 0 {
            Orientation::Raw
        } else {
            Orientation::SpikingJelly
        },
        keep_invalid: mode & 2 != 0,
        timestamp_reset: match (mode >> 2) % 3 {
            0 => TimestampResetPolicy::Continue,
            1 => TimestampResetPolicy::AsStored,
            _ => TimestampResetPolicy::Error,
        },
    };
    let name = Path::new("fuzz-input");
    match read_all_bytes(name, bytes, Format::Aedat4, &options) {
        Ok(events) => {
            let n = events.len();
            assert!(events.x.len() == n && events.y.len() == n && events.p.len() == n);
        }
        Err(e) => {
            assert_eq!(e.file, name);
            assert!(e.offset as usize <= bytes.len());
        }
    }
});
