//! Checks that a prepared dataset (`dataset.json`) matches the data a model was trained on, as
//! recorded in the model's metadata: frame integration hash, T, H, W and class names.

use asgl_train::export::ModelMetadata;
use dvs_frames::DatasetInfo;

/// One difference between the dataset and the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub field: &'static str,
    pub dataset: String,
    pub model: String,
    /// True when evaluation is impossible regardless (tensor shapes differ).
    pub fatal: bool,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  {}: dataset has {}, the model expects {}",
            self.field, self.dataset, self.model
        )
    }
}

/// Lists every difference (empty when the dataset matches).
pub fn check_dataset(info: &DatasetInfo, model: &ModelMetadata) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut push = |field, dataset: String, model: String, fatal| {
        if dataset != model {
            out.push(Mismatch {
                field,
                dataset,
                model,
                fatal,
            });
        }
    };
    push(
        "frames T",
        info.frames.to_string(),
        model.time_steps.to_string(),
        true,
    );
    push(
        "height",
        info.height.to_string(),
        model.height.to_string(),
        true,
    );
    push(
        "width",
        info.width.to_string(),
        model.width.to_string(),
        true,
    );
    // Frames datasets hold 2 polarity channels; the CIFAR release files 3 colour planes.
    let channels = match asgl_train::data::cifar_kind_of(&info.params) {
        Some(_) => 3,
        None => info.sample_shape()[1],
    };
    push(
        "channels",
        channels.to_string(),
        model.channels.to_string(),
        true,
    );
    push(
        "class count",
        info.classes.len().to_string(),
        model.classes.len().to_string(),
        true,
    );
    if info.classes.len() == model.classes.len() {
        push(
            "class names",
            format!("{:?}", info.classes),
            format!("{:?}", model.classes),
            false,
        );
    }
    push(
        "integration params_hash",
        info.params_hash.clone(),
        model.params_hash.clone(),
        false,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelMetadata {
        let spec_json = serde_json::json!({
            "time_steps": 4, "input_shape": [2, 8, 8], "num_classes": 2,
            "neuron": {"decay": 0.5, "thresh": 0.5, "surrogate": "rectangle", "width": 1.0,
                       "noise_p": 0.0, "train_width": false},
            "layers": [{"op": "flatten"}, {"op": "linear", "out": 2, "bias": false}]
        });
        ModelMetadata {
            classes: vec!["a".into(), "b".into()],
            time_steps: 4,
            channels: 2,
            height: 8,
            width: 8,
            integration_params: serde_json::json!({"mode": "count"}),
            params_hash: "abc".into(),
            value_transform: serde_json::json!("raw"),
            config_hash: "cfg".into(),
            network: serde_json::from_value(spec_json).unwrap(),
        }
    }

    fn dataset() -> DatasetInfo {
        serde_json::from_value(serde_json::json!({
            "format_version": 1, "kind": "test", "classes": ["a", "b"], "frames": 4, "height": 8,
            "width": 8, "dtype": "u8", "params": {"mode": "count"}, "params_hash": "abc", "splits": {}
        }))
        .unwrap()
    }

    #[test]
    fn matching_dataset_has_no_mismatch() {
        assert!(check_dataset(&dataset(), &model()).is_empty());
    }

    #[test]
    fn every_difference_is_reported() {
        let mut info = dataset();
        info.params_hash = "other".into();
        info.frames = 5;
        info.classes = vec!["b".into(), "a".into()];
        let found = check_dataset(&info, &model());
        let fields: Vec<_> = found.iter().map(|m| m.field).collect();
        assert_eq!(
            fields,
            ["frames T", "class names", "integration params_hash"]
        );
        assert!(found[0].fatal && !found[1].fatal && !found[2].fatal);
        assert!(found[2].to_string().contains("other"));
    }
}
