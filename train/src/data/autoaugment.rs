//! AutoAugment's CIFAR-10 policy (the reference's `--auto_aug`, `CIFAR10Policy` of
//! `util/image_augment.py`, after DeepVoltaire/AutoAugment) on one planar RGB u8 image
//! [3, side, side]: 25 sub-policies of two (op, probability, magnitude) each, one chosen
//! uniformly per image. Every op follows Pillow's C code (`ImagingTransformAffine`, the bicubic
//! transform filter, `ImagingBlend`, `ImagingFilter3x3`, `ImageOps`), so the outputs match PIL
//! byte for byte or within ±1 (see train/tests/autoaugment.rs and
//! scripts/make_autoaugment_cases.py). Every random choice comes from the `rng` the caller seeds
//! per (seed, epoch, image).
use rand::Rng;

/// Fill of the pixels a geometric op moves in from outside (the reference's `fillcolor`).
pub const FILL: u8 = 128;

/// One AutoAugment operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    ShearX,
    ShearY,
    TranslateX,
    TranslateY,
    Rotate,
    Color,
    Posterize,
    Solarize,
    Contrast,
    Sharpness,
    Brightness,
    AutoContrast,
    Equalize,
    Invert,
}

impl Op {
    /// Every op, in the reference's `ranges` order.
    pub const ALL: [Op; 14] = [
        Op::ShearX,
        Op::ShearY,
        Op::TranslateX,
        Op::TranslateY,
        Op::Rotate,
        Op::Color,
        Op::Posterize,
        Op::Solarize,
        Op::Contrast,
        Op::Sharpness,
        Op::Brightness,
        Op::AutoContrast,
        Op::Equalize,
        Op::Invert,
    ];

    /// The reference's name of the op (`"shearX"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Op::ShearX => "shearX",
            Op::ShearY => "shearY",
            Op::TranslateX => "translateX",
            Op::TranslateY => "translateY",
            Op::Rotate => "rotate",
            Op::Color => "color",
            Op::Posterize => "posterize",
            Op::Solarize => "solarize",
            Op::Contrast => "contrast",
            Op::Sharpness => "sharpness",
            Op::Brightness => "brightness",
            Op::AutoContrast => "autocontrast",
            Op::Equalize => "equalize",
            Op::Invert => "invert",
        }
    }

    /// Whether the reference multiplies the magnitude by a random ±1 (`random.choice([-1, 1])`).
    pub fn signed(self) -> bool {
        matches!(
            self,
            Op::ShearX
                | Op::ShearY
                | Op::TranslateX
                | Op::TranslateY
                | Op::Color
                | Op::Contrast
                | Op::Sharpness
                | Op::Brightness
        )
    }

    /// The magnitude of level `index` (0..=9): the reference's `np.linspace(start, stop, 10)`
    /// (numpy's `i·step + start`, the last value exactly `stop`); posterize rounds to bits.
    pub fn magnitude(self, index: usize) -> f64 {
        let index = index.min(9);
        let linspace = |start: f64, stop: f64| {
            if index == 9 {
                stop
            } else {
                index as f64 * ((stop - start) / 9.0) + start
            }
        };
        match self {
            Op::ShearX | Op::ShearY => linspace(0.0, 0.3),
            Op::TranslateX | Op::TranslateY => linspace(0.0, 150.0 / 331.0),
            Op::Rotate => linspace(0.0, 30.0),
            Op::Color | Op::Contrast | Op::Sharpness | Op::Brightness => linspace(0.0, 0.9),
            Op::Posterize => linspace(8.0, 4.0).round_ties_even(),
            Op::Solarize => linspace(256.0, 0.0),
            Op::AutoContrast | Op::Equalize | Op::Invert => 0.0,
        }
    }

    /// Applies the op with `magnitude` (and `sign` ±1 where [`Op::signed`]) to `img`
    /// ([3, side, side]) in place.
    pub fn apply(self, img: &mut [u8], side: usize, magnitude: f64, sign: f64) {
        debug_assert_eq!(img.len(), 3 * side * side);
        let size = side as f64;
        match self {
            Op::ShearX => bicubic_affine(img, side, [1.0, magnitude * sign, 0.0, 0.0, 1.0, 0.0]),
            Op::ShearY => bicubic_affine(img, side, [1.0, 0.0, 0.0, magnitude * sign, 1.0, 0.0]),
            Op::TranslateX => translate(img, side, magnitude * size * sign, 0.0),
            Op::TranslateY => translate(img, side, 0.0, magnitude * size * sign),
            Op::Rotate => rotate(img, side, magnitude),
            Op::Color => {
                let grey = luma(img, side);
                let degenerate: Vec<u8> = grey.iter().cycle().take(img.len()).copied().collect();
                blend(img, &degenerate, 1.0 + magnitude * sign);
            }
            Op::Posterize => {
                let mask = !((1u16 << (8 - (magnitude as u16).min(8))) - 1) as u8;
                img.iter_mut().for_each(|v| *v &= mask);
            }
            Op::Solarize => img.iter_mut().for_each(|v| {
                if f64::from(*v) >= magnitude {
                    *v = 255 - *v;
                }
            }),
            Op::Contrast => {
                let grey = luma(img, side);
                let sum: u64 = grey.iter().map(|&v| u64::from(v)).sum();
                let mean = (sum as f64 / grey.len() as f64 + 0.5) as u8;
                let degenerate = vec![mean; img.len()];
                blend(img, &degenerate, 1.0 + magnitude * sign);
            }
            Op::Sharpness => {
                let degenerate = smooth(img, side);
                blend(img, &degenerate, 1.0 + magnitude * sign);
            }
            Op::Brightness => {
                let degenerate = vec![0u8; img.len()];
                blend(img, &degenerate, 1.0 + magnitude * sign);
            }
            Op::AutoContrast => per_channel_lut(img, side, autocontrast_lut),
            Op::Equalize => per_channel_lut(img, side, equalize_lut),
            Op::Invert => img.iter_mut().for_each(|v| *v = 255 - *v),
        }
    }
}

/// One sub-policy: op 1 with probability p1, then op 2 with probability p2, at fixed levels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubPolicy {
    pub p1: f64,
    pub op1: Op,
    pub level1: usize,
    pub p2: f64,
    pub op2: Op,
    pub level2: usize,
}

const fn sub(p1: f64, op1: Op, level1: usize, p2: f64, op2: Op, level2: usize) -> SubPolicy {
    SubPolicy {
        p1,
        op1,
        level1,
        p2,
        op2,
        level2,
    }
}

/// The reference's `CIFAR10Policy().policies`, in its order.
pub const CIFAR10_POLICY: [SubPolicy; 25] = {
    use Op::*;
    [
        sub(0.1, Invert, 7, 0.2, Contrast, 6),
        sub(0.7, Rotate, 2, 0.3, TranslateX, 9),
        sub(0.8, Sharpness, 1, 0.9, Sharpness, 3),
        sub(0.5, ShearY, 8, 0.7, TranslateY, 9),
        sub(0.5, AutoContrast, 8, 0.9, Equalize, 2),
        sub(0.2, ShearY, 7, 0.3, Posterize, 7),
        sub(0.4, Color, 3, 0.6, Brightness, 7),
        sub(0.3, Sharpness, 9, 0.7, Brightness, 9),
        sub(0.6, Equalize, 5, 0.5, Equalize, 1),
        sub(0.6, Contrast, 7, 0.6, Sharpness, 5),
        sub(0.7, Color, 7, 0.5, TranslateX, 8),
        sub(0.3, Equalize, 7, 0.4, AutoContrast, 8),
        sub(0.4, TranslateY, 3, 0.2, Sharpness, 6),
        sub(0.9, Brightness, 6, 0.2, Color, 8),
        sub(0.5, Solarize, 2, 0.0, Invert, 3),
        sub(0.2, Equalize, 0, 0.6, AutoContrast, 0),
        sub(0.2, Equalize, 8, 0.8, Equalize, 4),
        sub(0.9, Color, 9, 0.6, Equalize, 6),
        sub(0.8, AutoContrast, 4, 0.2, Solarize, 8),
        sub(0.1, Brightness, 3, 0.7, Color, 0),
        sub(0.4, Solarize, 5, 0.9, AutoContrast, 3),
        sub(0.9, TranslateY, 9, 0.7, TranslateY, 9),
        sub(0.9, AutoContrast, 2, 0.8, Solarize, 3),
        sub(0.8, Equalize, 8, 0.1, Invert, 3),
        sub(0.7, TranslateY, 9, 0.9, AutoContrast, 1),
    ]
};

/// Applies one uniformly chosen sub-policy of [`CIFAR10_POLICY`] to `img` ([3, side, side]) in
/// place, drawing as the reference: the sub-policy, then per op `u < p` and, when the op runs
/// and is signed, its sign. Returns the chosen sub-policy's index.
pub fn cifar10_policy(img: &mut [u8], side: usize, rng: &mut impl Rng) -> usize {
    let index = rng.random_range(0..CIFAR10_POLICY.len());
    let policy = CIFAR10_POLICY[index];
    for (p, op, level) in [
        (policy.p1, policy.op1, policy.level1),
        (policy.p2, policy.op2, policy.level2),
    ] {
        if rng.random::<f64>() < p {
            let sign = if op.signed() && rng.random_bool(0.5) {
                -1.0
            } else {
                1.0
            };
            op.apply(img, side, op.magnitude(level), sign);
        }
    }
    index
}

/// Pillow's `convert("L")`: (R·19595 + G·38470 + B·7471 + 2¹⁵) >> 16, one plane.
fn luma(img: &[u8], side: usize) -> Vec<u8> {
    let plane = side * side;
    (0..plane)
        .map(|i| {
            let (r, g, b) = (
                u32::from(img[i]),
                u32::from(img[plane + i]),
                u32::from(img[2 * plane + i]),
            );
            ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) as u8
        })
        .collect()
}

/// Pillow's `Image.blend(degenerate, img, factor)` (`ImagingBlend`): in float32,
/// degenerate + factor·(img − degenerate), truncated; clipped to [0, 255] when factor is outside
/// [0, 1].
fn blend(img: &mut [u8], degenerate: &[u8], factor: f64) {
    let alpha = factor as f32;
    let interpolate = (0.0..=1.0).contains(&alpha);
    for (v, &d) in img.iter_mut().zip(degenerate) {
        let value = f32::from(d) + alpha * (f32::from(*v) - f32::from(d));
        *v = if interpolate {
            value as u8
        } else if value <= 0.0 {
            0
        } else if value >= 255.0 {
            255
        } else {
            value as u8
        };
    }
}

/// Pillow's `ImageFilter.SMOOTH` (3×3 kernel 1 1 1 / 1 5 1 / 1 1 1, ÷13) through
/// `ImagingFilter3x3`: float32 sums row below, row, row above, rounded to the nearest; the
/// border rows and columns are copied unfiltered.
fn smooth(img: &[u8], side: usize) -> Vec<u8> {
    let mut out = img.to_vec();
    if side < 3 {
        return out;
    }
    let (edge, centre) = (1.0f32 / 13.0, 5.0f32 / 13.0);
    let plane = side * side;
    for c in 0..3 {
        let p = &img[c * plane..(c + 1) * plane];
        let at = |y: usize, x: usize| f32::from(p[y * side + x]);
        for y in 1..side - 1 {
            for x in 1..side - 1 {
                let mut sum = 0.0f32;
                sum += at(y + 1, x - 1) * edge + at(y + 1, x) * edge + at(y + 1, x + 1) * edge;
                sum += at(y, x - 1) * edge + at(y, x) * centre + at(y, x + 1) * edge;
                sum += at(y - 1, x - 1) * edge + at(y - 1, x) * edge + at(y - 1, x + 1) * edge;
                // Filter.c's clip8 rounds (unlike the blend and the transforms).
                out[c * plane + y * side + x] = if sum <= 0.0 {
                    0
                } else if sum >= 255.0 {
                    255
                } else {
                    (sum + 0.5) as u8
                };
            }
        }
    }
    out
}

/// Pillow's `COORD`: −1 below zero, else truncation.
fn coord(v: f64) -> isize {
    if v < 0.0 {
        -1
    } else {
        v as isize
    }
}

/// `img.transform(size, AFFINE, (1, 0, tx, 0, 1, ty), NEAREST, fillcolor)`: Pillow's
/// `ImagingScaleAffine` (source positions accumulated from the pixel centres).
fn translate(img: &mut [u8], side: usize, tx: f64, ty: f64) {
    let src = img.to_vec();
    img.fill(FILL);
    let plane = side * side;
    let mut xo = tx + 0.5;
    let mut xs = Vec::with_capacity(side);
    for _ in 0..side {
        xs.push(coord(xo));
        xo += 1.0;
    }
    let mut yo = ty + 0.5;
    for y in 0..side {
        let yi = coord(yo);
        yo += 1.0;
        if !(0..side as isize).contains(&yi) {
            continue;
        }
        for (x, &xi) in xs.iter().enumerate() {
            if (0..side as isize).contains(&xi) {
                for c in 0..3 {
                    img[c * plane + y * side + x] =
                        src[c * plane + yi as usize * side + xi as usize];
                }
            }
        }
    }
}

/// `img.convert("RGBA").rotate(degrees)` composited over grey 128: Pillow's `rotate` matrix
/// (about the centre, cos/sin rounded to 15 digits) through the nearest-neighbour 16.16
/// fixed-point `affine_fixed`; pixels from outside take [`FILL`].
fn rotate(img: &mut [u8], side: usize, degrees: f64) {
    let angle = degrees % 360.0;
    if angle == 0.0 {
        return;
    }
    let round15 = |v: f64| (v * 1e15).round() / 1e15;
    let theta = -angle.to_radians();
    let (cos, sin) = (round15(theta.cos()), round15(theta.sin()));
    let centre = side as f64 / 2.0;
    let mut a = [cos, sin, 0.0, -sin, cos, 0.0];
    a[2] = a[0] * -centre + a[1] * -centre + centre;
    a[5] = a[3] * -centre + a[4] * -centre + centre;
    let fix = |v: f64| (v * 65536.0 + 0.5).floor() as i64;
    let (a0, a1, a3, a4) = (fix(a[0]), fix(a[1]), fix(a[3]), fix(a[4]));
    let mut row_x = fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
    let mut row_y = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
    let src = img.to_vec();
    img.fill(FILL);
    let plane = side * side;
    let n = side as i64;
    for y in 0..side {
        let (mut xx, mut yy) = (row_x, row_y);
        for x in 0..side {
            let (xin, yin) = (xx >> 16, yy >> 16);
            if (0..n).contains(&xin) && (0..n).contains(&yin) {
                for c in 0..3 {
                    img[c * plane + y * side + x] =
                        src[c * plane + yin as usize * side + xin as usize];
                }
            }
            xx += a0;
            yy += a3;
        }
        row_x += a1;
        row_y += a4;
    }
}

/// `img.transform(size, AFFINE, a, BICUBIC, fillcolor)`: Pillow's generic transform with its
/// bicubic filter (a = −1 cubic in double, edge-clamped taps, truncated), [`FILL`] where the
/// source position falls outside the image.
fn bicubic_affine(img: &mut [u8], side: usize, a: [f64; 6]) {
    let src = img.to_vec();
    let plane = side * side;
    let n = side as isize;
    let clip = |v: isize| v.clamp(0, n - 1) as usize;
    let cubic = |v1: f64, v2: f64, v3: f64, v4: f64, d: f64| {
        let p1 = v2;
        let p2 = -v1 + v3;
        let p3 = 2.0 * (v1 - v2) + v3 - v4;
        let p4 = -v1 + v2 - v3 + v4;
        p1 + d * (p2 + d * (p3 + d * p4))
    };
    for y in 0..side {
        for x in 0..side {
            let (xc, yc) = (x as f64 + 0.5, y as f64 + 0.5);
            let xin = a[0] * xc + a[1] * yc + a[2];
            let yin = a[3] * xc + a[4] * yc + a[5];
            if xin < 0.0 || xin >= side as f64 || yin < 0.0 || yin >= side as f64 {
                for c in 0..3 {
                    img[c * plane + y * side + x] = FILL;
                }
                continue;
            }
            let (xs, ys) = (xin - 0.5, yin - 0.5);
            let (fx, fy) = (xs.floor(), ys.floor());
            let (dx, dy) = (xs - fx, ys - fy);
            let (x0, y0) = (fx as isize - 1, fy as isize - 1);
            let cols = [clip(x0), clip(x0 + 1), clip(x0 + 2), clip(x0 + 3)];
            for c in 0..3 {
                let p = &src[c * plane..(c + 1) * plane];
                let row = |yy: usize| {
                    let r = &p[yy * side..(yy + 1) * side];
                    cubic(
                        f64::from(r[cols[0]]),
                        f64::from(r[cols[1]]),
                        f64::from(r[cols[2]]),
                        f64::from(r[cols[3]]),
                        dx,
                    )
                };
                // Rows outside repeat the previous one (the first is clamped), as Pillow.
                let v1 = row(clip(y0));
                let v2 = if (0..n).contains(&(y0 + 1)) {
                    row((y0 + 1) as usize)
                } else {
                    v1
                };
                let v3 = if (0..n).contains(&(y0 + 2)) {
                    row((y0 + 2) as usize)
                } else {
                    v2
                };
                let v4 = if (0..n).contains(&(y0 + 3)) {
                    row((y0 + 3) as usize)
                } else {
                    v3
                };
                let v = cubic(v1, v2, v3, v4, dy);
                img[c * plane + y * side + x] = if v <= 0.0 {
                    0
                } else if v >= 255.0 {
                    255
                } else {
                    v as u8
                };
            }
        }
    }
}

/// Applies a lookup table built from each channel's histogram to that channel.
fn per_channel_lut(img: &mut [u8], side: usize, lut_of: fn(&[u64; 256]) -> [u8; 256]) {
    let plane = side * side;
    for channel in img.chunks_exact_mut(plane) {
        let mut histogram = [0u64; 256];
        channel.iter().for_each(|&v| histogram[usize::from(v)] += 1);
        let lut = lut_of(&histogram);
        channel.iter_mut().for_each(|v| *v = lut[usize::from(*v)]);
    }
}

fn identity_lut() -> [u8; 256] {
    std::array::from_fn(|i| i as u8)
}

/// `ImageOps.autocontrast(img)` (cutoff 0): the channel's [lo, hi] stretched to [0, 255].
fn autocontrast_lut(histogram: &[u64; 256]) -> [u8; 256] {
    let lo = histogram.iter().position(|&h| h > 0).unwrap_or(0);
    let hi = histogram.iter().rposition(|&h| h > 0).unwrap_or(0);
    if hi <= lo {
        return identity_lut();
    }
    let scale = 255.0 / (hi - lo) as f64;
    let offset = -(lo as f64) * scale;
    std::array::from_fn(|i| (i as f64 * scale + offset).clamp(0.0, 255.0) as u8)
}

/// `ImageOps.equalize(img)`: step = (pixels − count of the last used level) // 255, the level
/// map n // step with n starting at step // 2 and accumulating the histogram.
fn equalize_lut(histogram: &[u64; 256]) -> [u8; 256] {
    let used: Vec<u64> = histogram.iter().copied().filter(|&h| h > 0).collect();
    if used.len() <= 1 {
        return identity_lut();
    }
    let step = (used.iter().sum::<u64>() - used[used.len() - 1]) / 255;
    if step == 0 {
        return identity_lut();
    }
    let mut n = step / 2;
    std::array::from_fn(|i| {
        let level = (n / step).min(255) as u8;
        n += histogram[i];
        level
    })
}
