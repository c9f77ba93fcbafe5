//! Slicing one cut sample (a whole recording, or a labelled window) into several samples:
//! `--slice time:WINDOW_US[:OVERLAP_US][:incomplete]` and `--slice count:N[:OVERLAP][:incomplete]`,
//! with exactly tonic's `SliceByTime` / `SliceByEventCount` rules (tonic/slicers.py; checked
//! against tonic's own output in `tests/slicing_tonic.rs`):
//!
//! * time: `stride = window - overlap > 0`; `n = floor((t_last - t_0 - window) / stride) + 1`
//!   (`ceil` with `incomplete`), at least 1; slice `k` is the events with
//!   `t_0 + k stride <= t < t_0 + k stride + window` (numpy `searchsorted`, left, on the
//!   sorted timestamps).
//! * count: `c = min(N, n_events)`, `stride = N - overlap > 0`;
//!   `n = floor((n_events - c) / stride) + 1` (`ceil` with `incomplete`); slice `k` is the
//!   index range `[k stride, k stride + c)` clipped to the events (numpy slicing).
//!
//! An empty recording gives no slice (tonic indexes `t[0]` and fails on it).

/// How a sample is sliced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slice {
    /// tonic `SliceByTime(time_window, overlap, include_incomplete)`, µs.
    Time {
        /// Window length (µs).
        window_us: i64,
        /// Overlap of consecutive windows (µs), `< window_us`.
        overlap_us: i64,
        /// Keep the last, shorter window.
        include_incomplete: bool,
    },
    /// tonic `SliceByEventCount(event_count, overlap, include_incomplete)`.
    Count {
        /// Events per slice.
        events: usize,
        /// Events shared by consecutive slices, `< events`.
        overlap: usize,
        /// Keep the last slice with fewer events.
        include_incomplete: bool,
    },
}

impl Slice {
    /// The index ranges of the slices of a sample with timestamps `t` (sorted; for the
    /// time rule, an unsorted sample is the caller's to refuse).
    pub fn ranges(&self, t: &[i64]) -> Vec<std::ops::Range<usize>> {
        let n = t.len();
        if n == 0 {
            return Vec::new();
        }
        match *self {
            Slice::Time {
                window_us,
                overlap_us,
                include_incomplete,
            } => {
                let stride = i128::from(window_us - overlap_us);
                let span = i128::from(t[n - 1]) - i128::from(t[0]);
                let rest = span - i128::from(window_us);
                let slices = if include_incomplete {
                    div_ceil(rest, stride)
                } else {
                    rest.div_euclid(stride)
                } + 1;
                let slices = slices.max(1) as usize;
                let first = i128::from(t[0]);
                (0..slices)
                    .map(|k| {
                        let start = first + k as i128 * stride;
                        let end = start + i128::from(window_us);
                        let lo = t.partition_point(|&v| i128::from(v) < start);
                        let hi = t.partition_point(|&v| i128::from(v) < end);
                        lo..hi.max(lo)
                    })
                    .collect()
            }
            Slice::Count {
                events,
                overlap,
                include_incomplete,
            } => {
                let count = events.min(n);
                let stride = (events - overlap) as i128;
                let rest = (n - count) as i128;
                let slices = if include_incomplete {
                    div_ceil(rest, stride)
                } else {
                    rest.div_euclid(stride)
                } + 1;
                (0..slices.max(0) as usize)
                    .map(|k| {
                        let start = (k as i128 * stride) as usize;
                        let end = start + count;
                        start.min(n)..end.min(n)
                    })
                    .collect()
            }
        }
    }
}

/// `ceil(a / b)` for `b > 0` (numpy's `np.ceil` of the float quotient, exact here).
fn div_ceil(a: i128, b: i128) -> i128 {
    -((-a).div_euclid(b))
}

impl std::str::FromStr for Slice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || {
            format!(
                "slice '{s}' is not time:WINDOW_US[:OVERLAP_US][:incomplete] or \
                 count:N[:OVERLAP][:incomplete]"
            )
        };
        let mut parts: Vec<&str> = s.split(':').map(str::trim).collect();
        let include_incomplete = parts.last() == Some(&"incomplete");
        if include_incomplete {
            parts.pop();
        }
        let (kind, length, overlap) = match parts[..] {
            [kind, length] => (kind, length, "0"),
            [kind, length, overlap] => (kind, length, overlap),
            _ => return Err(usage()),
        };
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|e| format!("slice '{s}': '{v}' is not a count: {e}"))
        };
        let (length, overlap) = (num(length)?, num(overlap)?);
        if length == 0 || overlap >= length || length > i64::MAX as u64 / 2 {
            return Err(format!(
                "slice '{s}': need 0 < length and overlap < length (the stride must be positive)"
            ));
        }
        match kind {
            "time" => Ok(Slice::Time {
                window_us: length as i64,
                overlap_us: overlap as i64,
                include_incomplete,
            }),
            "count" => Ok(Slice::Count {
                events: length as usize,
                overlap: overlap as usize,
                include_incomplete,
            }),
            _ => Err(usage()),
        }
    }
}

impl std::fmt::Display for Slice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, length, overlap, incomplete) = match *self {
            Slice::Time {
                window_us,
                overlap_us,
                include_incomplete,
            } => (
                "time",
                window_us as u64,
                overlap_us as u64,
                include_incomplete,
            ),
            Slice::Count {
                events,
                overlap,
                include_incomplete,
            } => ("count", events as u64, overlap as u64, include_incomplete),
        };
        write!(f, "{kind}:{length}:{overlap}")?;
        if incomplete {
            f.write_str(":incomplete")?;
        }
        Ok(())
    }
}

dvs_frames::settings::serde_via_str!(Slice);

/// The manifest/sample-name suffix of slice `k`.
pub fn slice_name(name: &str, k: usize) -> String {
    format!("{name}_s{k:05}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_round_trips_and_rejects_bad_strides() {
        for s in ["time:1000:0", "time:1000:200:incomplete", "count:50:10"] {
            assert_eq!(s.parse::<Slice>().unwrap().to_string(), s);
        }
        assert_eq!("time:5".parse::<Slice>().unwrap().to_string(), "time:5:0");
        for bad in ["time:5:5", "count:0", "bins:3", "time", "time:a"] {
            assert!(bad.parse::<Slice>().is_err(), "{bad}");
        }
    }

    #[test]
    fn time_windows_by_hand() {
        let t = [0i64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let slice: Slice = "time:4:1".parse().unwrap();
        // span 10, window 4, stride 3: floor(6/3)+1 = 3 windows [0,4) [3,7) [6,10)
        assert_eq!(slice.ranges(&t), vec![0..4, 3..7, 6..10]);
        let slice: Slice = "time:4:1:incomplete".parse().unwrap();
        // ceil(6/3)+1 = 3 as well; with window 4 stride 4: ceil(6/4)+1 = 3
        assert_eq!(slice.ranges(&t).len(), 3);
        let slice: Slice = "time:4:incomplete".parse().unwrap();
        assert_eq!(slice.ranges(&t), vec![0..4, 4..8, 8..11]);
        // A window longer than the recording: one slice.
        let slice: Slice = "time:100".parse().unwrap();
        assert_eq!(slice.ranges(&t), vec![0..11]);
    }

    #[test]
    fn count_slices_by_hand() {
        let t: Vec<i64> = (0..10).collect();
        let slice: Slice = "count:4:1".parse().unwrap();
        // floor(6/3)+1 = 3: [0,4) [3,7) [6,10)
        assert_eq!(slice.ranges(&t), vec![0..4, 3..7, 6..10]);
        let slice: Slice = "count:4".parse().unwrap();
        assert_eq!(slice.ranges(&t), vec![0..4, 4..8]);
        let slice: Slice = "count:4:incomplete".parse().unwrap();
        assert_eq!(slice.ranges(&t), vec![0..4, 4..8, 8..10]);
        let slice: Slice = "count:40".parse().unwrap();
        assert_eq!(slice.ranges(&t), vec![0..10]);
        assert!(slice.ranges(&[]).is_empty());
    }
}
