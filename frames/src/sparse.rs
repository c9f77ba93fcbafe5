//! The sparse record layout (shard format version 2, encoding code 2): the nonzero elements of
//! a record and their positions, which is what event frames mostly are — 200 k events in the
//! 1.5 M cells of a 10 × 2 × 240 × 320 sample leave at least 87 % of them zero, and area-resized
//! DVS128 frames at 32 × 32 are about 95 % zero. A reader then expands (or the loader scatters)
//! a few thousand values instead of decompressing every zero; the writer takes this layout only
//! where it is also cheaper to compress (see `EncodedRecord::encode_with`).
//!
//! Layout of the payload (before zstd; `docs/shard-format.md` is normative):
//!
//! ```text
//! [nnz: u32][nnz gaps: LEB128][nnz values: element size each, little-endian]
//! ```
//!
//! Element `k`'s flat index is `gap_0` for `k = 0` and `index_{k-1} + 1 + gap_k` after, so
//! indices strictly increase; "nonzero" means any nonzero byte (a stored `-0.0` is kept).

/// Bytes of the element count at the start of the payload (the shortest valid payload).
pub(crate) const COUNT_BYTES: usize = 4;
/// Longest LEB128 gap: indices are below 2^30 (records are at most 1 GiB), so five bytes of
/// seven bits each always suffice; a longer one is damage.
const MAX_GAP_BYTES: usize = 5;

/// Number of elements of the dense little-endian `elements` (each `size` bytes) with a nonzero
/// bit pattern, so the writer can decide on the layout before building it: exact for records up
/// to 64 KiB, else estimated from every eighth 4 KiB block (scaled to the whole record;
/// deterministic). A full count costs a tenth of a large record's whole ingest.
pub(crate) fn estimate_nonzero(elements: &[u8], size: usize) -> usize {
    const BLOCK: usize = 4096;
    const STRIDE: usize = 8;
    if elements.len() <= 16 * BLOCK {
        return count_nonzero(elements, size);
    }
    let (mut seen, mut nonzero) = (0usize, 0usize);
    for block in elements.chunks(BLOCK).step_by(STRIDE) {
        seen += block.len();
        nonzero += count_nonzero(block, size);
    }
    // seen > 0: the record holds more than 16 blocks.
    (nonzero as u128 * elements.len() as u128 / seen as u128) as usize
}

fn count_nonzero(elements: &[u8], size: usize) -> usize {
    match size {
        1 => elements.iter().map(|&b| usize::from(b != 0)).sum(),
        2 => elements
            .chunks_exact(2)
            .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]]) != 0))
            .sum(),
        _ => elements
            .chunks_exact(4)
            .map(|c| usize::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]) != 0))
            .sum(),
    }
}

/// Payload bytes of a record with `nnz` stored elements of `size` bytes if every gap takes one
/// byte (the least it can be).
pub(crate) fn min_payload_len(nnz: usize, size: usize) -> usize {
    COUNT_BYTES + nnz * (size + 1)
}

/// Writes the sparse payload of the dense little-endian `elements` (each `size` bytes) into
/// `out` (cleared) if it is shorter than `limit` bytes, and returns whether it did. The scan
/// stops as soon as the payload would reach `limit`, so a dense record costs at most one
/// partial pass. `values` is scratch for the stored elements while the gaps are written
/// (cleared; reused across calls so that encoding does not allocate).
pub(crate) fn encode(
    elements: &[u8],
    size: usize,
    limit: usize,
    out: &mut Vec<u8>,
    values: &mut Vec<u8>,
) -> bool {
    debug_assert!(matches!(size, 1 | 2 | 4) && elements.len() % size == 0);
    // One bit per element, its lane's top bit: set iff the lane (1, 2 or 4 bytes of a
    // little-endian u64) is nonzero. (lane & low) + low carries into the top bit iff a low bit
    // is set; OR-ing the lane itself catches the top bit.
    let (low, lane_bits): (u64, u32) = match size {
        1 => (0x7F7F_7F7F_7F7F_7F7F, 8),
        2 => (0x7FFF_7FFF_7FFF_7FFF, 16),
        _ => (0x7FFF_FFFF_7FFF_FFFF, 32),
    };
    let high = !low;
    out.clear();
    out.extend_from_slice(&[0; COUNT_BYTES]);
    values.clear();
    let mut nnz: u32 = 0;
    let mut next = 0usize; // flat index right after the previous stored element
    let per_word = 8 / size;
    let words = elements.chunks_exact(8);
    let tail = words.remainder();
    for (w, word) in words.enumerate() {
        let v = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        let mut mask = (((v & low).wrapping_add(low)) | v) & high;
        if mask == 0 {
            continue;
        }
        while mask != 0 {
            let lane = (mask.trailing_zeros() / lane_bits) as usize;
            mask &= mask - 1;
            let index = w * per_word + lane;
            push_gap(out, index - next);
            values.extend_from_slice(&word[lane * size..(lane + 1) * size]);
            next = index + 1;
            nnz += 1;
        }
        if out.len() + values.len() >= limit {
            return false;
        }
    }
    let base = (elements.len() - tail.len()) / size;
    for (j, element) in tail.chunks_exact(size).enumerate() {
        if element.iter().any(|&b| b != 0) {
            let index = base + j;
            push_gap(out, index - next);
            values.extend_from_slice(element);
            next = index + 1;
            nnz += 1;
        }
    }
    if out.len() + values.len() >= limit {
        return false;
    }
    out[..COUNT_BYTES].copy_from_slice(&nnz.to_le_bytes());
    out.extend_from_slice(values);
    true
}

fn push_gap(out: &mut Vec<u8>, mut gap: usize) {
    while gap >= 0x80 {
        out.push((gap as u8 & 0x7F) | 0x80);
        gap >>= 7;
    }
    out.push(gap as u8);
}

/// Expands a sparse `payload` into `out`: the dense little-endian elements (each `size` bytes;
/// `out.len()` of them is the record's size). Every field is checked against `out.len()` and
/// the payload length before use; an error says what is wrong (the caller adds file, record
/// and offset).
pub(crate) fn expand(payload: &[u8], size: usize, out: &mut [u8]) -> Result<(), String> {
    out.fill(0);
    for_each(payload, size, out.len() / size, |index, value| {
        out[index * size..(index + 1) * size].copy_from_slice(value);
    })
}

/// Calls `f(index, element bytes)` for every stored element of a sparse `payload` of a record
/// of `elements` elements of `size` bytes, in increasing index order. Every field is checked
/// before use (`index < elements` for every call); an error says what is wrong. On an error
/// `f` may have been called for a prefix of the elements.
pub(crate) fn for_each(
    payload: &[u8],
    size: usize,
    elements: usize,
    mut f: impl FnMut(usize, &[u8]),
) -> Result<(), String> {
    let Some(count) = payload.get(..COUNT_BYTES) else {
        return Err(format!(
            "sparse payload of {} bytes has no element count",
            payload.len()
        ));
    };
    let nnz = u32::from_le_bytes([count[0], count[1], count[2], count[3]]) as usize;
    if nnz > elements {
        return Err(format!(
            "sparse payload counts {nnz} nonzero elements in a record of {elements}"
        ));
    }
    // Each gap takes at least one byte, so the values start no earlier than this.
    let values_len = nnz * size;
    let Some(gaps_len) = payload
        .len()
        .checked_sub(COUNT_BYTES + values_len)
        .filter(|&g| g >= nnz)
    else {
        return Err(format!(
            "sparse payload of {} bytes is too short for {nnz} elements of {size} bytes",
            payload.len()
        ));
    };
    let gaps = &payload[COUNT_BYTES..COUNT_BYTES + gaps_len];
    let values = &payload[COUNT_BYTES + gaps_len..];
    let mut pos = 0usize;
    let mut next = 0usize;
    for value in values.chunks_exact(size) {
        // One-byte gaps (below 128) are the common case in event frames: taken without the loop.
        let mut gap = 0usize;
        let mut shift = 0u32;
        if let Some(&byte) = gaps.get(pos).filter(|&&b| b < 0x80) {
            pos += 1;
            gap = usize::from(byte);
        } else {
            loop {
                let Some(&byte) = gaps.get(pos) else {
                    return Err(format!(
                        "sparse payload: the gaps end inside a gap at byte {}",
                        COUNT_BYTES + pos
                    ));
                };
                pos += 1;
                gap |= usize::from(byte & 0x7F) << shift;
                if byte & 0x80 == 0 {
                    break;
                }
                shift += 7;
                if shift as usize >= 7 * MAX_GAP_BYTES {
                    return Err(format!(
                        "sparse payload: a gap longer than {MAX_GAP_BYTES} bytes at byte {}",
                        COUNT_BYTES + pos
                    ));
                }
            }
        }
        let index = next
            .checked_add(gap)
            .filter(|&i| i < elements)
            .ok_or_else(|| {
                format!("sparse payload: element index {next} + {gap} lies outside the {elements} elements")
            })?;
        f(index, value);
        next = index + 1;
    }
    if pos != gaps.len() {
        return Err(format!(
            "sparse payload: {} bytes of gaps for {nnz} elements, {} unexplained",
            gaps.len(),
            gaps.len() - pos
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(dense: &[u8], size: usize) -> Vec<u8> {
        let mut payload = Vec::new();
        assert!(encode(
            dense,
            size,
            usize::MAX,
            &mut payload,
            &mut Vec::new()
        ));
        let mut back = vec![0xAAu8; dense.len()];
        expand(&payload, size, &mut back).unwrap();
        assert_eq!(back, dense);
        payload
    }

    #[test]
    fn round_trips_every_element_size_and_gap_length() {
        for size in [1usize, 2, 4] {
            // Gaps of 0, 1, 127, 128 (two LEB128 bytes), 20 000 (three) and a tail that is not
            // a whole 8-byte word.
            let n = 40_013 - (40_013 % size);
            let mut dense = vec![0u8; n * size];
            for index in [0usize, 1, 2, 130, 259, 20_260, n - 1] {
                dense[index * size + size - 1] = 7;
            }
            let payload = round_trip(&dense, size);
            assert_eq!(u32::from_le_bytes(payload[..4].try_into().unwrap()), 7);
        }
        assert_eq!(round_trip(&[0; 24], 4), vec![0, 0, 0, 0]);
        // -0.0 is a nonzero bit pattern and is kept.
        round_trip(&(-0.0f32).to_le_bytes(), 4);
    }

    #[test]
    fn estimates_are_exact_when_small_and_close_when_large() {
        let small: Vec<u8> = (0..60_000u32).map(|i| u8::from(i % 7 == 0)).collect();
        assert_eq!(
            estimate_nonzero(&small, 1),
            small.iter().filter(|&&b| b != 0).count()
        );
        let large: Vec<u8> = (0..2_000_000u32)
            .flat_map(|i| (if i % 11 == 0 { i } else { 0 }).to_le_bytes())
            .collect();
        let exact = count_nonzero(&large, 4);
        let estimate = estimate_nonzero(&large, 4);
        assert!(
            exact.abs_diff(estimate) * 100 < exact,
            "{estimate} vs {exact}"
        );
    }

    #[test]
    fn gives_up_at_the_limit() {
        let dense: Vec<u8> = (0..1000u32).map(|i| (i % 3 != 0) as u8).collect();
        let mut payload = Vec::new();
        assert!(!encode(
            &dense,
            1,
            dense.len() / 2,
            &mut payload,
            &mut Vec::new()
        ));
        assert!(encode(
            &dense,
            1,
            dense.len() * 2,
            &mut payload,
            &mut Vec::new()
        ));
    }

    #[test]
    fn damaged_payloads_are_errors_not_panics() {
        let mut dense = vec![0u8; 300];
        dense[5] = 1;
        dense[299] = 2;
        let mut payload = Vec::new();
        assert!(encode(&dense, 1, usize::MAX, &mut payload, &mut Vec::new()));
        let mut out = vec![0u8; 300];
        // Every truncation and every single-byte change either errors or yields 300 bytes.
        for cut in 0..payload.len() {
            assert!(expand(&payload[..cut], 1, &mut out).is_err(), "cut {cut}");
        }
        for at in 0..payload.len() {
            for byte in [0u8, 0x7F, 0x80, 0xFF] {
                let mut bad = payload.clone();
                bad[at] = byte;
                let _ = expand(&bad, 1, &mut out);
            }
        }
        let mut huge = payload.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(expand(&huge, 1, &mut out)
            .unwrap_err()
            .contains("nonzero elements"));
        let mut outside = payload.clone();
        outside[4] = 0x7F; // first gap 127, second index 127 + 1 + 293 > 300
        assert!(expand(&outside, 1, &mut out)
            .unwrap_err()
            .contains("outside"));
        let mut small = vec![0u8; 10];
        assert!(expand(&payload, 1, &mut small).is_err());
    }
}
