//! `spiketrain.ingest`: a `dvs-ingest run` from the Python keywords. The keywords are the run
//! settings' TOML keys (the CLI flags in snake_case); they are laid over the library's default
//! [`IngestConfig`] and deserialised through its serde types, so every typed setting is parsed
//! exactly as the CLI and `--config` parse it, and an unknown key is an error naming it.

use std::io::IsTerminal;

use dvs_ingest::layout::DatasetKind;
use dvs_ingest::IngestConfig;
use pyo3::prelude::*;

use crate::errors::{config_error, ingest_error};

/// Runs the ingest described by `settings_json` (an object of run settings; `dataset`, `input`
/// and `output` required) and returns the run summary as JSON text. `progress`: draw the bar
/// (default: when stderr is a terminal).
#[pyfunction]
#[pyo3(signature = (settings_json, progress=None))]
pub fn ingest_json(
    py: Python<'_>,
    settings_json: &str,
    progress: Option<bool>,
) -> PyResult<String> {
    let given: serde_json::Map<String, serde_json::Value> = serde_json::from_str(settings_json)
        .map_err(|e| config_error(format!("ingest settings: {e}")))?;
    let defaults = IngestConfig::new(DatasetKind::Gesture, "", "");
    let serde_json::Value::Object(mut merged) =
        serde_json::to_value(&defaults).map_err(|e| config_error(e.to_string()))?
    else {
        return Err(config_error("ingest settings: defaults are not a table"));
    };
    for (key, value) in given {
        if value.is_null() {
            merged.remove(&key);
        } else {
            merged.insert(key, value);
        }
    }
    let config: IngestConfig = serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| config_error(format!("ingest settings: {e}")))?;
    config.validate().map_err(|e| config_error(e.to_string()))?;
    let show_progress = progress.unwrap_or_else(|| std::io::stderr().is_terminal());
    let summary = py
        .detach(|| dvs_ingest::run(&config, show_progress))
        .map_err(ingest_error)?;
    let failures: Vec<serde_json::Value> = summary
        .failures
        .iter()
        .map(|f| serde_json::json!({"file": f.file, "offset": f.offset, "reason": f.reason}))
        .collect();
    let samples: serde_json::Map<String, serde_json::Value> = summary
        .samples
        .iter()
        .map(|(split, n)| (split.clone(), serde_json::json!(n)))
        .collect();
    Ok(serde_json::json!({
        "output": summary.output.display().to_string(),
        "up_to_date": summary.up_to_date,
        "samples": samples,
        "recordings_ok": summary.recordings_ok,
        "recordings_resumed": summary.recordings_resumed,
        "failures": failures,
        "events_decoded": summary.events_decoded,
        "params_hash": summary.params_hash,
    })
    .to_string())
}
