//! A short, seeded run of the fuzz-target bodies (`decode::fuzzing`) over
//! mutated synthetic files of every stream format: no panic, every error
//! located inside the input. The long run is `--example fuzz-smoke`; the
//! coverage-guided one is `cargo +nightly fuzz` in `ingest/fuzz`.

use dvs_ingest::decode::{
    aedat4::Compression,
    fuzzing::{check_stream, mutate, SplitMix64},
    synth, Format,
};

#[test]
fn mutated_inputs_never_panic_in_any_stream_decoder() {
    let events = synth::random_events(500, 3, 1_000_000);
    let cases: Vec<(Format, Vec<u8>)> = vec![
        (Format::Aedat2, synth::aedat2_bytes(&events, 50)),
        (Format::Aedat31, synth::aedat31_bytes(&events, 64)),
        (
            Format::Aedat4,
            synth::aedat4_bytes(
                &events,
                100,
                Compression::Lz4,
                synth::Lz4Blocks::Linked,
                1,
                true,
            ),
        ),
        (
            Format::Aedat4,
            synth::aedat4_bytes(
                &events,
                100,
                Compression::Zstd,
                synth::Lz4Blocks::Independent,
                1,
                false,
            ),
        ),
    ];
    let mut rng = SplitMix64::new(11);
    for (format, seed) in &cases {
        // The unmutated seed decodes completely.
        let mut whole = vec![0u8];
        whole.extend_from_slice(seed);
        assert_eq!(check_stream(*format, &whole), events.len(), "{format}");
        for _ in 0..1500 {
            let mut input = whole.clone();
            input[0] = rng.next_u64() as u8;
            mutate(&mut input, &mut rng);
            check_stream(*format, &input);
        }
    }
}
