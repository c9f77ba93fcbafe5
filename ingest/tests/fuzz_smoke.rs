//! A short, seeded run of the fuzz-target bodies (`dvs_decode_fuzz`) over
//! mutated synthetic files of every stream format (written with the
//! dvs-fixtures encoders): no panic, every error located inside the input. The
//! long run is `--example fuzz-smoke`; the coverage-guided one is
//! `cargo +nightly fuzz` in `ingest/fuzz`.

/// The fuzz-target bodies, compiled from the fuzz crate's source (that crate stays outside the
/// workspace; see `ingest/fuzz/Cargo.toml`).
#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod dvs_decode_fuzz;

use dvs_decode::Format;
use dvs_decode_fuzz::{check_aedat4_streams, check_npy_units, check_stream, mutate};
use dvs_fixtures::aedat4::PacketCompression;
use dvs_fixtures::rng::SplitMix64;
use dvs_fixtures::{aedat2, aedat31, aedat4, atis, noise, npy, prophesee};

#[test]
fn mutated_inputs_never_panic_in_any_stream_decoder() {
    let events = noise::uniform_events(500, 3, 1_000_000);
    let externals: Vec<aedat2::ExternalRecord> = (50..events.len())
        .step_by(50)
        .map(|i| aedat2::ExternalRecord {
            before_event: i,
            address: aedat2::EXTERNAL_BIT,
            timestamp: aedat2::timestamp(events[i].t),
        })
        .collect();
    // N-MNIST coordinates (34×34, the ATIS default sensor).
    let events: Vec<_> = events
        .into_iter()
        .map(|e| dvs_fixtures::Event {
            x: e.x % 34,
            y: e.y % 34,
            ..e
        })
        .collect();
    let mut cases: Vec<(Format, Vec<u8>)> = vec![
        (Format::AtisBin, atis::encode(&events, &[0, 100, 100])),
        (Format::Aedat2, aedat2::encode("seed", &events, &externals)),
        (Format::Aedat31, aedat31::encode_stream("seed", &events, 64)),
        (
            Format::Aedat4,
            aedat4::encode_stream(PacketCompression::Lz4Linked, &events, 100, &[]),
        ),
        (
            Format::Aedat4,
            aedat4::encode_stream(PacketCompression::Zstd, &events, 100, &[]),
        ),
    ];
    for layout in npy::NpyLayout::catalogue() {
        cases.push((Format::Npy, npy::encode(&events, &layout)));
    }
    let raw = prophesee::RawOptions {
        header: prophesee::RawHeader::Format,
        extras_every: 20,
    };
    cases.push((Format::Evt2, prophesee::encode_evt2(&events, 64, 64, &raw)));
    cases.push((Format::Evt3, prophesee::encode_evt3(&events, 64, 64, &raw)));
    cases.push((Format::Dat, prophesee::encode_dat(&events, 64, 64)));
    let mut rng = SplitMix64::new(11);
    for (format, seed) in &cases {
        // The unmutated seed decodes completely.
        let mut whole = vec![0u8];
        whole.extend_from_slice(seed);
        assert_eq!(check_stream(*format, &whole), events.len(), "{format}");
        for _ in 0..1500 {
            let mut input = whole.clone();
            input[0] = rng.next_u64() as u8;
            mutate(&mut input, |n| rng.below(n));
            check_stream(*format, &input);
        }
    }
}

/// The issue 13 bodies: AEDAT 4 with several streams under every stream choice, and `.npy`
/// float columns under every time unit.
#[test]
fn mutated_multi_stream_and_float_inputs_never_panic() {
    use dvs_fixtures::aedat4::{multi_stream_file, MultiStreamSpec};
    let spec = MultiStreamSpec {
        compression: PacketCompression::Lz4,
        source: "DVXplorer",
        width: 320,
        height: 240,
        events: 2000,
        per_packet: 400,
        seed: 5,
    };
    let (bytes, main, _) = multi_stream_file(&spec);
    let mut whole = vec![0u8];
    whole.extend_from_slice(&bytes);
    assert_eq!(check_aedat4_streams(&whole), main.len());
    let events = noise::uniform_events(300, 6, 1_000);
    let mut layout =
        npy::NpyLayout::structured(&[("t", "<f8"), ("x", "<f4"), ("y", "<f4"), ("p", "<f4")]);
    layout.time_divisor = 1_000_000;
    let mut npy_whole = vec![0u8];
    npy_whole.extend_from_slice(&npy::encode(&events, &layout));
    // Four units, every one decodes all rows (seconds read as other units stay in range).
    assert_eq!(check_npy_units(&npy_whole), 4 * events.len());
    let mut rng = SplitMix64::new(12);
    for _ in 0..300 {
        let mut input = whole.clone();
        input[0] = rng.next_u64() as u8;
        mutate(&mut input, |n| rng.below(n));
        check_aedat4_streams(&input);
        let mut input = npy_whole.clone();
        input[0] = rng.next_u64() as u8;
        mutate(&mut input, |n| rng.below(n));
        check_npy_units(&input);
    }
}
