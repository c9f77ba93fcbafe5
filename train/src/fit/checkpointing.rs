//! The checkpointing calls of a run: where it starts (fresh, or resumed from `last/` after the
//! configuration hash is checked) and what it saves after each epoch (`last/` with the resume
//! state, `best/` when the test accuracy improved). The folder format is [`crate::checkpoint`].
use rand_chacha::ChaCha8Rng;

use crate::checkpoint::{self, CheckpointConfig, ResumeState, RngState};
use crate::error::{Result, TrainError};
use crate::fit::trainer::Run;

/// Folder of the resumable checkpoint inside a run directory.
const LAST: &str = "last";
/// Folder of the best-accuracy checkpoint inside a run directory.
const BEST: &str = "best";

/// The state of a run that has not trained yet.
pub(super) fn fresh_state(noise_rng: &ChaCha8Rng) -> ResumeState {
    ResumeState {
        next_epoch: 0,
        adam_steps: 0,
        noise_rng: RngState::capture(noise_rng),
        best_accuracy: f64::NEG_INFINITY,
        best_epoch: None,
        history: Vec::new(),
    }
}

/// Restores weights, optimiser state and the noise stream from `<run>/last` into `run` and returns
/// the saved state. Refuses a checkpoint written with another configuration.
pub(super) fn resume(run: &mut Run) -> Result<ResumeState> {
    let last_dir = run.run_dir.join(LAST);
    let saved = CheckpointConfig::read(&last_dir)?;
    let hash = run.cfg.hash();
    if saved.train_hash != hash {
        return Err(TrainError::Config(format!(
            "--resume: {} was written with a different configuration (hash {} vs {hash})",
            last_dir.display(),
            saved.train_hash,
        )));
    }
    let (device, dtype) = (run.net.device().clone(), run.net.dtype());
    let state = checkpoint::load_state(&last_dir, &device, dtype, &mut run.sgd, &mut run.adam)?;
    run.net.load(&last_dir.join(checkpoint::MODEL_FILE))?;
    run.noise_rng = state.noise_rng.restore()?;
    tracing::info!(
        epoch = state.next_epoch,
        "resumed from {}",
        last_dir.display()
    );
    Ok(state)
}

/// Saves `<run>/last` (with the resume state) after `epoch`, and `<run>/best` when `improved`.
pub(super) fn save_epoch(
    run: &Run,
    state: &ResumeState,
    epoch: usize,
    improved: bool,
) -> Result<()> {
    let [_, _, h, w] = run.info.sample_shape();
    let config = CheckpointConfig {
        format: CheckpointConfig::FORMAT,
        net: run.net.spec().clone(),
        classes: run.info.classes.clone(),
        time_steps: run.info.frames,
        height: h,
        width: w,
        transform: run.cfg.transform,
        dataset_params: run.info.params.clone(),
        dataset_params_hash: run.info.params_hash.clone(),
        train: run.cfg.clone(),
        train_hash: run.cfg.hash(),
        epoch,
        test_accuracy: state.history.last().map_or(0.0, |m| m.test_accuracy),
    };
    checkpoint::save(
        &run.run_dir.join(LAST),
        &run.net,
        &config,
        Some((state, &run.sgd, &run.adam)),
    )?;
    if improved {
        checkpoint::save(&run.run_dir.join(BEST), &run.net, &config, None)?;
    }
    Ok(())
}
