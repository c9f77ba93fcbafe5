//! Evaluation of a split in eval mode (running-statistic BN, Heaviside spikes, no noise): loss,
//! accuracy and per-layer spike sums over one whole loader epoch.
use crate::data::SplitLoader;
use candle_core::DType;

use crate::error::Result;
use crate::fit::loss::{predict, Objective};
use crate::fit::step::{batch_tensors, PassStats};
use crate::network::model::Network;
use crate::neuron::spike::ForwardCtx;

/// Evaluates `net` (eval mode) over a whole loader epoch.
pub(super) fn evaluate(
    net: &Network,
    loader: &SplitLoader,
    loss_fn: &Objective,
) -> Result<PassStats> {
    let mut stats = PassStats::default();
    for batch in loader.epoch(0) {
        let batch = batch?;
        stats.wait += batch.wait.as_secs_f64();
        let labels_v = batch.labels.clone();
        let (x, labels) = batch_tensors(batch, net.device(), net.dtype())?;
        let mut ctx = ForwardCtx::eval();
        let logits = net.forward(&x, &mut ctx)?;
        let loss = loss_fn
            .forward(&logits, &labels)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        stats.add(loss, &predict(&logits)?, &labels_v, &ctx);
    }
    Ok(stats)
}
