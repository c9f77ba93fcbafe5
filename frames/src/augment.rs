//! Per-sample augmentation (horizontal flip, then circular roll, identical for all T frames and
//! both polarities: the ASGL/TET recipe of `../shared/design/asgl.md` §9) and the frame value
//! transforms, fused into one pass that turns stored frames into the `f32` batch layout.
//!
//! Definitions (for a sample `x[t][c][y][x]` with height H and width W):
//! - flip: `f[t][c][y][x] = x[t][c][y][W-1-x]` (reverse the last axis),
//! - roll by `(dy, dx)` as `torch.roll(f, (dy, dx), dims=(H, W))`:
//!   `out[t][c][y][x] = f[t][c][(y-dy) mod H][(x-dx) mod W]`,
//! - value transforms act on each frame `x[t]` (both polarities together) after augmentation:
//!   `Raw` keeps the value, `MaxNorm` divides by the frame's maximum (TET; a frame whose maximum
//!   is <= 0 is left unchanged instead of producing 0/0), `Binarize` maps `v > 0` to 1 and
//!   everything else to 0, `Clamp(c)` maps `v` to `min(v, c)`.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which augmentations to apply (training split only; switch both off for evaluation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augment {
    /// Flip the W axis with probability 0.5.
    pub flip: bool,
    /// Roll by independent uniform integers in `[-roll_max, roll_max]` on H and W; 0 disables.
    pub roll_max: u32,
}

impl Augment {
    /// No augmentation.
    pub const NONE: Augment = Augment {
        flip: false,
        roll_max: 0,
    };
    /// The ASGL/TET training recipe: flip with p = 0.5, roll in [-5, 5].
    pub const ASGL: Augment = Augment {
        flip: true,
        roll_max: 5,
    };

    /// True when this configuration changes nothing.
    pub fn is_identity(&self) -> bool {
        !self.flip && self.roll_max == 0
    }

    /// Draws the parameters for one sample. Always consumes the same amount of randomness (one
    /// flip bit and two roll values) so that switching one augmentation off does not change the
    /// other's draws.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> AugmentParams {
        let flip = rng.random_bool(0.5);
        let m = self.roll_max.min(i32::MAX as u32) as i32;
        let dy = rng.random_range(-m..=m);
        let dx = rng.random_range(-m..=m);
        AugmentParams {
            flip: flip && self.flip,
            dy,
            dx,
        }
    }
}

impl Default for Augment {
    fn default() -> Self {
        Augment::NONE
    }
}

/// The concrete augmentation of one sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AugmentParams {
    /// Reverse the W axis first.
    pub flip: bool,
    /// Circular shift along H (positive moves content down).
    pub dy: i32,
    /// Circular shift along W (positive moves content right).
    pub dx: i32,
}

/// How stored frame values become network inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueTransform {
    /// The stored values (counts) as `f32`.
    #[default]
    Raw,
    /// Each frame `[C, H, W]` divided by its maximum (TET's per-frame normalisation).
    MaxNorm,
    /// 1 where the value is > 0, else 0.
    Binarize,
    /// `min(value, c)`.
    Clamp(f32),
}

/// An element type frames can be stored in.
pub trait Element: Copy + Send + Sync {
    /// The element from its little-endian bytes (exactly its size).
    fn from_le(bytes: &[u8]) -> Self;
    fn to_f32(self) -> f32;
    /// Maximum of a slice as f32 (`f32::NEG_INFINITY` for an empty slice).
    fn max_f32(values: &[Self]) -> f32;
}

impl Element for u8 {
    #[inline(always)]
    fn from_le(bytes: &[u8]) -> Self {
        bytes[0]
    }
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
    fn max_f32(values: &[Self]) -> f32 {
        values
            .iter()
            .copied()
            .max()
            .map_or(f32::NEG_INFINITY, f32::from)
    }
}
impl Element for u16 {
    #[inline(always)]
    fn from_le(bytes: &[u8]) -> Self {
        u16::from_le_bytes([bytes[0], bytes[1]])
    }
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
    fn max_f32(values: &[Self]) -> f32 {
        values
            .iter()
            .copied()
            .max()
            .map_or(f32::NEG_INFINITY, f32::from)
    }
}
impl Element for u32 {
    #[inline(always)]
    fn from_le(bytes: &[u8]) -> Self {
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn max_f32(values: &[Self]) -> f32 {
        values
            .iter()
            .copied()
            .max()
            .map_or(f32::NEG_INFINITY, |v| v as f32)
    }
}
impl Element for f32 {
    #[inline(always)]
    fn from_le(bytes: &[u8]) -> Self {
        f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn max_f32(values: &[Self]) -> f32 {
        values.iter().copied().fold(f32::NEG_INFINITY, f32::max)
    }
}

/// Something the kernel can write an `f32` into: an initialised `f32`, or an uninitialised
/// slot of a batch buffer (so batches need not be zero-filled before they are written).
pub trait OutputSlot: Sized + Send {
    /// Writes `src` into `dst` (same length).
    fn copy_from(dst: &mut [Self], src: &[f32]);
    /// Writes `+0.0` into every slot of `dst`.
    fn zero(dst: &mut [Self]);
    /// Writes `v` into this slot.
    fn set(&mut self, v: f32);
}

impl OutputSlot for f32 {
    #[inline(always)]
    fn copy_from(dst: &mut [Self], src: &[f32]) {
        dst.copy_from_slice(src);
    }
    #[inline(always)]
    fn zero(dst: &mut [Self]) {
        dst.fill(0.0);
    }
    #[inline(always)]
    fn set(&mut self, v: f32) {
        *self = v;
    }
}

impl OutputSlot for std::mem::MaybeUninit<f32> {
    #[inline(always)]
    fn copy_from(dst: &mut [Self], src: &[f32]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            d.write(s);
        }
    }
    #[inline(always)]
    fn zero(dst: &mut [Self]) {
        dst.fill(std::mem::MaybeUninit::new(0.0));
    }
    #[inline(always)]
    fn set(&mut self, v: f32) {
        self.write(v);
    }
}

/// Writes one sample `src` (`[T, C, H, W]` = `shape`) into `out` (same length) with the
/// augmentation `params` and value `transform` applied, in a single pass.
///
/// Every element of `out` is written. Panics if `src` or `out` do not hold `T*C*H*W`
/// elements (a caller bug, never input data).
pub fn augment_sample<E: Element, O: OutputSlot>(
    src: &[E],
    shape: [usize; 4],
    params: AugmentParams,
    transform: ValueTransform,
    out: &mut [O],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of a
            // `#[target_feature(enable = "avx2")]` function.
            unsafe { augment_sample_avx2(src, shape, params, transform, out) };
            return;
        }
    }
    augment_sample_portable(src, shape, params, transform, out);
}

/// The same kernel compiled with 8-wide vectors; results are bit-identical (the same IEEE
/// operations, only more of them per instruction).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn augment_sample_avx2<E: Element, O: OutputSlot>(
    src: &[E],
    shape: [usize; 4],
    params: AugmentParams,
    transform: ValueTransform,
    out: &mut [O],
) {
    augment_sample_portable(src, shape, params, transform, out);
}

#[inline(always)]
fn augment_sample_portable<E: Element, O: OutputSlot>(
    src: &[E],
    shape: [usize; 4],
    params: AugmentParams,
    transform: ValueTransform,
    out: &mut [O],
) {
    let [t_len, c_len, h, w] = shape;
    let frame_len = c_len * h * w;
    assert_eq!(
        src.len(),
        t_len * frame_len,
        "source length does not match shape"
    );
    assert_eq!(out.len(), src.len(), "output length does not match source");
    if frame_len == 0 {
        return;
    }
    // Shift amounts reduced to [0, n): a roll by d moves element i to (i + d) mod n.
    let shift_y = params.dy.rem_euclid(h.max(1) as i32) as usize;
    let shift_x = params.dx.rem_euclid(w.max(1) as i32) as usize;
    let mut row_buffer = [0f32; 256];
    let mut row_vec = Vec::new();
    let row: &mut [f32] = if w <= row_buffer.len() {
        &mut row_buffer[..w]
    } else {
        row_vec.resize(w, 0.0);
        &mut row_vec
    };
    for (src_frame, out_frame) in src
        .chunks_exact(frame_len)
        .zip(out.chunks_exact_mut(frame_len))
    {
        match transform {
            ValueTransform::Raw => roll_frame(
                src_frame,
                out_frame,
                h,
                w,
                shift_y,
                shift_x,
                params.flip,
                row,
                E::to_f32,
            ),
            ValueTransform::MaxNorm => {
                // Flip and roll permute a frame, so its maximum can be taken from the source.
                let max = E::max_f32(src_frame);
                if max > 0.0 {
                    roll_frame(
                        src_frame,
                        out_frame,
                        h,
                        w,
                        shift_y,
                        shift_x,
                        params.flip,
                        row,
                        |v: E| v.to_f32() / max,
                    )
                } else {
                    roll_frame(
                        src_frame,
                        out_frame,
                        h,
                        w,
                        shift_y,
                        shift_x,
                        params.flip,
                        row,
                        E::to_f32,
                    )
                }
            }
            ValueTransform::Binarize => roll_frame(
                src_frame,
                out_frame,
                h,
                w,
                shift_y,
                shift_x,
                params.flip,
                row,
                |v: E| {
                    if v.to_f32() > 0.0 {
                        1.0
                    } else {
                        0.0
                    }
                },
            ),
            ValueTransform::Clamp(c) => roll_frame(
                src_frame,
                out_frame,
                h,
                w,
                shift_y,
                shift_x,
                params.flip,
                row,
                |v: E| v.to_f32().min(c),
            ),
        }
    }
}

/// [`augment_sample`] for a sparse record (shard format version 2): `payload` holds the nonzero
/// elements of `dtype` and their positions, and each is written straight to where flip and roll
/// move it, after `out` is zero-filled — a few thousand stores instead of a pass over every
/// element. Bit-identical to expanding the record and calling [`augment_sample`]. Only for
/// transforms of one value at a time that map 0 to +0.0 (`Raw`, `Binarize`, `Clamp(c)` with
/// `c >= 0`): for any other it writes nothing and returns `Ok(false)`. A damaged payload is an
/// `Err` with the reason (part of `out` may then be written).
pub(crate) fn augment_sparse<O: OutputSlot>(
    payload: &[u8],
    dtype: crate::Dtype,
    shape: [usize; 4],
    params: AugmentParams,
    transform: ValueTransform,
    out: &mut [O],
) -> Result<bool, String> {
    use crate::Dtype;
    fn typed<E: Element, O: OutputSlot>(
        payload: &[u8],
        shape: [usize; 4],
        params: AugmentParams,
        transform: ValueTransform,
        out: &mut [O],
    ) -> Result<bool, String> {
        match transform {
            ValueTransform::Raw => scatter(payload, shape, params, out, E::to_f32),
            ValueTransform::Binarize => scatter(payload, shape, params, out, |v: E| {
                if v.to_f32() > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }),
            ValueTransform::Clamp(c) if 0f32.min(c).to_bits() == 0 => {
                scatter(payload, shape, params, out, |v: E| v.to_f32().min(c))
            }
            _ => return Ok(false),
        }?;
        Ok(true)
    }
    match dtype {
        Dtype::U8 => typed::<u8, O>(payload, shape, params, transform, out),
        Dtype::U16 => typed::<u16, O>(payload, shape, params, transform, out),
        Dtype::U32 => typed::<u32, O>(payload, shape, params, transform, out),
        Dtype::F32 => typed::<f32, O>(payload, shape, params, transform, out),
    }
}

/// Zero-fills `out` and writes `f` of every stored element of the sparse `payload` where flip
/// and roll (as [`roll_frame`] applies them) move it.
fn scatter<E: Element, O: OutputSlot>(
    payload: &[u8],
    shape: [usize; 4],
    params: AugmentParams,
    out: &mut [O],
    f: impl Fn(E) -> f32,
) -> Result<(), String> {
    let [t_len, c_len, h, w] = shape;
    let elements = t_len * c_len * h * w;
    assert_eq!(out.len(), elements, "output length does not match shape");
    O::zero(out);
    if elements == 0 {
        return crate::sparse::for_each(payload, std::mem::size_of::<E>(), 0, |_, _| {});
    }
    let shift_y = params.dy.rem_euclid(h as i32) as usize;
    let shift_x = params.dx.rem_euclid(w as i32) as usize;
    // (plane, y, x) of flat index `at`, advanced incrementally (indices only increase): a
    // division only for a jump of a row or more.
    let (mut at, mut plane, mut y, mut x) = (0usize, 0usize, 0usize, 0usize);
    crate::sparse::for_each(
        payload,
        std::mem::size_of::<E>(),
        elements,
        |index, bytes| {
            let step = index - at;
            at = index;
            if step < w {
                // At most one row forward, carried without a data-dependent branch.
                x += step;
                let carry = usize::from(x >= w);
                x -= carry * w;
                y += carry;
                if y == h {
                    y = 0;
                    plane += 1;
                }
            } else {
                let row = index / w;
                x = index - row * w;
                plane = row / h;
                y = row - plane * h;
            }
            // out[y'][x'] = src[y][x] with y' = (y + dy) mod H, x' = (flip(x) + dx) mod W.
            let mut oy = y + shift_y;
            if oy >= h {
                oy -= h;
            }
            let fx = if params.flip { w - 1 - x } else { x };
            let mut ox = fx + shift_x;
            if ox >= w {
                ox -= w;
            }
            out[(plane * h + oy) * w + ox].set(f(E::from_le(bytes)));
        },
    )
}

/// Flip (optional) + roll of every `[H, W]` plane of one frame, mapping values through `f`.
/// Each source row is first transformed (and reversed for a flip) into `row`, a full-width
/// vectorisable pass; the roll is then two contiguous copies, so no loop runs over a short,
/// odd-length remainder.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn roll_frame<E: Element, O: OutputSlot>(
    src: &[E],
    out: &mut [O],
    h: usize,
    w: usize,
    shift_y: usize,
    shift_x: usize,
    flip: bool,
    row: &mut [f32],
    f: impl Fn(E) -> f32 + Copy,
) {
    let plane = h * w;
    for (src_plane, out_plane) in src.chunks_exact(plane).zip(out.chunks_exact_mut(plane)) {
        for (y, out_row) in out_plane.chunks_exact_mut(w).enumerate() {
            // out[y] = src[(y - dy) mod H]
            let sy = (y + h - shift_y) % h;
            let src_row = &src_plane[sy * w..(sy + 1) * w];
            if flip {
                for (r, &s) in row.iter_mut().zip(src_row.iter().rev()) {
                    *r = f(s);
                }
            } else {
                for (r, &s) in row.iter_mut().zip(src_row) {
                    *r = f(s);
                }
            }
            // out[x] = row[(x - dx) mod W]: out[..d] = row[W-d..], out[d..] = row[..W-d].
            let (head, tail) = out_row.split_at_mut(shift_x);
            O::copy_from(head, &row[w - shift_x..]);
            O::copy_from(tail, &row[..w - shift_x]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// One 3x4 plane with values 0..12 (row-major), as in the comments below.
    const PLANE: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

    /// A [T=2, C=2, 3, 4] sample whose planes are PLANE + 20 * plane_index, so every plane is
    /// distinguishable and the same permutation must show up in each.
    fn sample() -> Vec<u8> {
        (0..4u8)
            .flat_map(|p| PLANE.iter().map(move |&v| v + 20 * p))
            .collect()
    }

    fn run(params: AugmentParams, transform: ValueTransform) -> Vec<f32> {
        let src = sample();
        let mut out = vec![f32::NAN; src.len()];
        augment_sample(&src, [2, 2, 3, 4], params, transform, &mut out);
        out
    }

    /// Checks every plane of `out` equals `expected_plane` (+ 20 * plane index).
    fn assert_planes(out: &[f32], expected_plane: [u8; 12]) {
        for (p, plane) in out.chunks_exact(12).enumerate() {
            let expected: Vec<f32> = expected_plane
                .iter()
                .map(|&v| f32::from(v + 20 * p as u8))
                .collect();
            assert_eq!(plane, expected.as_slice(), "plane {p}");
        }
    }

    #[test]
    fn identity_copies() {
        assert_planes(&run(AugmentParams::default(), ValueTransform::Raw), PLANE);
    }

    #[test]
    fn flip_reverses_the_width_axis() {
        // 0 1 2 3 / 4 5 6 7 / 8 9 10 11  ->  3 2 1 0 / 7 6 5 4 / 11 10 9 8
        let p = AugmentParams {
            flip: true,
            dy: 0,
            dx: 0,
        };
        assert_planes(
            &run(p, ValueTransform::Raw),
            [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8],
        );
    }

    #[test]
    fn roll_matches_torch_roll() {
        // torch.roll(x, shifts=(1, -1), dims=(0, 1)) of the 3x4 plane:
        // rows down by one: 8 9 10 11 / 0 1 2 3 / 4 5 6 7, then columns left by one.
        let p = AugmentParams {
            flip: false,
            dy: 1,
            dx: -1,
        };
        assert_planes(
            &run(p, ValueTransform::Raw),
            [9, 10, 11, 8, 1, 2, 3, 0, 5, 6, 7, 4],
        );
        // torch.roll(x, shifts=(-1, 2)): rows up by one, columns right by two.
        let p = AugmentParams {
            flip: false,
            dy: -1,
            dx: 2,
        };
        assert_planes(
            &run(p, ValueTransform::Raw),
            [6, 7, 4, 5, 10, 11, 8, 9, 2, 3, 0, 1],
        );
        // Shifts wrap: 5 on a width of 4 is 1, -3 on a height of 3 is 0.
        let p = AugmentParams {
            flip: false,
            dy: -3,
            dx: 5,
        };
        assert_planes(
            &run(p, ValueTransform::Raw),
            [3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10],
        );
    }

    #[test]
    fn flip_happens_before_the_roll() {
        // flipped: 3 2 1 0 / 7 6 5 4 / 11 10 9 8; rows down by one: 11 10 9 8 / 3 2 1 0 / 7 6 5 4;
        // columns left by one: 10 9 8 11 / 2 1 0 3 / 6 5 4 7.
        let p = AugmentParams {
            flip: true,
            dy: 1,
            dx: -1,
        };
        assert_planes(
            &run(p, ValueTransform::Raw),
            [10, 9, 8, 11, 2, 1, 0, 3, 6, 5, 4, 7],
        );
        // Roll right by one after the flip: 0 3 2 1 / 4 7 6 5 / 8 11 10 9.
        let p = AugmentParams {
            flip: true,
            dy: 0,
            dx: 1,
        };
        assert_planes(
            &run(p, ValueTransform::Raw),
            [0, 3, 2, 1, 4, 7, 6, 5, 8, 11, 10, 9],
        );
    }

    #[test]
    fn max_norm_divides_each_frame_by_the_max_over_both_polarities() {
        let out = run(AugmentParams::default(), ValueTransform::MaxNorm);
        // Frame 0 = planes 0 and 1 (max 31), frame 1 = planes 2 and 3 (max 71).
        for (i, &v) in out.iter().enumerate() {
            let stored = f32::from(sample()[i]);
            let max = if i < 24 { 31.0 } else { 71.0 };
            assert_eq!(v, stored / max, "element {i}");
        }
        // An all-zero frame stays zero instead of becoming NaN.
        let zeros = vec![0u16; 24];
        let mut out = vec![f32::NAN; 24];
        augment_sample(
            &zeros,
            [1, 2, 3, 4],
            AugmentParams::default(),
            ValueTransform::MaxNorm,
            &mut out,
        );
        assert!(out.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn binarize_and_clamp() {
        let src: Vec<u32> = vec![0, 1, 2, 7, 0, 300, 5, 0];
        let mut out = vec![0.0; 8];
        augment_sample(
            &src,
            [1, 2, 2, 2],
            AugmentParams::default(),
            ValueTransform::Binarize,
            &mut out,
        );
        assert_eq!(out, [0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
        augment_sample(
            &src,
            [1, 2, 2, 2],
            AugmentParams::default(),
            ValueTransform::Clamp(2.0),
            &mut out,
        );
        assert_eq!(out, [0.0, 1.0, 2.0, 2.0, 0.0, 2.0, 2.0, 0.0]);
    }

    #[test]
    fn draws_cover_the_inclusive_range_and_flip_half_the_time() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        let mut flips = 0;
        let n = 20_000;
        for _ in 0..n {
            let p = Augment::ASGL.draw(&mut rng);
            assert!(
                (-5..=5).contains(&p.dy) && (-5..=5).contains(&p.dx),
                "{p:?}"
            );
            seen.insert(p.dy);
            seen.insert(p.dx);
            flips += usize::from(p.flip);
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            (-5..=5).collect::<Vec<_>>()
        );
        let rate = flips as f64 / n as f64;
        assert!((0.47..0.53).contains(&rate), "flip rate {rate}");
        // Switching the flip off keeps the same roll draws.
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for _ in 0..100 {
            let with = Augment::ASGL.draw(&mut a);
            let without = Augment {
                flip: false,
                roll_max: 5,
            }
            .draw(&mut b);
            assert_eq!((with.dy, with.dx), (without.dy, without.dx));
            assert!(!without.flip);
        }
    }

    #[test]
    fn dispatched_kernel_matches_the_portable_one_bit_for_bit() {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // Widths that are and are not multiples of the vector width, and one above the
        // 256-element stack row buffer.
        for shape in [[2, 2, 5, 7], [3, 2, 48, 48], [1, 2, 3, 300]] {
            let len: usize = shape.iter().product();
            let src: Vec<u16> = (0..len).map(|_| rng.random_range(0..700)).collect();
            for transform in [
                ValueTransform::Raw,
                ValueTransform::MaxNorm,
                ValueTransform::Binarize,
                ValueTransform::Clamp(3.5),
            ] {
                for _ in 0..4 {
                    let p = Augment::ASGL.draw(&mut rng);
                    let mut fast = vec![0f32; len];
                    let mut portable = vec![1f32; len];
                    augment_sample(&src, shape, p, transform, &mut fast);
                    augment_sample_portable(&src, shape, p, transform, &mut portable);
                    assert_eq!(fast, portable, "{shape:?} {transform:?} {p:?}");
                    // And against a direct evaluation of the definition.
                    let [t_len, c_len, h, w] = shape;
                    for t in 0..t_len {
                        let frame = &src[t * c_len * h * w..(t + 1) * c_len * h * w];
                        let max = f32::from(*frame.iter().max().unwrap());
                        for c in 0..c_len {
                            for y in 0..h {
                                for x in 0..w {
                                    let sy = (y as i64 - p.dy as i64).rem_euclid(h as i64) as usize;
                                    let rx = (x as i64 - p.dx as i64).rem_euclid(w as i64) as usize;
                                    let sx = if p.flip { w - 1 - rx } else { rx };
                                    let v = f32::from(frame[(c * h + sy) * w + sx]);
                                    let expected = match transform {
                                        ValueTransform::Raw => v,
                                        ValueTransform::MaxNorm if max > 0.0 => v / max,
                                        ValueTransform::MaxNorm => v,
                                        ValueTransform::Binarize => f32::from(u8::from(v > 0.0)),
                                        ValueTransform::Clamp(m) => v.min(m),
                                    };
                                    let at = ((t * c_len + c) * h + y) * w + x;
                                    assert_eq!(
                                        fast[at], expected,
                                        "{shape:?} {transform:?} {p:?} at {at}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// A sparse sample of `E` (about one element in `every` nonzero, values up to 11) as dense
    /// little-endian bytes.
    fn sparse_sample(len: usize, every: usize, seed: u64, to_bytes: fn(u32) -> Vec<u8>) -> Vec<u8> {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..len)
            .flat_map(|_| {
                let v = if rng.random_range(0..every) == 0 {
                    rng.random_range(1..12)
                } else {
                    0
                };
                to_bytes(v)
            })
            .collect()
    }

    fn dense_of<E: Element>(bytes: &[u8]) -> Vec<E> {
        let size = std::mem::size_of::<E>();
        bytes.chunks_exact(size).map(E::from_le).collect()
    }

    #[test]
    fn sparse_scatter_equals_the_dense_kernel_bit_for_bit() {
        let shape = [3, 2, 7, 9];
        let len: usize = shape.iter().product();
        let transforms = [
            ValueTransform::Raw,
            ValueTransform::Binarize,
            ValueTransform::Clamp(3.0),
            ValueTransform::Clamp(0.0),
        ];
        let samples: [(crate::Dtype, Vec<u8>); 4] = [
            (
                crate::Dtype::U8,
                sparse_sample(len, 5, 1, |v| vec![v as u8]),
            ),
            (
                crate::Dtype::U16,
                sparse_sample(len, 5, 2, |v| (v as u16 * 3000).to_le_bytes().to_vec()),
            ),
            (
                crate::Dtype::U32,
                sparse_sample(len, 3, 3, |v| (v * 1_000_000).to_le_bytes().to_vec()),
            ),
            (
                crate::Dtype::F32,
                sparse_sample(len, 4, 4, |v| {
                    (v as f32 * -0.375 + 1.0).to_le_bytes().to_vec()
                }),
            ),
        ];
        for (dtype, dense) in &samples {
            let mut payload = Vec::new();
            assert!(crate::sparse::encode(
                dense,
                dtype.size(),
                usize::MAX,
                &mut payload,
                &mut Vec::new()
            ));
            for transform in transforms {
                for (flip, dy, dx) in [
                    (false, 0, 0),
                    (true, 0, 0),
                    (false, 3, -2),
                    (true, -8, 13),
                    (true, 6, 8),
                ] {
                    let params = AugmentParams { flip, dy, dx };
                    let mut expected = vec![f32::NAN; len];
                    match dtype {
                        crate::Dtype::U8 => augment_sample(
                            &dense_of::<u8>(dense),
                            shape,
                            params,
                            transform,
                            &mut expected,
                        ),
                        crate::Dtype::U16 => augment_sample(
                            &dense_of::<u16>(dense),
                            shape,
                            params,
                            transform,
                            &mut expected,
                        ),
                        crate::Dtype::U32 => augment_sample(
                            &dense_of::<u32>(dense),
                            shape,
                            params,
                            transform,
                            &mut expected,
                        ),
                        crate::Dtype::F32 => augment_sample(
                            &dense_of::<f32>(dense),
                            shape,
                            params,
                            transform,
                            &mut expected,
                        ),
                    }
                    let mut got = vec![f32::NAN; len];
                    assert!(
                        augment_sparse(&payload, *dtype, shape, params, transform, &mut got)
                            .unwrap()
                    );
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&expected),
                        "{dtype} {transform:?} {params:?}"
                    );
                }
            }
            // Transforms that look at the whole frame, or map 0 elsewhere, are declined.
            let mut out = vec![0f32; len];
            for transform in [ValueTransform::MaxNorm, ValueTransform::Clamp(-1.0)] {
                assert!(!augment_sparse(
                    &payload,
                    *dtype,
                    shape,
                    AugmentParams::default(),
                    transform,
                    &mut out
                )
                .unwrap());
            }
        }
    }
}
