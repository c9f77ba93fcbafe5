//! The `table` layout: a CSV (`.csv`) or parquet (`.parquet`) list of recordings and labelled
//! windows with the columns `path,label[,split][,start_us,end_us]` (found by name, any order,
//! other columns ignored). Paths are relative to the table file's folder. A recording may have
//! several rows (labelled windows of a long recording, as DVS Gesture's CSVs but general); each
//! row is a sample of the events `start_us <= t < end_us` (both empty or absent: the whole
//! recording). Labels are class names (any text); the classes are the distinct labels sorted
//! (numerically when every label is an integer). `split` is `train` or `test`; where the column
//! is absent or empty, the recording is split by [`seeded_split`] within the class of its
//! first row, so all windows of one recording go to the same split.
//!
//! Errors name the table file and the row (1-based data rows; a CSV's header is line 1, so row
//! `r` is line `r + 1`): a row that does not parse is a failure of that row (listed, the rest
//! goes on); a table without a `path` or `label` column, or one that cannot be read, is an
//! error of the run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use crate::folder::detect;
use crate::layout::{relative_id, seeded_split, Discovered, Recording, RecordingPlan};
use crate::layout::{Split, SplitRule, Window};
use crate::report::RecordingFailure;

/// One data row as text cells by column name, with its 1-based row number.
struct Row {
    number: usize,
    cells: BTreeMap<String, String>,
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}: {reason}", path.display()),
    )
}

/// Splits one CSV line into fields (RFC 4180 quotes: `"a,b"`, `""` inside quotes).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields.into_iter().map(|f| f.trim().to_string()).collect())
}

fn read_csv(path: &Path) -> std::io::Result<Vec<Row>> {
    let bytes = std::fs::read(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|e| invalid(path, format!("not UTF-8: {e}")))?;
    let mut lines = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(invalid(path, "empty table (no header line)"));
    };
    let names = csv_fields(header).map_err(|e| invalid(path, format!("line 1: {e}")))?;
    let mut rows = Vec::new();
    for (number, (index, line)) in lines.enumerate() {
        let fields =
            csv_fields(line).map_err(|e| invalid(path, format!("line {}: {e}", index + 1)))?;
        if fields.len() != names.len() {
            return Err(invalid(
                path,
                format!(
                    "line {} (row {}): {} fields, the header has {}",
                    index + 1,
                    number + 1,
                    fields.len(),
                    names.len()
                ),
            ));
        }
        rows.push(Row {
            number: number + 1,
            cells: names.iter().cloned().zip(fields).collect(),
        });
    }
    Ok(rows)
}

fn field_text(field: &Field) -> Result<String, String> {
    Ok(match field {
        Field::Null => String::new(),
        Field::Str(s) => s.clone(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        Field::Bool(v) => v.to_string(),
        other => return Err(format!("a {other} cell (expected text or an integer)")),
    })
}

fn read_parquet(path: &Path) -> std::io::Result<Vec<Row>> {
    let file = std::fs::File::open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let reader = SerializedFileReader::new(file).map_err(|e| invalid(path, e))?;
    let iter = reader.get_row_iter(None).map_err(|e| invalid(path, e))?;
    let mut rows = Vec::new();
    for (i, row) in iter.enumerate() {
        let row = row.map_err(|e| invalid(path, format!("row {}: {e}", i + 1)))?;
        let mut cells = BTreeMap::new();
        for (name, field) in row.get_column_iter() {
            let text = field_text(field)
                .map_err(|e| invalid(path, format!("row {}, column {name}: {e}", i + 1)))?;
            cells.insert(name.clone(), text);
        }
        rows.push(Row {
            number: i + 1,
            cells,
        });
    }
    Ok(rows)
}

/// One parsed row.
struct Entry {
    number: usize,
    path: String,
    label: String,
    split: Option<Split>,
    range: Option<(i64, i64)>,
}

fn parse_row(row: &Row) -> Result<Entry, String> {
    let get = |name: &str| row.cells.get(name).map(String::as_str).unwrap_or("");
    let path = get("path");
    if path.is_empty() {
        return Err("empty path".into());
    }
    let label = get("label");
    if label.is_empty() {
        return Err("empty label".into());
    }
    let split = match get("split") {
        "" => None,
        "train" => Some(Split::Train),
        "test" => Some(Split::Test),
        other => return Err(format!("split '{other}' is neither train nor test")),
    };
    let time = |name: &str| -> Result<Option<i64>, String> {
        match get(name) {
            "" => Ok(None),
            v => v
                .parse::<i64>()
                .map(Some)
                .map_err(|e| format!("{name} '{v}' is not an integer (µs): {e}")),
        }
    };
    let range = match (time("start_us")?, time("end_us")?) {
        (None, None) => None,
        (Some(start), Some(end)) if start < end => Some((start, end)),
        (Some(start), Some(end)) => {
            return Err(format!("start_us {start} is not before end_us {end}"))
        }
        _ => return Err("give both start_us and end_us, or neither".into()),
    };
    Ok(Entry {
        number: row.number,
        path: path.to_string(),
        label: label.to_string(),
        split,
        range,
    })
}

/// Classes in label order: sorted, numerically when every label is an integer.
fn sorted_classes(labels: &BTreeSet<String>) -> Vec<String> {
    let mut classes: Vec<String> = labels.iter().cloned().collect();
    if classes.iter().all(|c| c.parse::<i64>().is_ok()) {
        classes.sort_by_key(|c| c.parse::<i64>().unwrap_or(0));
    }
    classes
}

/// Finds the recordings and windows listed in the table file `table`.
pub fn discover_table(table: &Path, rule: SplitRule) -> std::io::Result<Discovered> {
    let ext = table
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let rows = match ext.as_str() {
        "csv" => read_csv(table)?,
        "parquet" | "pq" => read_parquet(table)?,
        _ => {
            return Err(invalid(
                table,
                "a table is a .csv or .parquet file (give the table file as --input)",
            ))
        }
    };
    for column in ["path", "label"] {
        if rows.first().is_some_and(|r| !r.cells.contains_key(column)) {
            return Err(invalid(table, format!("no `{column}` column")));
        }
    }
    let root = table.parent().map(Path::to_path_buf).unwrap_or_default();
    let table_name = table.display().to_string();
    let mut out = Discovered::default();
    let mut entries: Vec<Entry> = Vec::new();
    for row in &rows {
        match parse_row(row) {
            Ok(entry) => entries.push(entry),
            Err(reason) => out.failures.push(RecordingFailure::new(
                format!("{table_name} row {}", row.number),
                None,
                reason,
            )),
        }
    }
    let labels: BTreeSet<String> = entries.iter().map(|e| e.label.clone()).collect();
    out.classes = sorted_classes(&labels);
    // Rows grouped by recording, in table order within each.
    let mut by_path: BTreeMap<PathBuf, Vec<Entry>> = BTreeMap::new();
    for entry in entries {
        by_path
            .entry(root.join(&entry.path))
            .or_default()
            .push(entry);
    }
    // The seeded split of the recordings that state none, stratified by first-row class.
    let mut unsplit: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (path, rows) in &by_path {
        if rows.iter().any(|r| r.split.is_none()) {
            unsplit
                .entry(rows[0].label.as_str())
                .or_default()
                .push(relative_id(&root, path));
        }
    }
    let seeded: BTreeMap<String, Split> = unsplit
        .values()
        .flat_map(|ids| seeded_split(ids, rule.test_ratio, rule.seed))
        .collect();
    for (path, rows) in by_path {
        let id = relative_id(&root, &path);
        let row_list = || {
            rows.iter()
                .map(|r| r.number.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let format = match detect(&path) {
            Ok(Some(format)) => format,
            Ok(None) => {
                out.failures.push(RecordingFailure::new(
                    &id,
                    None,
                    format!(
                        "{table_name} rows {}: not a recording format dvs-decode detects",
                        row_list()
                    ),
                ));
                continue;
            }
            Err(reason) => {
                out.failures.push(RecordingFailure::new(
                    &id,
                    Some(0),
                    format!("{table_name} rows {}: {reason}", row_list()),
                ));
                continue;
            }
        };
        let stem = crate::folder::sample_name(&root, &path);
        let several = rows.len() > 1;
        let windows = rows
            .iter()
            .enumerate()
            .map(|(k, r)| Window {
                label: out.classes.iter().position(|c| *c == r.label).unwrap_or(0) as u32,
                split: r
                    .split
                    .or_else(|| seeded.get(&id).copied())
                    .unwrap_or(Split::Train),
                range: r.range,
                name: if several {
                    format!("{stem}_{k}")
                } else {
                    stem.clone()
                },
            })
            .collect();
        out.recordings.push(Recording {
            id,
            path,
            format,
            plan: RecordingPlan::Windows(windows),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_trimming() {
        assert_eq!(
            csv_fields(r#"a, "b,c" ,"say ""hi""""#).unwrap(),
            vec!["a", "b,c", r#"say "hi""#]
        );
        assert!(csv_fields(r#"a,"b"#).is_err());
    }

    #[test]
    fn integer_labels_sort_numerically() {
        let labels: BTreeSet<String> = ["10", "9", "2"].iter().map(|s| s.to_string()).collect();
        assert_eq!(sorted_classes(&labels), vec!["2", "9", "10"]);
        let labels: BTreeSet<String> = ["b", "a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(sorted_classes(&labels), vec!["a", "b"]);
    }
}
