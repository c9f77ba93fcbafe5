//! Frame integration: turns the events of one sample into a `[T, 2, H, W]`
//! count tensor, with the exact bin rules of SpikingJelly (`split_by='number'`,
//! `split_by='time'`) and tonic (`ToFrame(n_time_bins=..)`).
//!
//! Counting is `F[j, p, y, x] += 1` with channel 0 = OFF, 1 = ON (any non-zero
//! `p` is ON, as SpikingJelly's `p != 0`). All rules start the first bin at
//! the first event of the sample (not at a label start time), as both libraries
//! do. With events in non-decreasing time order (what every decoder returns for
//! the supported datasets) the results equal the libraries' bit for bit; the
//! fixture tests check that. The per-event rules below are also well defined
//! (no panic, no index out of range) for unsorted input.

/// How the events of a sample are divided into `T` frames (spelled as
/// [`SplitBy::as_str`] on the command line, in config files and in `dataset.json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SplitBy {
    /// SpikingJelly `split_by='number'`: frame `j` takes event indices
    /// `[j*floor(N/T), (j+1)*floor(N/T))`; the last frame also takes the
    /// remainder up to `N`.
    #[default]
    Number,
    /// SpikingJelly `split_by='time'`: `dT = floor((t_last - t_0) / T)`; frame
    /// `j` takes `t_0 + j*dT <= t < t_0 + (j+1)*dT`; the last frame takes every
    /// event from `t_0 + (T-1)*dT` on, including the last one. Where
    /// SpikingJelly raises `IndexError` on an empty bin, this gives an empty frame.
    Time,
    /// tonic `ToFrame(n_time_bins=T)`: `w = floor((t_last - t_0) / T)`; frame
    /// `j` takes `t_0 + j*w <= t < t_0 + (j+1)*w`; events at
    /// `t >= t_0 + T*w` are dropped (always at least the last event), and with
    /// `w = 0` every frame is empty (tonic's behaviour).
    TonicTimeBins,
}

impl SplitBy {
    /// The CLI / config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SplitBy::Number => "number",
            SplitBy::Time => "time",
            SplitBy::TonicTimeBins => "tonic-time-bins",
        }
    }
}

impl std::str::FromStr for SplitBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "number" => Ok(SplitBy::Number),
            "time" => Ok(SplitBy::Time),
            "tonic-time-bins" | "tonic_time_bins" => Ok(SplitBy::TonicTimeBins),
            other => Err(format!(
                "unknown split-by '{other}' (expected number, time or tonic-time-bins)"
            )),
        }
    }
}

impl std::fmt::Display for SplitBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

dvs_frames::settings::serde_via_str!(SplitBy);

/// Frame geometry: `frames` (T) and the sensor height / width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameGeometry {
    /// Number of frames T (>= 1).
    pub frames: usize,
    /// Sensor height in pixels.
    pub height: usize,
    /// Sensor width in pixels.
    pub width: usize,
}

impl FrameGeometry {
    /// Elements of one `[T, 2, H, W]` tensor.
    pub fn len(&self) -> usize {
        self.frames * 2 * self.height * self.width
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The first event (index) whose `x`/`y` lies outside the sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event {index} at (x={x}, y={y}) lies outside the {width}x{height} sensor")]
pub struct OutOfSensor {
    /// Index of the event within the sample.
    pub index: usize,
    /// Its x.
    pub x: u16,
    /// Its y.
    pub y: u16,
    /// Sensor width.
    pub width: usize,
    /// Sensor height.
    pub height: usize,
}

/// Result of integrating one sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integrated<C = u32> {
    /// `[T, 2, H, W]` counts, row-major.
    pub counts: Vec<C>,
    /// Events of the sample not counted in any frame (tonic's dropped tail).
    pub dropped: usize,
}

/// A count cell: `u32` (never full in practice) or `u8` (reports when a cell passes 255).
pub trait CountCell: Copy + Default {
    /// Adds one; true when the cell wrapped around (the count no longer fits).
    fn bump(&mut self) -> bool;
    /// Whether some cell wrapped around while `added` events were counted into `cells` (all
    /// zero before) with `wrapping_add`: each wrap loses the cell's full range from the sum.
    fn any_wrapped(cells: &[Self], added: usize) -> bool;
}

impl CountCell for u32 {
    #[inline(always)]
    fn bump(&mut self) -> bool {
        *self = self.wrapping_add(1);
        false
    }

    fn any_wrapped(_: &[Self], _: usize) -> bool {
        false
    }
}

impl CountCell for u8 {
    #[inline(always)]
    fn bump(&mut self) -> bool {
        let (v, wrapped) = self.overflowing_add(1);
        *self = v;
        wrapped
    }

    fn any_wrapped(cells: &[Self], added: usize) -> bool {
        byte_sum(cells) != added as u64
    }
}

/// The sum of `bytes` as unsigned integers.
#[cfg(target_arch = "x86_64")]
fn byte_sum(bytes: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi64, _mm_loadu_si128, _mm_sad_epu8, _mm_setzero_si128, _mm_storeu_si128,
    };
    let blocks = bytes.chunks_exact(16);
    let rest: u64 = blocks.remainder().iter().map(|&b| u64::from(b)).sum();
    // SAFETY: SSE2 is part of the x86-64 baseline; each load reads one 16-byte block of
    // `bytes` (unaligned loads allowed) and the store writes a local array.
    unsafe {
        let zero = _mm_setzero_si128();
        let mut acc = zero;
        for block in blocks {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            // Two sums of eight bytes each, added as u64 lanes.
            acc = _mm_add_epi64(acc, _mm_sad_epu8(v, zero));
        }
        let mut lanes = [0u64; 2];
        _mm_storeu_si128(lanes.as_mut_ptr().cast::<__m128i>(), acc);
        lanes[0] + lanes[1] + rest
    }
}

/// The sum of `bytes` as unsigned integers.
#[cfg(not(target_arch = "x86_64"))]
fn byte_sum(bytes: &[u8]) -> u64 {
    bytes
        .chunks(4096)
        .map(|c| u64::from(c.iter().map(|&v| u32::from(v)).sum::<u32>()))
        .sum()
}

/// Integrates the events `(t, x, y, p)` (equal lengths) into `geometry.frames`
/// frames by `split_by`. Fails (without panicking) if an event lies outside the
/// sensor; the caller reports the recording.
pub fn integrate(
    t: &[i64],
    x: &[u16],
    y: &[u16],
    p: &[u8],
    split_by: SplitBy,
    geometry: FrameGeometry,
) -> Result<Integrated, OutOfSensor> {
    let mut counts = vec![0u32; cell_count(geometry)];
    let (dropped, _) = integrate_into(t, x, y, p, split_by, geometry, &mut counts)?;
    Ok(Integrated { counts, dropped })
}

/// [`integrate`] into `u8` cells: the same counts where every one is at most 255, `None` when
/// some cell holds more (the caller integrates into `u32` then). A quarter of the memory to
/// scatter into, and the shard writer stores such counts as they are (`u8` is the dtype it would
/// narrow them to), so the common case skips the wide tensor and the narrowing pass.
pub fn integrate_u8(
    t: &[i64],
    x: &[u16],
    y: &[u16],
    p: &[u8],
    split_by: SplitBy,
    geometry: FrameGeometry,
) -> Result<Option<Integrated<u8>>, OutOfSensor> {
    let mut counts = vec![0u8; cell_count(geometry)];
    let (dropped, wrapped) = integrate_into(t, x, y, p, split_by, geometry, &mut counts)?;
    Ok((!wrapped).then_some(Integrated { counts, dropped }))
}

/// Cells of the `[T, 2, H, W]` tensor of `geometry` (T at least 1).
fn cell_count(geometry: FrameGeometry) -> usize {
    geometry.frames.max(1) * 2 * geometry.height * geometry.width
}

/// Adds the events into `counts` (zeroed, `[T, 2, H, W]` of `geometry`) and returns the
/// number of events dropped and whether some cell wrapped around.
fn integrate_into<C: CountCell>(
    t: &[i64],
    x: &[u16],
    y: &[u16],
    p: &[u8],
    split_by: SplitBy,
    geometry: FrameGeometry,
    counts: &mut [C],
) -> Result<(usize, bool), OutOfSensor> {
    let n = t.len().min(x.len()).min(y.len()).min(p.len());
    let (h, w) = (geometry.height, geometry.width);
    let frames = geometry.frames.max(1);
    debug_assert_eq!(counts.len(), cell_count(geometry));
    if n == 0 {
        return Ok((0, false));
    }
    let plane = h * w;
    let frame_stride = 2 * plane;
    if let Some((ranges, dropped)) = frame_ranges(&t[..n], split_by, frames) {
        // Time-sorted events (what the decoders return): each frame is an index range, counted
        // by a loop without per-event bin logic, early exits or a test of the incremented cell
        // (whether a cell wrapped is read off the sum afterwards: a flag that depends on every
        // increment made this loop 2.5 times slower).
        let mut all_inside = true;
        for (frame, range) in ranges.iter().enumerate() {
            all_inside &= count_range(
                &x[range.clone()],
                &y[range.clone()],
                &p[range.clone()],
                &mut counts[frame * frame_stride..(frame + 1) * frame_stride],
                (h, w),
            );
        }
        if all_inside {
            return Ok((dropped, C::any_wrapped(counts, n - dropped)));
        }
        // Some event lies outside the sensor: the per-event rules find the first one.
        counts.fill(C::default());
    }
    integrate_per_event(
        &t[..n],
        &x[..n],
        &y[..n],
        &p[..n],
        split_by,
        geometry,
        counts,
    )
}

/// [`integrate_into`] event by event, for input in any order (and to find the first event
/// outside the sensor).
fn integrate_per_event<C: CountCell>(
    t: &[i64],
    x: &[u16],
    y: &[u16],
    p: &[u8],
    split_by: SplitBy,
    geometry: FrameGeometry,
    counts: &mut [C],
) -> Result<(usize, bool), OutOfSensor> {
    let n = t.len();
    let (h, w) = (geometry.height, geometry.width);
    let frames = geometry.frames.max(1);
    let plane = h * w;
    let frame_stride = 2 * plane;
    // Each rule is a function from event index to `Some(frame)` or `None` (dropped).
    let mut dropped = 0usize;
    let mut wrapped = false;
    let mut add = |i: usize, frame: usize| -> Result<(), OutOfSensor> {
        let (xi, yi) = (x[i] as usize, y[i] as usize);
        if xi >= w || yi >= h {
            return Err(OutOfSensor {
                index: i,
                x: x[i],
                y: y[i],
                width: w,
                height: h,
            });
        }
        let channel = usize::from(p[i] != 0);
        wrapped |= counts[frame * frame_stride + channel * plane + yi * w + xi].bump();
        Ok(())
    };
    match split_by {
        SplitBy::Number => {
            // Frame j is the index range [j*per, (j+1)*per); the last frame also
            // takes the remainder (all events when per = 0). Walk the ranges.
            let per_frame = n / frames;
            let mut start = 0usize;
            for frame in 0..frames {
                let end = if frame + 1 == frames {
                    n
                } else {
                    start + per_frame
                };
                for i in start..end {
                    add(i, frame)?;
                }
                start = end;
            }
        }
        SplitBy::Time => {
            let t0 = t[0];
            let dt = time_span(t0, t[n - 1]) / frames as i64;
            let mut bins = TimeBins::new(dt, frames);
            for (i, &ti) in t.iter().enumerate().take(n) {
                let rel = ti.saturating_sub(t0);
                let frame = if dt == 0 {
                    // dT = 0: bins 0..T-2 are empty, the last one takes everything.
                    frames - 1
                } else if rel < 0 {
                    0
                } else {
                    // floor(rel / dT), capped at the last frame.
                    bins.bin_of(rel).min(frames - 1)
                };
                add(i, frame)?;
            }
        }
        SplitBy::TonicTimeBins => {
            let t0 = t[0];
            let bin = time_span(t0, t[n - 1]) / frames as i64;
            let mut bins = TimeBins::new(bin, frames);
            for (i, &ti) in t.iter().enumerate().take(n) {
                let rel = ti.saturating_sub(t0);
                if bin == 0 || rel < 0 {
                    dropped += 1;
                    continue;
                }
                let frame = bins.bin_of(rel);
                if frame >= frames {
                    dropped += 1;
                    continue;
                }
                add(i, frame)?;
            }
        }
    }
    Ok((dropped, wrapped))
}

/// The index range of each frame when `t` is in non-decreasing order (else `None`), and the
/// number of events no frame takes: the same frames as the per-event rules of
/// [`integrate_into`], found by binary search for the bin edges.
fn frame_ranges(
    t: &[i64],
    split_by: SplitBy,
    frames: usize,
) -> Option<(Vec<std::ops::Range<usize>>, usize)> {
    let n = t.len();
    let (&t0, &last) = (t.first()?, t.last()?);
    if !t.is_sorted() {
        return None;
    }
    // Start of the events with `t - t0 >= edge` (all of them have `t >= t0`).
    let from = |edge: i64| t.partition_point(|&ti| ti.saturating_sub(t0) < edge);
    let edges: Vec<usize> = match split_by {
        SplitBy::Number => {
            let per_frame = n / frames;
            (0..frames).map(|j| j * per_frame).chain([n]).collect()
        }
        SplitBy::Time => {
            let dt = time_span(t0, last) / frames as i64;
            if dt == 0 {
                // Bins 0..T-2 are empty, the last one takes everything.
                std::iter::repeat_n(0, frames).chain([n]).collect()
            } else {
                (0..frames as i64)
                    .map(|j| from(j * dt))
                    .chain([n])
                    .collect()
            }
        }
        SplitBy::TonicTimeBins => {
            let bin = time_span(t0, last) / frames as i64;
            if bin == 0 {
                vec![0; frames + 1]
            } else {
                (0..=frames as i64).map(|j| from(j * bin)).collect()
            }
        }
    };
    let dropped = n - edges[frames];
    Some((edges.windows(2).map(|e| e[0]..e[1]).collect(), dropped))
}

/// Adds events `(x, y, p)` into one frame's `[2, H, W]` cells (wrapping); returns whether
/// every event was inside the sensor (the others are counted in cell 0 instead).
#[inline(never)]
fn count_range<C: CountCell>(
    x: &[u16],
    y: &[u16],
    p: &[u8],
    cells: &mut [C],
    (h, w): (usize, usize),
) -> bool {
    let plane = h * w;
    let mut inside = true;
    for ((&xi, &yi), &pi) in x.iter().zip(y).zip(p) {
        let (xi, yi) = (usize::from(xi), usize::from(yi));
        let here = (xi < w) & (yi < h);
        inside &= here;
        let at = usize::from(pi != 0) * plane + yi * w + xi;
        // Unused result: the wrap test is the caller's, on the sum.
        let _ = cells[if here { at } else { 0 }].bump();
    }
    inside
}

/// `floor(rel / width)` for a stream of `rel >= 0` values, without a division
/// per event for time-sorted input: it remembers the current bin's bounds
/// `[lo, hi)` and only divides when `rel` leaves them by more than one bin.
/// The result always equals `rel / width` (for any order of input) but is
/// capped at `frames` (callers treat `>= frames - 1` / `>= frames` alike).
struct TimeBins {
    width: i64,
    frames: usize,
    bin: usize,
    lo: i64,
    hi: i64,
}

impl TimeBins {
    /// `width` > 0 is required by [`TimeBins::bin_of`]; with `width == 0` the
    /// callers never ask.
    fn new(width: i64, frames: usize) -> Self {
        Self {
            width,
            frames,
            bin: 0,
            lo: 0,
            hi: width,
        }
    }

    /// `min(rel / width, frames)` for `rel >= 0`, `width > 0`.
    #[inline]
    fn bin_of(&mut self, rel: i64) -> usize {
        if rel >= self.lo && rel < self.hi {
            return self.bin;
        }
        if rel >= self.hi && rel - self.hi < self.width && self.bin + 1 < self.frames {
            // The next bin (the common case for sorted input).
            self.bin += 1;
            self.lo = self.hi;
            self.hi = self.hi.saturating_add(self.width);
            return self.bin;
        }
        let q = rel / self.width.max(1);
        if q >= self.frames as i64 {
            return self.frames;
        }
        self.bin = q as usize;
        // q * width <= rel, and (q + 1) * width <= frames * width <= i64::MAX
        // because width = span / frames; saturate anyway.
        self.lo = (q).saturating_mul(self.width);
        self.hi = self.lo.saturating_add(self.width);
        self.bin
    }
}

/// `t_last - t_first`, clamped to `[0, i64::MAX]` so that absurd timestamps cannot overflow.
fn time_span(first: i64, last: i64) -> i64 {
    (i128::from(last) - i128::from(first)).clamp(0, i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(frames: usize) -> FrameGeometry {
        FrameGeometry {
            frames,
            height: 2,
            width: 2,
        }
    }

    fn per_frame(counts: &[u32], frames: usize) -> Vec<u32> {
        counts
            .chunks(counts.len() / frames)
            .map(|c| c.iter().sum())
            .collect()
    }

    #[test]
    fn byte_cells_equal_wide_ones_until_a_count_passes_255() {
        // 900 events on a 2x2 sensor: cell (0, 0) of the ON plane takes 300 in one frame.
        let n = 900;
        let t: Vec<i64> = (0..n as i64).collect();
        let x: Vec<u16> = (0..n)
            .map(|i| if i % 2 == 0 { 0 } else { (i % 4) as u16 / 2 })
            .collect();
        let y: Vec<u16> = (0..n).map(|i| (i % 3 == 1) as u16).collect();
        let p: Vec<u8> = (0..n).map(|i| (i % 2 == 0) as u8).collect();
        for (frames, fits) in [(1usize, false), (4, true)] {
            for split in [SplitBy::Number, SplitBy::Time, SplitBy::TonicTimeBins] {
                let wide = integrate(&t, &x, &y, &p, split, geometry(frames)).unwrap();
                let narrow = integrate_u8(&t, &x, &y, &p, split, geometry(frames)).unwrap();
                if fits {
                    let narrow = narrow.expect("every count fits a byte");
                    assert_eq!(narrow.dropped, wide.dropped);
                    let widened: Vec<u32> = narrow.counts.iter().map(|&c| u32::from(c)).collect();
                    assert_eq!(widened, wide.counts, "{split}");
                } else {
                    assert!(wide.counts.iter().any(|&c| c > 255));
                    assert!(narrow.is_none(), "{split}: a count above 255 must not wrap");
                }
            }
        }
        // Out of time order (the per-event path): the same answers.
        let mut unsorted = t.clone();
        unsorted.swap(10, 500);
        for (frames, fits) in [(1usize, false), (4, true)] {
            for split in [SplitBy::Number, SplitBy::Time, SplitBy::TonicTimeBins] {
                let wide = integrate(&unsorted, &x, &y, &p, split, geometry(frames)).unwrap();
                let narrow = integrate_u8(&unsorted, &x, &y, &p, split, geometry(frames)).unwrap();
                assert_eq!(narrow.is_some(), fits, "{split}");
                if let Some(narrow) = narrow {
                    let widened: Vec<u32> = narrow.counts.iter().map(|&c| u32::from(c)).collect();
                    assert_eq!((widened, narrow.dropped), (wide.counts, wide.dropped));
                }
            }
        }
    }

    #[test]
    fn frame_ranges_equal_the_per_event_rules() {
        // Time-sorted input takes the per-frame ranges; it must give what the per-event rules
        // give, for duplicates, gaps, tails past the last bin and more frames than events.
        let g = |frames| FrameGeometry {
            frames,
            height: 3,
            width: 4,
        };
        let mut state = 7u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % m
        };
        for case in 0..60 {
            let n = 1 + (case * 7) % 40;
            let mut t: Vec<i64> = (0..n).map(|_| next(50) as i64 - 5).collect();
            t.sort();
            let x: Vec<u16> = (0..n).map(|_| next(4) as u16).collect();
            let y: Vec<u16> = (0..n).map(|_| next(3) as u16).collect();
            let p: Vec<u8> = (0..n).map(|_| next(2) as u8).collect();
            for frames in [1usize, 2, 3, 5, 64] {
                for split in [SplitBy::Number, SplitBy::Time, SplitBy::TonicTimeBins] {
                    let fast = integrate(&t, &x, &y, &p, split, g(frames)).unwrap();
                    let mut slow = vec![0u32; g(frames).len()];
                    let (dropped, _) =
                        integrate_per_event(&t, &x, &y, &p, split, g(frames), &mut slow).unwrap();
                    assert_eq!(
                        (&fast.counts, fast.dropped),
                        (&slow, dropped),
                        "case {case}, {split}, {frames} frames"
                    );
                }
            }
        }
        // An event outside the sensor is the same error on both paths.
        let t = [0i64, 1, 2, 3];
        let (x, y, p) = ([0u16, 1, 9, 9], [0u16, 0, 0, 1], [1u8, 0, 1, 1]);
        let err = integrate(&t, &x, &y, &p, SplitBy::Time, g(2)).unwrap_err();
        assert_eq!((err.index, err.x), (2, 9));
        let narrow = integrate_u8(&t, &x, &y, &p, SplitBy::Time, g(2)).unwrap_err();
        assert_eq!(narrow, err);
    }

    #[test]
    fn byte_sums_are_exact_at_every_length() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 37 % 256) as u8).collect();
        for len in [0usize, 1, 15, 16, 17, 255, 1000] {
            let expected: u64 = bytes[..len].iter().map(|&b| u64::from(b)).sum();
            assert_eq!(byte_sum(&bytes[..len]), expected, "{len}");
        }
        assert_eq!(byte_sum(&vec![255u8; 1 << 20]), 255 << 20);
    }

    #[test]
    fn number_keeps_remainder_in_last_frame() {
        let t: Vec<i64> = (0..7).collect();
        let zeros = vec![0u16; 7];
        let p = vec![1u8; 7];
        let out = integrate(&t, &zeros, &zeros, &p, SplitBy::Number, geometry(3)).unwrap();
        assert_eq!(per_frame(&out.counts, 3), vec![2, 2, 3]);
        assert_eq!(out.dropped, 0);
    }

    #[test]
    fn fewer_events_than_frames_go_to_the_last_frame() {
        let t = vec![5i64, 6];
        let zeros = vec![0u16; 2];
        let p = vec![0u8; 2];
        let out = integrate(&t, &zeros, &zeros, &p, SplitBy::Number, geometry(3)).unwrap();
        assert_eq!(per_frame(&out.counts, 3), vec![0, 0, 2]);
    }

    #[test]
    fn time_bins_include_last_event_and_tonic_drops_it() {
        // span 10, T = 3 -> dT = 3: bins [0,3) [3,6) [6, end]
        let t = vec![0i64, 2, 3, 5, 6, 9, 10];
        let zeros = vec![0u16; 7];
        let p = vec![1u8; 7];
        let sj = integrate(&t, &zeros, &zeros, &p, SplitBy::Time, geometry(3)).unwrap();
        assert_eq!(per_frame(&sj.counts, 3), vec![2, 2, 3]);
        let tonic = integrate(&t, &zeros, &zeros, &p, SplitBy::TonicTimeBins, geometry(3)).unwrap();
        // tonic: [0,3) [3,6) [6,9); t = 9 and 10 dropped
        assert_eq!(per_frame(&tonic.counts, 3), vec![2, 2, 1]);
        assert_eq!(tonic.dropped, 2);
    }

    #[test]
    fn polarity_and_pixel_index() {
        let t = vec![0i64, 1];
        let x = vec![1u16, 0];
        let y = vec![0u16, 1];
        let p = vec![1u8, 0];
        let out = integrate(&t, &x, &y, &p, SplitBy::Number, geometry(1)).unwrap();
        // [p=0: y=1,x=0] index 2; [p=1: y=0,x=1] index 4 + 1
        assert_eq!(out.counts, vec![0, 0, 1, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn out_of_sensor_is_an_error_not_a_panic() {
        let err = integrate(&[0], &[2], &[0], &[1], SplitBy::Number, geometry(1)).unwrap_err();
        assert_eq!(err.index, 0);
        assert_eq!(err.x, 2);
    }

    #[test]
    fn zero_span_tonic_is_empty_sj_time_is_last_frame() {
        let t = vec![4i64; 3];
        let zeros = vec![0u16; 3];
        let p = vec![1u8; 3];
        let tonic = integrate(&t, &zeros, &zeros, &p, SplitBy::TonicTimeBins, geometry(2)).unwrap();
        assert_eq!(tonic.counts.iter().sum::<u32>(), 0);
        assert_eq!(tonic.dropped, 3);
        let sj = integrate(&t, &zeros, &zeros, &p, SplitBy::Time, geometry(2)).unwrap();
        assert_eq!(per_frame(&sj.counts, 2), vec![0, 3]);
    }

    #[test]
    fn time_bins_equal_division_for_any_order() {
        // Sorted, reversed and scrambled inputs, widths that do and do not divide the span.
        for (width, frames) in [(1i64, 1usize), (3, 4), (7, 10), (1000, 3)] {
            let span = width * frames as i64 + width / 2;
            let sorted: Vec<i64> = (0..=span).collect();
            let reversed: Vec<i64> = sorted.iter().rev().copied().collect();
            let scrambled: Vec<i64> = (0..=span).map(|i| (i * 7919) % (span + 1)).collect();
            for input in [sorted, reversed, scrambled] {
                let mut bins = TimeBins::new(width, frames);
                for rel in input {
                    let expected = ((rel / width) as usize).min(frames);
                    assert_eq!(bins.bin_of(rel), expected, "rel {rel} width {width}");
                }
            }
        }
    }
}
