//! AEDAT 4 with several streams (issue 13): files written by
//! `dvs_fixtures::aedat4::multi_stream_file` (IMU, trigger, frame and two event streams, every
//! compression, non-128 sensors) decode to exactly the events of the chosen stream, the stream
//! list and sensor size come from the infoNode, a bad stream choice names the streams, events
//! outside the declared sensor and time going backwards are located errors, and truncated or
//! mutated files never panic.

use std::path::Path;

use dvs_decode::aedat4::Aedat4Reader;
use dvs_decode::{read_all_bytes, DecodeOptions, ErrorKind, Events, Format, TimeOrder};
use dvs_fixtures::aedat4::{
    encode_with_info, info_xml_streams, multi_stream_file, MultiStreamSpec, PacketCompression,
    PacketContent, StreamKind, MULTI_STREAM_IDS,
};
use dvs_fixtures::Event;

mod common;
use common::{check_error_names, is_prefix};

const NAME: &str = "multi.aedat4";

const COMPRESSIONS: [PacketCompression; 4] = [
    PacketCompression::None,
    PacketCompression::Lz4,
    PacketCompression::Lz4Linked,
    PacketCompression::Zstd,
];

fn columns(events: &[Event]) -> Events {
    let mut out = Events::new();
    for e in events {
        out.push(e.t, e.x, e.y, e.on as u8);
    }
    out
}

fn spec(compression: PacketCompression, width: u16, height: u16, seed: u64) -> MultiStreamSpec {
    MultiStreamSpec {
        compression,
        source: "DVXplorer",
        width,
        height,
        events: 9_000,
        per_packet: 1_700,
        seed,
    }
}

fn decode(bytes: &[u8], stream: Option<u32>) -> Result<Events, dvs_decode::DecodeError> {
    let options = DecodeOptions {
        stream,
        ..DecodeOptions::default()
    };
    read_all_bytes(Path::new(NAME), bytes, Format::Aedat4, &options)
}

#[test]
fn every_compression_and_sensor_decodes_the_chosen_event_stream_exactly() {
    for (k, compression) in COMPRESSIONS.into_iter().enumerate() {
        for (w, h) in [(320u16, 240u16), (346, 260), (128, 128), (640, 480)] {
            let (bytes, main, second) = multi_stream_file(&spec(compression, w, h, k as u64));
            assert_eq!(
                decode(&bytes, None).unwrap(),
                columns(&main),
                "{compression:?} {w}x{h}"
            );
            assert_eq!(decode(&bytes, Some(2)).unwrap(), columns(&main));
            assert_eq!(decode(&bytes, Some(4)).unwrap(), columns(&second));
            let reader =
                Aedat4Reader::new(Path::new(NAME), &bytes[..], &DecodeOptions::default()).unwrap();
            assert_eq!(reader.sensor(), Some((w, h)));
            let listed: Vec<(i32, &str)> = reader
                .streams()
                .iter()
                .map(|s| (s.id, s.type_identifier.as_str()))
                .collect();
            assert_eq!(listed, MULTI_STREAM_IDS);
            let sized: Vec<Option<(u16, u16)>> = reader.streams().iter().map(|s| s.size).collect();
            assert_eq!(
                sized,
                [None, None, Some((w, h)), Some((w, h)), Some((w, h))]
            );
        }
    }
}

#[test]
fn a_stream_that_is_not_an_event_stream_or_not_declared_is_an_error_naming_the_streams() {
    let (bytes, _, _) = multi_stream_file(&spec(PacketCompression::Lz4, 320, 240, 1));
    for (id, what) in [(0u32, "IMUS"), (1, "TRIG"), (3, "FRME")] {
        let e = decode(&bytes, Some(id)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
        assert!(
            e.reason
                .contains(&format!("stream {id} is a {what} stream")),
            "{e}"
        );
        assert!(
            e.reason.contains("0 IMUS, 1 TRIG, 2 EVTS, 3 FRME, 4 EVTS"),
            "{e}"
        );
    }
    let e = decode(&bytes, Some(9)).unwrap_err();
    assert!(e.reason.contains("no stream 9"), "{e}");
    assert!(e.reason.contains("2 EVTS"), "{e}");
}

/// A one-packet file of `events` on a declared `width` × `height` event stream.
fn single_stream(events: &[Event], width: u16, height: u16) -> Vec<u8> {
    let c = PacketCompression::Zstd;
    let xml = info_xml_streams(c, "DAVIS346", &[(0, StreamKind::Events { width, height })]);
    encode_with_info(c, &xml, &[PacketContent::events(events)])
}

#[test]
fn events_outside_the_declared_sensor_are_errors() {
    let ok = Event {
        t: 10,
        x: 345,
        y: 259,
        on: true,
    };
    assert_eq!(
        decode(&single_stream(&[ok], 346, 260), None).unwrap().len(),
        1
    );
    for bad in [Event { x: 346, ..ok }, Event { y: 260, ..ok }] {
        let bytes = single_stream(&[ok, ok, bad], 346, 260);
        let e = decode(&bytes, None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Corrupt);
        assert!(
            e.reason.contains("EVTS element 2")
                && e.reason.contains(&format!("(x={}, y={})", bad.x, bad.y))
                && e.reason.contains("outside the 346x260 sensor"),
            "{e}"
        );
        assert!(e.offset > 0 && (e.offset as usize) < bytes.len(), "{e}");
    }
}

#[test]
fn time_going_backwards_is_kept_by_default_and_an_error_under_time_order_error() {
    let at = |t| Event {
        t,
        x: 1,
        y: 2,
        on: false,
    };
    let events = [at(100), at(200), at(150), at(300)];
    let bytes = single_stream(&events, 128, 128);
    let kept = decode(&bytes, None).unwrap();
    assert_eq!(kept.t, [100, 200, 150, 300]);
    let strict = DecodeOptions {
        time_order: TimeOrder::Error,
        ..DecodeOptions::default()
    };
    let e = read_all_bytes(Path::new(NAME), &bytes, Format::Aedat4, &strict).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TimeOrder);
    assert!(
        e.reason.contains("event 2 (t=150 us) comes after t=200 us"),
        "{e}"
    );
    assert!(e.offset > 0 && (e.offset as usize) < bytes.len(), "{e}");
    // Sorted files pass the strict policy unchanged.
    let (sorted, main, _) = multi_stream_file(&spec(PacketCompression::Lz4, 320, 240, 5));
    let got = read_all_bytes(Path::new(NAME), &sorted, Format::Aedat4, &strict).unwrap();
    assert_eq!(got, columns(&main));
}

#[test]
fn truncated_and_mutated_multi_stream_files_never_panic() {
    let (bytes, main, _) = multi_stream_file(&spec(PacketCompression::Lz4, 346, 260, 7));
    let full = columns(&main);
    let name = Path::new(NAME);
    for cut in (0..bytes.len()).step_by(bytes.len() / 300 + 1) {
        let result = decode(&bytes[..cut], None);
        check_error_names(name, &result, cut);
        if let Ok(events) = &result {
            assert!(is_prefix(events, &full), "cut at {cut}");
        }
    }
    let mut rng = dvs_fixtures::rng::SplitMix64::new(3);
    for _ in 0..300 {
        let mut m = bytes.clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(m.len());
            m[at] = rng.next_u64() as u8;
        }
        check_error_names(name, &decode(&m, None), m.len());
    }
}

#[test]
fn probe_lists_the_streams_and_the_sensor_of_a_multi_stream_file() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, main, _) = multi_stream_file(&spec(PacketCompression::Zstd, 320, 240, 9));
    let path = dir.path().join("dvxplorer.aedat4");
    std::fs::write(&path, bytes).unwrap();
    let p = dvs_ingest::probe::probe(&path, &DecodeOptions::default()).unwrap();
    assert_eq!(p.sensor, Some([320, 240]));
    assert_eq!(p.streams, Some(5));
    assert_eq!(
        p.stream_list.unwrap(),
        [
            "0 IMUS",
            "1 TRIG",
            "2 EVTS 320x240",
            "3 FRME 320x240",
            "4 EVTS 320x240"
        ]
    );
    assert_eq!(p.events, main.len() as u64);
    // An HDF5 event stream is probed as a stream, not as DECOLLE samples.
    let h5 = dir.path().join("dsec.h5");
    let layout = dvs_fixtures::hdf5_events::H5EventsLayout::dsec();
    dvs_fixtures::hdf5_events::write_events_h5(&h5, &main, &layout).unwrap();
    let p = dvs_ingest::probe::probe(&h5, &DecodeOptions::default()).unwrap();
    assert_eq!(
        (p.format.as_str(), p.events, p.samples),
        ("HDF5", main.len() as u64, None)
    );
}
