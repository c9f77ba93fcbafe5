//! The count-planes record layout (shard format version 3, encoding code 3) for integer counts:
//! two bit planes over every element, then the few larger values.
//!
//! Event frames are mostly zeros and ones: 200 k events in the 1.5 M cells of a
//! 10 × 2 × 240 × 320 sample leave 88 % of the cells at 0, 11 % at 1 and about 1 % above. zstd
//! spends its time there on a match / literal pair every few bytes of a dense record; the planes
//! hold the same information in a quarter of the bytes, and the bitmaps have long zero runs where
//! the frame is empty. Measured at level 1 on such a sample: 1.6 ms and 128 KB dense, 0.7 ms and
//! 89 KB as planes.
//!
//! Layout of the payload (before zstd; `docs/shard-format.md` is normative), for `n` elements of
//! `size` bytes and `b = ceil(n / 8)`:
//!
//! ```text
//! [P0: b bytes][P1: b bytes][values: size bytes each, little-endian]
//! ```
//!
//! Bit `i % 8` of byte `i / 8` of `P0` is set iff element `i` is nonzero, the same bit of `P1`
//! iff element `i` is above 1 (so `P1` is a subset of `P0`); the values are the elements above 1,
//! in increasing index order. Bits past `n` in the last byte are 0. Every other element is 0,
//! or 1 where only its `P0` bit is set.

/// Bytes of one bit plane of `elements` elements.
pub(crate) fn plane_len(elements: usize) -> usize {
    elements.div_ceil(8)
}

/// Whether a planes payload of `payload_len` bytes for a record of `dense_len` dense bytes of
/// `size`-byte elements is the better layout: smaller than dense, and at most one element in
/// 16 above 1. A reader pays per element above 1 (a bit scan and a store) where zstd pays per
/// dense byte: on 20 %-dense 10 × 2 × 48 × 48 frames with counts 1..6 (`frames-bench
/// --pattern uniform`, 17 % of the elements above 1) the loader read planes records at 23 000
/// samples/s against 28 600 dense, while event frames (1 % above 1) read faster as planes.
pub(crate) fn cheap_to_read(payload_len: usize, dense_len: usize, size: usize) -> bool {
    let elements = dense_len / size;
    let above_one = payload_len.saturating_sub(2 * plane_len(elements)) / size;
    payload_len < dense_len && above_one * 16 <= elements
}

/// The unsigned little-endian integer of one element of 1, 2 or 4 bytes.
#[inline(always)]
fn element_value(bytes: &[u8]) -> u32 {
    match *bytes {
        [a] => u32::from(a),
        [a, b] => u32::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => u32::from_le_bytes([a, b, c, d]),
        _ => unreachable!("integer elements are 1, 2 or 4 bytes"),
    }
}

/// The planes of 64 one-byte elements (or fewer at the end): bits of `v != 0` and `v > 1`.
#[inline(always)]
fn masks_u8(chunk: &[u8]) -> (u64, u64) {
    #[cfg(target_arch = "x86_64")]
    if let Ok(full) = <&[u8; 64]>::try_from(chunk) {
        return masks_u8_sse2(full);
    }
    let (mut nonzero, mut above_one) = (0u64, 0u64);
    for (i, &v) in chunk.iter().enumerate() {
        nonzero |= u64::from(v != 0) << i;
        above_one |= u64::from(v > 1) << i;
    }
    (nonzero, above_one)
}

/// [`masks_u8`] of a whole chunk with SSE2 (part of every x86-64 CPU): a byte compare and a
/// mask extraction per 16 elements, where the portable loop is not vectorised by LLVM.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks_u8_sse2(chunk: &[u8; 64]) -> (u64, u64) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        _mm_setzero_si128, _mm_subs_epu8,
    };
    let (mut zero, mut at_most_one) = (0u64, 0u64);
    for k in 0..4 {
        // SAFETY: SSE2 is part of the x86-64 baseline; the load reads bytes 16k..16k+16 of a
        // 64-byte array (unaligned loads allowed).
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().add(16 * k).cast::<__m128i>());
            let z = _mm_setzero_si128();
            let is_zero = _mm_movemask_epi8(_mm_cmpeq_epi8(v, z)) as u32 as u64;
            // v <= 1 iff v - 1 saturates to 0.
            let le_one = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_subs_epu8(v, _mm_set1_epi8(1)), z))
                as u32 as u64;
            zero |= is_zero << (16 * k);
            at_most_one |= le_one << (16 * k);
        }
    }
    (!zero, !at_most_one)
}

/// Writes the planes payload of the dense little-endian integer `elements` (each `size` = 1, 2
/// or 4 bytes) into `out` (cleared; reused across calls so that encoding does not allocate).
pub(crate) fn encode(elements: &[u8], size: usize, out: &mut Vec<u8>) {
    debug_assert!(matches!(size, 1 | 2 | 4) && elements.len() % size == 0);
    let n = elements.len() / size;
    let b = plane_len(n);
    out.clear();
    // The planes are written word by word below; every byte of them is overwritten.
    out.resize(2 * b, 0);
    let (planes, _) = out.split_at_mut(2 * b);
    let (p0, p1) = planes.split_at_mut(b);
    for (word, chunk) in elements.chunks(64 * size).enumerate() {
        let (nonzero, above_one) = if size == 1 {
            masks_u8(chunk)
        } else {
            let (mut nonzero, mut above_one) = (0u64, 0u64);
            for (i, e) in chunk.chunks_exact(size).enumerate() {
                let v = element_value(e);
                nonzero |= u64::from(v != 0) << i;
                above_one |= u64::from(v > 1) << i;
            }
            (nonzero, above_one)
        };
        let at = word * 8;
        if let (Some(d0), Some(d1)) = (p0.get_mut(at..at + 8), p1.get_mut(at..at + 8)) {
            // A whole word: fixed-size stores (a variable-length copy is a memcpy call).
            d0.copy_from_slice(&nonzero.to_le_bytes());
            d1.copy_from_slice(&above_one.to_le_bytes());
        } else {
            let len = b - at;
            p0[at..].copy_from_slice(&nonzero.to_le_bytes()[..len]);
            p1[at..].copy_from_slice(&above_one.to_le_bytes()[..len]);
        }
    }
    // The values above 1, in index order, from P1 word by word (most words are empty).
    for word in 0..b.div_ceil(8) {
        let at = word * 8;
        let mut bytes = [0u8; 8];
        match out.get(b + at..b + at + 8) {
            Some(whole) if at + 8 <= b => bytes.copy_from_slice(whole),
            _ => bytes[..b - at].copy_from_slice(&out[b + at..2 * b]),
        }
        let mut bits = u64::from_le_bytes(bytes);
        while bits != 0 {
            let i = word * 64 + bits.trailing_zeros() as usize;
            if size == 1 {
                out.push(elements[i]); // not a memcpy call per value
            } else {
                out.extend_from_slice(&elements[i * size..(i + 1) * size]);
            }
            bits &= bits - 1;
        }
    }
}

/// The 8 bytes of 0 / 1 that the bits of one `P0` byte expand to (one-byte elements).
const ONES: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut bit = 0;
        while bit < 8 {
            if byte & (1 << bit) != 0 {
                table[byte] |= 1 << (8 * bit);
            }
            bit += 1;
        }
        byte += 1;
    }
    table
};

/// Expands a planes `payload` into `out` (the dense little-endian elements of `size` bytes;
/// `out.len() / size` of them is the record's size). Every field is checked against `out.len()`
/// and the payload length before use; an error says what is wrong and at which payload byte
/// (the caller adds file, record and offset).
pub(crate) fn expand(payload: &[u8], size: usize, out: &mut [u8]) -> Result<(), String> {
    let n = out.len() / size;
    let b = plane_len(n);
    let Some(values) = payload.get(2 * b..) else {
        return Err(format!(
            "planes payload of {} bytes is shorter than the two {b}-byte planes of {n} elements",
            payload.len()
        ));
    };
    if values.len() % size != 0 {
        return Err(format!(
            "planes payload: {} bytes of values are not whole {size}-byte elements",
            values.len()
        ));
    }
    let (p0, p1) = (&payload[..b], &payload[b..2 * b]);
    if n % 8 != 0 {
        let spare = !0u8 << (n % 8);
        if p0[b - 1] & spare != 0 || p1[b - 1] & spare != 0 {
            return Err(format!(
                "planes payload: bits set past the {n} elements at byte {}",
                b - 1
            ));
        }
    }
    // Zeros and ones from P0.
    if size == 1 {
        for (dst, &bits) in out.chunks_mut(8).zip(p0) {
            dst.copy_from_slice(&ONES[usize::from(bits)].to_le_bytes()[..dst.len()]);
        }
    } else {
        out.fill(0);
        for (at, &bits) in p0.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let i = at * 8 + bits.trailing_zeros() as usize;
                out[i * size] = 1;
                bits &= bits - 1;
            }
        }
    }
    // The values above 1 where P1 says: first the counts and the subset rule, so that the
    // loops below cannot run out of values.
    let stored = values.len() / size;
    let marked: usize = p1.iter().map(|&bits| bits.count_ones() as usize).sum();
    if marked != stored {
        return Err(format!(
            "planes payload: the second plane marks {marked} values above 1, {stored} are stored"
        ));
    }
    if let Some(at) = p0.iter().zip(p1).position(|(&ones, &big)| big & !ones != 0) {
        return Err(format!(
            "planes payload: byte {} of the second plane marks a value above 1 where the first marks a zero",
            b + at
        ));
    }
    let mut k = 0usize;
    let mut not_above_one = false;
    for (word, bytes) in p1.chunks(8).enumerate() {
        let mut full = [0u8; 8];
        full[..bytes.len()].copy_from_slice(bytes);
        let mut bits = u64::from_le_bytes(full);
        while bits != 0 {
            let i = word * 64 + bits.trailing_zeros() as usize;
            if size == 1 {
                // One byte per value: a plain store (a slice copy is a memcpy call).
                let v = values[k];
                not_above_one |= v <= 1;
                out[i] = v;
            } else {
                let value = &values[k * size..(k + 1) * size];
                not_above_one |= element_value(value) <= 1;
                out[i * size..(i + 1) * size].copy_from_slice(value);
            }
            k += 1;
            bits &= bits - 1;
        }
    }
    if not_above_one {
        let (k, value) = values
            .chunks_exact(size)
            .map(element_value)
            .enumerate()
            .find(|&(_, v)| v <= 1)
            .expect("a stored value is not above 1");
        return Err(format!(
            "planes payload: stored value {k} is {value}, not above 1"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_bytes(values: &[u32], size: usize) -> Vec<u8> {
        values
            .iter()
            .flat_map(|&v| v.to_le_bytes()[..size].to_vec())
            .collect()
    }

    #[test]
    fn round_trips_every_element_size_and_length() {
        for size in [1usize, 2, 4] {
            for n in [0usize, 1, 7, 8, 9, 63, 64, 65, 200, 1000] {
                let max = if size == 1 { 255 } else { 70_000 };
                let values: Vec<u32> = (0..n)
                    .map(|i| match (i * 7 + n) % 11 {
                        0..=5 => 0,
                        6..=8 => 1,
                        9 => 2 + (i as u32 % 9),
                        _ => max.min(1 << (8 * size as u32)) - 1,
                    })
                    .collect();
                let dense = to_bytes(&values, size);
                let mut payload = Vec::new();
                encode(&dense, size, &mut payload);
                let above = values.iter().filter(|&&v| v > 1).count();
                assert_eq!(payload.len(), 2 * plane_len(n) + above * size, "{size} {n}");
                let mut out = vec![0xAAu8; dense.len()];
                expand(&payload, size, &mut out).unwrap();
                assert_eq!(out, dense, "size {size}, {n} elements");
            }
        }
    }

    #[test]
    fn layout_is_the_documented_one() {
        // Elements 0..10: 0 1 3 0 0 0 0 0 | 1 2
        let dense = [0u8, 1, 3, 0, 0, 0, 0, 0, 1, 2];
        let mut payload = Vec::new();
        encode(&dense, 1, &mut payload);
        assert_eq!(payload, [0b0000_0110, 0b11, 0b0000_0100, 0b10, 3, 2]);
    }

    proptest::proptest! {
        /// Any bytes as a payload: an error, or a record whose encoding is exactly those bytes
        /// (the layout has one spelling per record, so nothing else can decode).
        #[test]
        fn arbitrary_payloads_are_errors_or_canonical(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            n in 0usize..400,
            size in proptest::sample::select(vec![1usize, 2, 4]),
        ) {
            let mut out = vec![0u8; n * size];
            if expand(&payload, size, &mut out).is_ok() {
                let mut again = Vec::new();
                encode(&out, size, &mut again);
                proptest::prop_assert_eq!(again, payload);
            }
        }
    }

    #[test]
    fn damaged_payloads_are_errors_not_panics() {
        let mut dense = vec![0u8; 300];
        dense[5] = 1;
        dense[64] = 7;
        dense[299] = 2;
        let mut payload = Vec::new();
        encode(&dense, 1, &mut payload);
        let mut out = vec![0u8; 300];
        for cut in 0..payload.len() {
            assert!(expand(&payload[..cut], 1, &mut out).is_err(), "cut {cut}");
        }
        for at in 0..payload.len() {
            for byte in [0u8, 1, 0x7F, 0x80, 0xFF] {
                let mut bad = payload.clone();
                bad[at] = byte;
                if expand(&bad, 1, &mut out).is_ok() {
                    // Only another valid record can decode, and it encodes to these bytes.
                    let mut again = Vec::new();
                    encode(&out, 1, &mut again);
                    assert_eq!(again, bad, "byte {at} = {byte:#x}");
                }
            }
        }
        let b = plane_len(300);
        let mut orphan = payload.clone();
        orphan[b] |= 1; // P1 marks element 0, which P0 says is zero (and a value for it)
        orphan.insert(2 * b, 9);
        assert!(expand(&orphan, 1, &mut out)
            .unwrap_err()
            .contains("first marks a zero"));
        let mut past = payload.clone();
        past[b - 1] |= 0x80; // element 303 of 300
        assert!(expand(&past, 1, &mut out).unwrap_err().contains("past"));
        let mut one = payload.clone();
        *one.last_mut().unwrap() = 1;
        assert!(expand(&one, 1, &mut out)
            .unwrap_err()
            .contains("not above 1"));
        let mut extra = payload.clone();
        extra.push(9);
        assert!(expand(&extra, 1, &mut out)
            .unwrap_err()
            .contains("are stored"));
        assert!(expand(&payload, 1, &mut [0u8; 10]).is_err());
    }
}
