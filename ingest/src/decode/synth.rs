//! Minimal synthetic encoders for the decoded formats, for the decode
//! benchmark and hand-built decoder tests (not a fixture generator: the
//! `dvs-fixtures` crate writes realistic recordings).
//!
//! Every writer is deterministic: same events and parameters, same bytes.

use super::aedat4::Compression;
use super::Events;

/// Deterministic pseudo-random DVS128 events (x, y < 128) with non-decreasing
/// timestamps starting at `t0`, from a SplitMix64 stream seeded by `seed`.
pub fn random_events(n: usize, seed: u64, t0: i64) -> Events {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut ev = Events::with_capacity(n);
    let mut t = t0;
    for _ in 0..n {
        let r = next();
        t += (r >> 60) as i64; // 0..15 µs steps, many equal timestamps
        ev.push(
            t,
            (r & 0x7F) as u16,
            ((r >> 8) & 0x7F) as u16,
            ((r >> 16) & 1) as u8,
        );
    }
    ev
}

/// AEDAT 2.0 (jAER DVS128) bytes for `events` given in raw orientation
/// (`x = x_raw`, `y = y_raw`, `p = 1` ON written as bit 0 = 0). Timestamps are
/// truncated to 32 bits. Every `external_every`-th record (if non-zero) is
/// followed by an external event record (address 0x8000).
pub fn aedat2_bytes(events: &Events, external_every: usize) -> Vec<u8> {
    let mut out = b"#!AER-DAT2.0\r\n# synthetic\r\n".to_vec();
    out.reserve(events.len() * 8 + 64);
    for i in 0..events.len() {
        let addr = (u32::from(events.y[i] & 0x7F) << 8)
            | (u32::from(events.x[i] & 0x7F) << 1)
            | u32::from(1 - (events.p[i] & 1));
        let ts = events.t[i] as u32;
        out.extend_from_slice(&addr.to_be_bytes());
        out.extend_from_slice(&ts.to_be_bytes());
        if external_every != 0 && i % external_every == external_every - 1 {
            out.extend_from_slice(&0x8000u32.to_be_bytes());
            out.extend_from_slice(&ts.to_be_bytes());
        }
    }
    out
}

/// The 5-line header of the DVS128 Gesture release.
pub const AEDAT31_HEADER: &[u8] =
    b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n";

/// One libcaer packet header.
pub fn aedat31_packet_header(
    event_type: i16,
    event_size: i32,
    overflow: i32,
    capacity: i32,
    number: i32,
) -> Vec<u8> {
    let mut h = Vec::with_capacity(28);
    h.extend_from_slice(&event_type.to_le_bytes());
    h.extend_from_slice(&1i16.to_le_bytes());
    h.extend_from_slice(&event_size.to_le_bytes());
    h.extend_from_slice(&4i32.to_le_bytes());
    h.extend_from_slice(&overflow.to_le_bytes());
    h.extend_from_slice(&capacity.to_le_bytes());
    h.extend_from_slice(&number.to_le_bytes());
    h.extend_from_slice(&number.to_le_bytes());
    h
}

/// One 8-byte AEDAT 3.1 polarity event (valid bit set when `valid`).
pub fn aedat31_polarity_event(x: u16, y: u16, p: u8, ts: i32, valid: bool) -> [u8; 8] {
    let data =
        (u32::from(x) << 17) | (u32::from(y) << 2) | (u32::from(p & 1) << 1) | u32::from(valid);
    let mut e = [0u8; 8];
    e[..4].copy_from_slice(&data.to_le_bytes());
    e[4..].copy_from_slice(&ts.to_le_bytes());
    e
}

/// AEDAT 3.1 bytes: polarity packets of up to `per_packet` events (split where
/// `t >> 31` changes, written as eventTSOverflow), plus one 2-event special
/// packet after the first polarity packet, as in the Gesture files.
pub fn aedat31_bytes(events: &Events, per_packet: usize) -> Vec<u8> {
    let per_packet = per_packet.max(1);
    let mut out = AEDAT31_HEADER.to_vec();
    out.reserve(events.len() * 8 + (events.len() / per_packet + 2) * 28 + 64);
    let mut i = 0;
    let mut first = true;
    while i < events.len() {
        let overflow = events.t[i] >> 31;
        let mut j = i;
        while j < events.len() && j - i < per_packet && events.t[j] >> 31 == overflow {
            j += 1;
        }
        let n = (j - i) as i32;
        out.extend_from_slice(&aedat31_packet_header(1, 8, overflow as i32, n, n));
        for k in i..j {
            let ts = (events.t[k] & 0x7FFF_FFFF) as i32;
            out.extend_from_slice(&aedat31_polarity_event(
                events.x[k],
                events.y[k],
                events.p[k],
                ts,
                true,
            ));
        }
        if first {
            // Special packet: two external-input edges (special types 2, 3).
            out.extend_from_slice(&aedat31_packet_header(0, 8, overflow as i32, 2, 2));
            let ts = (events.t[j - 1] & 0x7FFF_FFFF) as i32;
            for kind in [2u32, 3] {
                out.extend_from_slice(&((kind << 1) | 1).to_le_bytes());
                out.extend_from_slice(&ts.to_le_bytes());
            }
            first = false;
        }
        i = j;
    }
    out
}

/// The size-prefixed `EVTS` flatbuffer for `events[range]`.
pub fn evts_flatbuffer(events: &Events, range: std::ops::Range<usize>) -> Vec<u8> {
    let n = range.len();
    let total = 32 + 16 * n;
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(&((total - 4) as u32).to_le_bytes()); // size prefix
                                                              // Offsets below are absolute in `b`; flatbuffer offsets count from 4.
    b.extend_from_slice(&16u32.to_le_bytes()); // root table at 20
    b.extend_from_slice(b"EVTS");
    b.extend_from_slice(&6u16.to_le_bytes()); // vtable at 12: 6 bytes
    b.extend_from_slice(&8u16.to_le_bytes()); // table size
    b.extend_from_slice(&4u16.to_le_bytes()); // field 0 (elements) at +4
    b.extend_from_slice(&[0, 0]); // pad to 20
    b.extend_from_slice(&8i32.to_le_bytes()); // table at 20: vtable at 20 - 8
    b.extend_from_slice(&4u32.to_le_bytes()); // at 24: vector at 28
    b.extend_from_slice(&(n as u32).to_le_bytes()); // at 28: length; 8-aligned data at 32
    for i in range {
        b.extend_from_slice(&events.t[i].to_le_bytes());
        b.extend_from_slice(&(events.x[i] as i16).to_le_bytes());
        b.extend_from_slice(&(events.y[i] as i16).to_le_bytes());
        b.push(events.p[i]);
        b.extend_from_slice(&[0; 3]);
    }
    b
}

/// The IOHeader flatbuffer (without its u32 length prefix).
fn io_header(compression_code: i32, data_table_position: i64, info_node: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&24u32.to_le_bytes()); // root table at 24
    b.extend_from_slice(b"IOHE");
    for v in [10u16, 20, 4, 8, 16] {
        b.extend_from_slice(&v.to_le_bytes()); // vtable at 8
    }
    b.extend_from_slice(&[0; 6]); // pad to 24
    b.extend_from_slice(&16i32.to_le_bytes()); // table at 24, vtable at 8
    b.extend_from_slice(&compression_code.to_le_bytes()); // 28
    b.extend_from_slice(&data_table_position.to_le_bytes()); // 32
    b.extend_from_slice(&4u32.to_le_bytes()); // 40: string at 44
    b.extend_from_slice(&(info_node.len() as u32).to_le_bytes());
    b.extend_from_slice(info_node.as_bytes());
    b.push(0);
    while b.len() & 3 != 0 {
        b.push(0);
    }
    b
}

/// LZ4 block dependency of synthesised AEDAT 4 packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lz4Blocks {
    /// Independent 64 KiB blocks (what DV writes).
    Independent,
    /// Linked 64 KiB blocks (allowed by the frame format).
    Linked,
}

/// AEDAT 4.0 bytes: stream 0 = EVTS (sizeX = sizeY = 128), optionally stream
/// 1 = TRIG with one opaque packet after the first event packet; event
/// packets of up to `per_packet` events; dataTablePosition -1 (no table).
/// `zstd_level` applies to [`Compression::Zstd`].
pub fn aedat4_bytes(
    events: &Events,
    per_packet: usize,
    compression: Compression,
    lz4_blocks: Lz4Blocks,
    zstd_level: i32,
    with_trigger_stream: bool,
) -> Vec<u8> {
    let (code, name) = match compression {
        Compression::None => (0, "NONE"),
        Compression::Lz4 => (1, "LZ4"),
        Compression::Zstd => (3, "ZSTD"),
    };
    let mut info = format!(
        "<dv version=\"2.0\">\n<node name=\"outInfo\" path=\"/outInfo/\">\n<node name=\"0\" path=\"/outInfo/0/\">\n\
<attr key=\"compression\" type=\"string\">{name}</attr>\n<attr key=\"typeIdentifier\" type=\"string\">EVTS</attr>\n\
<node name=\"info\" path=\"/outInfo/0/info/\">\n<attr key=\"sizeX\" type=\"int\">128</attr>\n\
<attr key=\"sizeY\" type=\"int\">128</attr>\n</node>\n</node>\n"
    );
    if with_trigger_stream {
        info.push_str(
            "<node name=\"1\" path=\"/outInfo/1/\">\n<attr key=\"typeIdentifier\" type=\"string\">TRIG</attr>\n\
<node name=\"info\" path=\"/outInfo/1/info/\">\n</node>\n</node>\n",
        );
    }
    info.push_str("</node>\n</dv>\n");
    let header = io_header(code, -1, &info);
    let mut out = super::aedat4::MAGIC.to_vec();
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    let compress = |raw: Vec<u8>| -> Vec<u8> {
        match compression {
            Compression::None => raw,
            Compression::Lz4 => {
                use std::io::Write;
                let mode = match lz4_blocks {
                    Lz4Blocks::Independent => lz4_flex::frame::BlockMode::Independent,
                    Lz4Blocks::Linked => lz4_flex::frame::BlockMode::Linked,
                };
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .block_mode(mode);
                let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
                // Writing to a Vec cannot fail.
                enc.write_all(&raw).ok();
                enc.finish().unwrap_or_default()
            }
            Compression::Zstd => zstd::bulk::compress(&raw, zstd_level).unwrap_or_default(),
        }
    };
    let mut i = 0;
    let mut first = true;
    let per_packet = per_packet.max(1);
    while i < events.len() {
        let j = (i + per_packet).min(events.len());
        let payload = compress(evts_flatbuffer(events, i..j));
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&(payload.len() as i32).to_le_bytes());
        out.extend_from_slice(&payload);
        if first && with_trigger_stream {
            let payload =
                compress(b"\x0c\x00\x00\x00\x08\x00\x00\x00TRIG\x00\x00\x00\x00".to_vec());
            out.extend_from_slice(&1i32.to_le_bytes());
            out.extend_from_slice(&(payload.len() as i32).to_le_bytes());
            out.extend_from_slice(&payload);
        }
        first = false;
        i = j;
    }
    out
}
