//! Training: the reference DVS run, fed by the `dvs_frames` loader.
//!
//! Reading order: [`fit`] (the run: setup and the epoch loop) → one training step (forward with
//! hybrid noisy spikes, TET loss, backward, SGD + Adam) → evaluation of the test split in eval mode
//! → the checkpointing calls (`last/` resumable after every epoch, `best/` by test accuracy).
//! The pieces they use: [`optim`] (SGD with momentum, Adam), [`schedule`] (cosine LR, p
//! milestones), [`loss`] (TET loss, prediction) and [`metrics`] (per-epoch numbers, CSV/JSON).
mod checkpointing;
mod evaluate;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod schedule;
mod step;
mod trainer;

pub use step::batch_tensors;
pub use trainer::{fit, FitOptions, FitSummary};
