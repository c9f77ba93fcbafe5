//! DVS128 Gesture label files: `<trial>_labels.csv` windows and the
//! `trials_to_train.txt` / `trials_to_test.txt` split lists, plus cutting a
//! decoded trial into its labelled samples.
//!
//! Rules (SpikingJelly's `_split_aedat_files_to_np`, checked by the fixture
//! tests): CSV header `class,startTime_usec,endTime_usec`, classes 1..11 become
//! labels 0..10; a sample is the events with `start <= t < end` (half-open) taken
//! from the full stream, so repeated and overlapping windows are all kept;
//! sample `k` of a trial is the k-th row with that label. LF and CRLF are both
//! accepted; blank lines are skipped.

use std::path::{Path, PathBuf};

use dvs_decode::Events;

/// Number of DVS128 Gesture classes.
pub const GESTURE_CLASSES: usize = 11;

/// One row of a labels CSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelWindow {
    /// 0-based label (CSV class - 1).
    pub label: u32,
    /// Window start, microseconds, inclusive.
    pub start: i64,
    /// Window end, microseconds, exclusive.
    pub end: i64,
    /// Per-label occurrence index within the trial (SpikingJelly's `_k`).
    pub k: usize,
}

/// A malformed labels CSV or trials list.
#[derive(Debug, thiserror::Error)]
#[error("{}: line {line}: {reason}", file.display())]
pub struct LabelsError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number (0 when the file could not be read).
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// Parses a labels CSV held in `text`; `file` is used in errors.
pub fn parse_labels_csv(file: &Path, text: &str) -> Result<Vec<LabelWindow>, LabelsError> {
    let err = |line: usize, reason: String| LabelsError {
        file: file.to_path_buf(),
        line,
        reason,
    };
    let mut per_label = [0usize; GESTURE_CLASSES];
    let mut windows = Vec::new();
    let mut header_seen = false;
    for (idx, raw) in text.split('\n').enumerate() {
        let line = raw.trim_end_matches('\r').trim();
        if line.is_empty() {
            continue;
        }
        if !header_seen {
            header_seen = true;
            // SpikingJelly skips the first row whatever it holds; require it to be
            // non-numeric so a missing header does not silently drop a window.
            if line
                .split(',')
                .next()
                .is_some_and(|f| f.trim().parse::<i64>().is_err())
            {
                continue;
            }
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 3 {
            return Err(err(
                idx + 1,
                format!("expected 3 fields, found {}", fields.len()),
            ));
        }
        let num = |s: &str| {
            s.parse::<i64>()
                .map_err(|e| err(idx + 1, format!("'{s}' is not an integer: {e}")))
        };
        let (class, start, end) = (num(fields[0])?, num(fields[1])?, num(fields[2])?);
        if !(1..=GESTURE_CLASSES as i64).contains(&class) {
            return Err(err(
                idx + 1,
                format!("class {class} outside 1..={GESTURE_CLASSES}"),
            ));
        }
        let label = (class - 1) as usize;
        windows.push(LabelWindow {
            label: label as u32,
            start,
            end,
            k: per_label[label],
        });
        per_label[label] += 1;
    }
    Ok(windows)
}

/// Parses a trials list: one file name per line, whitespace stripped, blank
/// lines skipped.
pub fn parse_trials_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Index range of the events with `start <= t < end` when `t` is sorted, or
/// `None` when it is not (then use [`cut_window`], which filters).
pub fn sorted_window_range(t: &[i64], start: i64, end: i64) -> Option<std::ops::Range<usize>> {
    if !t.windows(2).all(|w| w[0] <= w[1]) {
        return None;
    }
    let lo = t.partition_point(|&v| v < start);
    let hi = t.partition_point(|&v| v < end).max(lo);
    Some(lo..hi)
}

/// The events of `events` with `start <= t < end`, in file order. Uses a
/// binary search when `sorted` is true (the caller checked once per trial) and
/// a full filter otherwise, so unsorted streams cut exactly as SpikingJelly's
/// boolean mask does.
pub fn cut_window(events: &Events, start: i64, end: i64, sorted: bool) -> Events {
    if sorted {
        let lo = events.t.partition_point(|&v| v < start);
        let hi = events.t.partition_point(|&v| v < end).max(lo);
        return events.slice(lo..hi);
    }
    let mut out = Events::new();
    for i in 0..events.len() {
        let t = events.t[i];
        if start <= t && t < end {
            out.push(t, events.x[i], events.y[i], events.p[i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_crlf_repeats_and_k() {
        let text = "class,startTime_usec,endTime_usec\r\n3,10,20\r\n7,20,30\r\n7,25,40\r\n\r\n";
        let w = parse_labels_csv(Path::new("a.csv"), text).unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].label, w[0].k), (2, 0));
        assert_eq!((w[1].label, w[1].k), (6, 0));
        assert_eq!((w[2].label, w[2].k, w[2].start, w[2].end), (6, 1, 25, 40));
    }

    #[test]
    fn csv_rejects_bad_class_and_garbage() {
        assert!(parse_labels_csv(Path::new("a"), "h\n12,1,2\n").is_err());
        assert!(parse_labels_csv(Path::new("a"), "h\n1,x,2\n").is_err());
        assert!(parse_labels_csv(Path::new("a"), "h\n1,2\n").is_err());
    }

    #[test]
    fn cut_is_half_open_and_overlapping() {
        let mut e = Events::new();
        for t in [1i64, 2, 2, 3, 4, 5] {
            e.push(t, 0, 0, 1);
        }
        assert_eq!(cut_window(&e, 2, 4, true).t, vec![2, 2, 3]);
        assert_eq!(cut_window(&e, 3, 6, true).t, vec![3, 4, 5]);
        assert_eq!(cut_window(&e, 2, 4, false).t, vec![2, 2, 3]);
        let mut u = Events::new();
        for t in [5i64, 1, 3] {
            u.push(t, 0, 0, 1);
        }
        assert_eq!(sorted_window_range(&u.t, 0, 10), None);
        assert_eq!(cut_window(&u, 1, 5, false).t, vec![1, 3]);
    }

    #[test]
    fn trials_list_strips() {
        assert_eq!(
            parse_trials_list("a.aedat\r\n\n b.aedat \n"),
            vec!["a.aedat", "b.aedat"]
        );
    }
}
