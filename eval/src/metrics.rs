//! Classification metrics: the confusion matrix (rows = true class, columns = predicted class),
//! top-1 accuracy, per-class accuracy (recall), and the argmax used for predictions.

use serde::Serialize;

/// Index of the largest value (the first one on ties, like `torch.argmax`); NaN never wins.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || (values[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best
}

/// A K×K confusion matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    classes: usize,
    /// Row-major counts: `counts[truth * classes + predicted]`.
    counts: Vec<u64>,
}

/// Accuracy of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassAccuracy {
    pub class: String,
    pub samples: u64,
    pub correct: u64,
    /// `None` when the split has no sample of this class.
    pub accuracy: Option<f64>,
}

impl Confusion {
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Records one prediction; labels outside the class range are rejected.
    pub fn add(&mut self, truth: usize, predicted: usize) -> Result<(), String> {
        if truth >= self.classes || predicted >= self.classes {
            return Err(format!(
                "label {truth} / prediction {predicted} outside the {} classes",
                self.classes
            ));
        }
        self.counts[truth * self.classes + predicted] += 1;
        Ok(())
    }

    pub fn get(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth * self.classes + predicted]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn correct(&self) -> u64 {
        (0..self.classes).map(|c| self.get(c, c)).sum()
    }

    /// Top-1 accuracy (0 for an empty matrix).
    pub fn accuracy(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            self.correct() as f64 / total as f64
        }
    }

    /// Rows as vectors (for JSON / plotting).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.classes.max(1))
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// Per-class accuracy (recall of each true class).
    pub fn per_class(&self, names: &[String]) -> Vec<ClassAccuracy> {
        (0..self.classes)
            .map(|c| {
                let samples: u64 = (0..self.classes).map(|p| self.get(c, p)).sum();
                let correct = self.get(c, c);
                ClassAccuracy {
                    class: names.get(c).cloned().unwrap_or_else(|| c.to_string()),
                    samples,
                    correct,
                    accuracy: (samples > 0).then(|| correct as f64 / samples as f64),
                }
            })
            .collect()
    }

    /// CSV with a header row of predicted class names and one row per true class.
    pub fn to_csv(&self, names: &[String]) -> String {
        let name = |c: usize| csv_field(names.get(c).map_or(&c.to_string(), |n| n));
        let mut out = String::from("true\\predicted");
        for p in 0..self.classes {
            out.push(',');
            out.push_str(&name(p));
        }
        out.push('\n');
        for t in 0..self.classes {
            out.push_str(&name(t));
            for p in 0..self.classes {
                out.push(',');
                out.push_str(&self.get(t, p).to_string());
            }
            out.push('\n');
        }
        out
    }
}

/// Quotes a CSV field when it contains a separator, quote or newline.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_first_maximum_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.5, 0.2]), 1);
        assert_eq!(argmax(&[-1.0]), 0);
    }

    #[test]
    fn confusion_counts_accuracy_and_csv() {
        let names: Vec<String> = ["a", "b,c", "d"].iter().map(|s| s.to_string()).collect();
        let mut m = Confusion::new(3);
        for (t, p) in [(0, 0), (0, 1), (1, 1), (1, 1), (2, 0)] {
            m.add(t, p).unwrap();
        }
        assert!(m.add(3, 0).is_err());
        assert_eq!(m.total(), 5);
        assert_eq!(m.correct(), 3);
        assert!((m.accuracy() - 0.6).abs() < 1e-12);
        let per = m.per_class(&names);
        assert_eq!(per[0].accuracy, Some(0.5));
        assert_eq!(per[1].accuracy, Some(1.0));
        assert_eq!(per[2].accuracy, Some(0.0));
        assert_eq!(
            m.to_csv(&names),
            "true\\predicted,a,\"b,c\",d\na,1,1,0\n\"b,c\",0,2,0\nd,1,0,0\n"
        );
        let empty = Confusion::new(2);
        assert_eq!(empty.per_class(&names[..2])[0].accuracy, None);
    }
}
