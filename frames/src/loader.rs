//! The streaming loader: per-epoch deterministic shuffling across and within shards, async
//! shard reads on a tokio runtime owned by the [`Loader`], decompression + augmentation +
//! value transform on a rayon pool, and in-order delivery of `f32` batches through a bounded
//! channel (backpressure; `prefetch` batches deep).
//!
//! Determinism: the sample order and every sample's augmentation parameters are computed up
//! front from ChaCha8 streams seeded by `(seed, epoch)`; decoding is a pure function of that
//! plan, and batches are forwarded strictly in batch order, so the batch sequence never depends
//! on thread timing, the worker count or the prefetch depth.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::augment::{augment_sample, augment_sparse, Augment, AugmentParams, ValueTransform};
use crate::dataset::DatasetInfo;
use crate::dtype::Dtype;
use crate::error::{FrameError, Result};
use crate::format::Encoding;
use crate::reader::{ShardIndex, ShardReader};

/// What to do with a record that fails its checksum or cannot be decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorruptPolicy {
    /// Yield the error and end the epoch (default).
    #[default]
    Fail,
    /// Leave the sample out of its batch, log a warning and report it in [`Batch::skipped`].
    Skip,
}

/// Loader settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Shuffle shard order and samples within each shuffle window, per epoch.
    pub shuffle: bool,
    /// Seed of every random choice (order and augmentation).
    pub seed: u64,
    /// Batches buffered in the channel ahead of the consumer (at least 1); as many more may be
    /// in the middle of decoding.
    pub prefetch: usize,
    /// Augmentation (use [`Augment::NONE`] for evaluation).
    pub augment: Augment,
    /// Value transform applied after augmentation.
    pub transform: ValueTransform,
    /// Drop a partial last batch instead of yielding it.
    pub drop_last: bool,
    /// Corrupt record policy.
    pub on_corrupt: CorruptPolicy,
    /// Decode threads (rayon); 0 = all available cores.
    pub workers: usize,
    /// Shards held in memory and shuffled together; 0 = all shards of the split (a full
    /// shuffle). Memory use is about two windows of compressed shards.
    #[serde(default)]
    pub shuffle_window: usize,
    /// When the split's shard files total at most this many bytes, shards stay in memory after
    /// their first read, so later epochs start without re-reading them (record checksums are
    /// still verified at every decode); 0 disables the cache.
    #[serde(default = "default_cache_bytes")]
    pub cache_bytes: u64,
}

fn default_cache_bytes() -> u64 {
    1 << 30
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 32,
            shuffle: false,
            seed: 0,
            prefetch: 4,
            augment: Augment::NONE,
            transform: ValueTransform::Raw,
            drop_last: false,
            on_corrupt: CorruptPolicy::Fail,
            workers: 0,
            shuffle_window: 0,
            cache_bytes: default_cache_bytes(),
        }
    }
}

impl LoaderConfig {
    /// Training defaults: shuffled, ASGL augmentation (flip + roll 5), raw values.
    pub fn train(batch_size: usize, seed: u64) -> Self {
        LoaderConfig {
            batch_size,
            shuffle: true,
            seed,
            augment: Augment::ASGL,
            ..Default::default()
        }
    }

    /// Evaluation defaults: file order, no augmentation, raw values, partial last batch kept.
    pub fn eval(batch_size: usize) -> Self {
        LoaderConfig {
            batch_size,
            ..Default::default()
        }
    }
}

/// A record left out under [`CorruptPolicy::Skip`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRecord {
    /// Shard file.
    pub shard: PathBuf,
    /// Record index in the shard.
    pub index: usize,
    /// Sample key.
    pub key: String,
    /// Why it was skipped (the error message, naming shard, record and byte offset).
    pub reason: String,
}

/// One batch, ready to become a tensor without another copy.
#[derive(Debug)]
pub struct Batch {
    /// `[B, T, 2, H, W]`, row-major, contiguous.
    pub data: Vec<f32>,
    /// `[B, T, 2, H, W]`.
    pub shape: [usize; 5],
    /// One label per sample.
    pub labels: Vec<u32>,
    /// One key per sample.
    pub keys: Vec<String>,
    /// Time the consumer was blocked waiting for this batch on the channel.
    pub wait: Duration,
    /// Position of this batch in the epoch (0-based).
    pub index: usize,
    /// Records of this batch skipped as corrupt (only under [`CorruptPolicy::Skip`]).
    pub skipped: Vec<SkippedRecord>,
}

impl Batch {
    /// Number of samples B.
    pub fn len(&self) -> usize {
        self.shape[0]
    }
    /// True for a batch without samples (never yielded by the loader).
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }
}

#[derive(Debug)]
struct ShardMeta {
    path: PathBuf,
    len: usize,
}

/// Shards kept in memory across epochs (see [`LoaderConfig::cache_bytes`]).
type ShardCache = std::sync::Mutex<HashMap<usize, Arc<ShardReader>>>;

struct Shared {
    info: DatasetInfo,
    split: String,
    shards: Vec<ShardMeta>,
    total: usize,
    sample_shape: [usize; 4],
    config: LoaderConfig,
    pool: rayon::ThreadPool,
    cache: Option<ShardCache>,
}

/// The streaming loader of one split of a prepared dataset.
pub struct Loader {
    shared: Arc<Shared>,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("split", &self.shared.split)
            .field("samples", &self.shared.total)
            .field("shards", &self.shared.shards.len())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Loader {
    /// Opens split `split` of the dataset in `dataset_dir`: reads `dataset.json` and every
    /// shard's index (validating magic, version, bounds, shapes and counts), and starts the
    /// decode pool and the I/O runtime.
    pub fn open(dataset_dir: impl AsRef<Path>, split: &str, config: LoaderConfig) -> Result<Self> {
        let dir = dataset_dir.as_ref();
        if config.batch_size == 0 {
            return Err(FrameError::Loader("batch_size must be at least 1".into()));
        }
        let info = DatasetInfo::read(dir)?;
        let split_info = info.split(split)?.clone();
        let sample_shape = info.sample_shape();
        let mut shards = Vec::with_capacity(split_info.shards.len());
        let mut total = 0usize;
        let mut total_bytes = 0u64;
        for rel in &split_info.shards {
            let path = dir.join(rel);
            let index = ShardIndex::read(&path)?;
            check_shapes(&index, sample_shape)?;
            total += index.len();
            total_bytes += index.file_len();
            shards.push(ShardMeta {
                path,
                len: index.len(),
            });
        }
        if total as u64 != split_info.samples {
            return Err(FrameError::Dataset {
                path: dir.join(DatasetInfo::FILE_NAME),
                reason: format!(
                    "split {split:?} declares {} samples but its shards hold {total}",
                    split_info.samples
                ),
            });
        }
        let workers = if config.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            config.workers
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|i| format!("dvs-frames-decode-{i}"))
            .build()
            .map_err(|e| {
                FrameError::Loader(format!("cannot start {workers} decode threads: {e}"))
            })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(8)
            .thread_name("dvs-frames-io")
            .build()
            .map_err(|e| FrameError::Loader(format!("cannot start the tokio runtime: {e}")))?;
        let cache = (total_bytes <= config.cache_bytes).then(|| ShardCache::new(HashMap::new()));
        tracing::debug!(
            split,
            samples = total,
            shards = shards.len(),
            bytes = total_bytes,
            cached = cache.is_some(),
            workers,
            "loader opened"
        );
        Ok(Loader {
            shared: Arc::new(Shared {
                info,
                split: split.to_owned(),
                shards,
                total,
                sample_shape,
                config,
                pool,
                cache,
            }),
            runtime: Arc::new(runtime),
        })
    }

    /// Number of samples in the split.
    pub fn len(&self) -> usize {
        self.shared.total
    }
    /// True when the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.shared.total == 0
    }
    /// Batches per epoch (before any corrupt-record skipping).
    pub fn num_batches(&self) -> usize {
        batch_ranges(self.shared.total, &self.shared.config).len()
    }
    /// The dataset description.
    pub fn info(&self) -> &DatasetInfo {
        &self.shared.info
    }
    /// The configuration the loader was opened with.
    pub fn config(&self) -> &LoaderConfig {
        &self.shared.config
    }
    /// `[T, 2, H, W]`.
    pub fn sample_shape(&self) -> [usize; 4] {
        self.shared.sample_shape
    }

    /// The keys of epoch `epoch` in delivery order (what [`Loader::epoch`] will yield, without
    /// decoding anything). Reads the shard indices.
    pub fn epoch_keys(&self, epoch: u64) -> Result<Vec<String>> {
        let plan = EpochPlan::new(&self.shared, epoch);
        let indices = self
            .shared
            .shards
            .iter()
            .map(|s| ShardIndex::read(&s.path))
            .collect::<Result<Vec<_>>>()?;
        plan.samples
            .iter()
            .map(|s| Ok(indices[s.shard].key(s.record)?.to_owned()))
            .collect()
    }

    /// Starts epoch `epoch` and returns the iterator the training thread pulls batches from.
    /// Must not be iterated from inside an async context (it blocks on the channel).
    pub fn epoch(&self, epoch: u64) -> EpochIter {
        let plan = Arc::new(EpochPlan::new(&self.shared, epoch));
        let ranges = batch_ranges(self.shared.total, &self.shared.config);
        let num_batches = ranges.len();
        let (tx, rx) = mpsc::channel(self.shared.config.prefetch.max(1));
        let producer = self
            .runtime
            .spawn(produce(Arc::clone(&self.shared), plan, ranges, tx));
        EpochIter {
            rx,
            producer,
            _runtime: Arc::clone(&self.runtime),
            num_batches,
            next_index: 0,
            done: false,
            total_wait: Duration::ZERO,
            skipped: Vec::new(),
        }
    }
}

fn check_shapes(index: &ShardIndex, expected: [usize; 4]) -> Result<()> {
    for (i, e) in index.entries().iter().enumerate() {
        if e.shape != expected {
            return Err(FrameError::Dataset {
                path: index.path().to_path_buf(),
                reason: format!(
                    "record {i} ({:?}) has shape {:?}, dataset.json says {expected:?}",
                    e.key, e.shape
                ),
            });
        }
    }
    Ok(())
}

fn batch_ranges(total: usize, config: &LoaderConfig) -> Vec<Range<usize>> {
    let bs = config.batch_size.max(1);
    (0..total)
        .step_by(bs)
        .map(|start| start..(start + bs).min(total))
        .filter(|r| !config.drop_last || r.len() == bs)
        .collect()
}

/// Iterator over the batches of one epoch. Dropping it stops the pipeline.
pub struct EpochIter {
    rx: mpsc::Receiver<Result<Batch>>,
    producer: tokio::task::JoinHandle<()>,
    _runtime: Arc<tokio::runtime::Runtime>,
    num_batches: usize,
    next_index: usize,
    done: bool,
    total_wait: Duration,
    skipped: Vec<SkippedRecord>,
}

impl EpochIter {
    /// Total time the consumer has been blocked on the channel so far this epoch.
    pub fn total_wait(&self) -> Duration {
        self.total_wait
    }
    /// Every record skipped so far this epoch (under [`CorruptPolicy::Skip`]).
    pub fn skipped(&self) -> &[SkippedRecord] {
        &self.skipped
    }
    /// Batches planned for this epoch.
    pub fn num_batches(&self) -> usize {
        self.num_batches
    }
}

impl Iterator for EpochIter {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let started = Instant::now();
        loop {
            match self.rx.blocking_recv() {
                Some(Ok(mut batch)) => {
                    self.next_index = batch.index + 1;
                    self.skipped.extend(batch.skipped.iter().cloned());
                    if batch.is_empty() {
                        // Every sample of this batch was skipped as corrupt.
                        continue;
                    }
                    batch.wait = started.elapsed();
                    self.total_wait += batch.wait;
                    return Some(Ok(batch));
                }
                Some(Err(e)) => {
                    self.total_wait += started.elapsed();
                    self.done = true;
                    return Some(Err(e));
                }
                None => {
                    self.total_wait += started.elapsed();
                    self.done = true;
                    tracing::debug!(
                        batches = self.next_index,
                        wait_s = self.total_wait.as_secs_f64(),
                        skipped = self.skipped.len(),
                        "epoch finished"
                    );
                    if self.next_index < self.num_batches {
                        return Some(Err(FrameError::Loader(format!(
                            "the pipeline stopped after {} of {} batches",
                            self.next_index, self.num_batches
                        ))));
                    }
                    return None;
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (
                0,
                Some(self.num_batches - self.next_index.min(self.num_batches) + 1),
            )
        }
    }
}

impl Drop for EpochIter {
    fn drop(&mut self) {
        self.producer.abort();
    }
}

/// One sample's place in the epoch.
#[derive(Clone, Copy, Debug)]
struct PlannedSample {
    shard: usize,
    record: usize,
    window: usize,
    augment: AugmentParams,
}

/// The complete, deterministic plan of one epoch.
struct EpochPlan {
    samples: Vec<PlannedSample>,
    /// Shards of each window, in load order.
    windows: Vec<Vec<usize>>,
}

const STREAM_ORDER: u64 = 1;
const STREAM_AUGMENT: u64 = 2;

/// A ChaCha8 generator for `(seed, epoch, stream)`; independent streams keep the order and the
/// augmentation draws from influencing each other.
fn epoch_rng(seed: u64, epoch: u64, stream: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[0..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&epoch.to_le_bytes());
    key[16..24].copy_from_slice(&stream.to_le_bytes());
    key[24..32].copy_from_slice(b"dvsframe");
    ChaCha8Rng::from_seed(key)
}

impl EpochPlan {
    fn new(shared: &Shared, epoch: u64) -> Self {
        let config = &shared.config;
        let n_shards = shared.shards.len();
        let mut order_rng = epoch_rng(config.seed, epoch, STREAM_ORDER);
        let mut shard_order: Vec<usize> = (0..n_shards).collect();
        if config.shuffle {
            shard_order.shuffle(&mut order_rng);
        }
        let window_size = if config.shuffle_window == 0 {
            n_shards.max(1)
        } else {
            config.shuffle_window
        };
        let mut samples = Vec::with_capacity(shared.total);
        let mut windows = Vec::new();
        for (w, group) in shard_order.chunks(window_size).enumerate() {
            let start = samples.len();
            for &shard in group {
                samples.extend((0..shared.shards[shard].len).map(|record| PlannedSample {
                    shard,
                    record,
                    window: w,
                    augment: AugmentParams::default(),
                }));
            }
            if config.shuffle {
                samples[start..].shuffle(&mut order_rng);
            }
            windows.push(group.to_vec());
        }
        if !config.augment.is_identity() {
            // Drawn in delivery order, so sample position p always gets the p-th draw.
            let mut aug_rng = epoch_rng(config.seed, epoch, STREAM_AUGMENT);
            for s in &mut samples {
                s.augment = config.augment.draw(&mut aug_rng);
            }
        }
        EpochPlan { samples, windows }
    }
}

type LoadedShard = std::result::Result<Arc<ShardReader>, Arc<FrameError>>;

/// Reads every shard of one window concurrently (async I/O) and validates it.
async fn load_window(shared: Arc<Shared>, shards: Vec<usize>) -> Vec<(usize, LoadedShard)> {
    let mut reads = Vec::with_capacity(shards.len());
    for shard in shards {
        let shared = Arc::clone(&shared);
        reads.push((
            shard,
            tokio::spawn(async move {
                let cached = shared.cache.as_ref().and_then(|c| {
                    c.lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .get(&shard)
                        .cloned()
                });
                if let Some(reader) = cached {
                    return Ok(reader);
                }
                let meta = &shared.shards[shard];
                let bytes = tokio::fs::read(&meta.path)
                    .await
                    .map_err(|e| FrameError::io(&meta.path, e))?;
                let reader = ShardReader::from_bytes(&meta.path, bytes)?;
                if reader.len() != meta.len {
                    return Err(FrameError::CorruptShard {
                        path: meta.path.clone(),
                        offset: 0,
                        reason: format!(
                            "shard changed while the loader was open: {} records, expected {}",
                            reader.len(),
                            meta.len
                        ),
                    });
                }
                check_shapes(reader.index(), shared.sample_shape)?;
                let reader = Arc::new(reader);
                if let Some(cache) = &shared.cache {
                    cache
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(shard, Arc::clone(&reader));
                }
                Ok(reader)
            }),
        ));
    }
    let mut loaded = Vec::with_capacity(reads.len());
    for (shard, handle) in reads {
        let result = match handle.await {
            Ok(r) => r.map_err(Arc::new),
            Err(e) => Err(Arc::new(FrameError::Loader(format!(
                "shard read task failed: {e}"
            )))),
        };
        loaded.push((shard, result));
    }
    loaded
}

/// A batch's samples together with the shards they come from.
struct BatchJob {
    index: usize,
    samples: Vec<(PlannedSample, LoadedShard)>,
}

/// The epoch's producer: loads windows (one ahead), dispatches batch jobs to the decode pool
/// and forwards their results strictly in order into the bounded channel.
async fn produce(
    shared: Arc<Shared>,
    plan: Arc<EpochPlan>,
    ranges: Vec<Range<usize>>,
    tx: mpsc::Sender<Result<Batch>>,
) {
    let depth = shared.config.prefetch.max(1);
    let mut in_flight: VecDeque<oneshot::Receiver<Result<Batch>>> = VecDeque::new();
    let mut pending_loads = VecDeque::new();
    let mut next_window_to_load = 0usize;
    let mut windows_ready = 0usize;
    let mut readers: HashMap<usize, (usize, LoadedShard)> = HashMap::new();
    for (batch_index, range) in ranges.into_iter().enumerate() {
        let first_window = plan.samples[range.start].window;
        let last_window = plan.samples[range.end - 1].window;
        // Keep one window loading ahead of the one being decoded.
        while next_window_to_load < plan.windows.len() && next_window_to_load <= last_window + 1 {
            let shards = plan.windows[next_window_to_load].clone();
            pending_loads.push_back((
                next_window_to_load,
                tokio::spawn(load_window(Arc::clone(&shared), shards)),
            ));
            next_window_to_load += 1;
        }
        while windows_ready <= last_window {
            let Some((window, handle)) = pending_loads.pop_front() else {
                break;
            };
            match handle.await {
                Ok(loaded) => {
                    for (shard, result) in loaded {
                        readers.insert(shard, (window, result));
                    }
                }
                Err(e) => {
                    let _ = tx
                        .send(Err(FrameError::Loader(format!(
                            "shard loading task failed: {e}"
                        ))))
                        .await;
                    return;
                }
            }
            windows_ready += 1;
        }
        // Windows before this batch's first window are finished: release their memory.
        readers.retain(|_, (window, _)| *window >= first_window);
        let mut samples = Vec::with_capacity(range.len());
        for planned in &plan.samples[range] {
            let Some((_, loaded)) = readers.get(&planned.shard) else {
                let _ = tx
                    .send(Err(FrameError::Loader(format!(
                        "internal: shard {} not loaded for batch {batch_index}",
                        planned.shard
                    ))))
                    .await;
                return;
            };
            samples.push((*planned, loaded.clone()));
        }
        let job = BatchJob {
            index: batch_index,
            samples,
        };
        let (done_tx, done_rx) = oneshot::channel();
        let worker_shared = Arc::clone(&shared);
        shared.pool.spawn(move || {
            let _ = done_tx.send(assemble_batch(&worker_shared, job));
        });
        in_flight.push_back(done_rx);
        while in_flight.len() >= depth {
            if !forward(in_flight.pop_front(), &tx).await {
                return;
            }
        }
    }
    while !in_flight.is_empty() {
        if !forward(in_flight.pop_front(), &tx).await {
            return;
        }
    }
}

/// Waits for the oldest batch and sends it on; false when the epoch must stop (error or the
/// consumer went away).
async fn forward(
    oldest: Option<oneshot::Receiver<Result<Batch>>>,
    tx: &mpsc::Sender<Result<Batch>>,
) -> bool {
    let Some(rx) = oldest else { return true };
    let result = match rx.await {
        Ok(r) => r,
        Err(_) => Err(FrameError::Loader(
            "a decode worker stopped without a result".into(),
        )),
    };
    let keep_going = result.is_ok();
    tx.send(result).await.is_ok() && keep_going
}

/// Per-thread decode state, reused across samples so the hot path does not allocate.
struct DecodeScratch {
    dctx: zstd::bulk::Decompressor<'static>,
    /// The record's decompressed payload, then (for a sparse record that is expanded) its
    /// dense elements.
    raw: Vec<u8>,
    dense: Vec<u8>,
    u16s: Vec<u16>,
    u32s: Vec<u32>,
    f32s: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Option<DecodeScratch>> = const { RefCell::new(None) };
}

fn decode_sample(
    shared: &Shared,
    planned: &PlannedSample,
    loaded: &LoadedShard,
    out: &mut [std::mem::MaybeUninit<f32>],
) -> Result<()> {
    let reader = loaded.as_ref().map_err(|e| e.duplicate())?;
    SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let dctx =
                zstd::bulk::Decompressor::new().map_err(|e| FrameError::io(reader.path(), e))?;
            *slot = Some(DecodeScratch {
                dctx,
                raw: Vec::new(),
                dense: Vec::new(),
                u16s: Vec::new(),
                u32s: Vec::new(),
                f32s: Vec::new(),
            });
        }
        let s = slot.as_mut().expect("initialised above");
        let (params, transform) = (planned.augment, shared.config.transform);
        let entry = reader.payload_into(planned.record, &mut s.dctx, &mut s.raw)?;
        let shape = entry.shape;
        if entry.encoding == Encoding::Sparse {
            // Scattered straight into the batch where the transform allows; otherwise expanded
            // and augmented as a dense record.
            match augment_sparse(&s.raw, entry.dtype, shape, params, transform, out) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(reason) => return Err(reader.record_error(planned.record, reason)),
            }
        }
        if let Some(expand) = entry.encoding.expander() {
            s.dense.resize(entry.dense_len(), 0);
            expand(&s.raw, entry.dtype.size(), &mut s.dense)
                .map_err(|reason| reader.record_error(planned.record, reason))?;
            std::mem::swap(&mut s.raw, &mut s.dense);
        }
        match entry.dtype {
            Dtype::U8 => augment_sample(&s.raw, shape, params, transform, out),
            Dtype::U16 => {
                s.u16s.clear();
                s.u16s.extend(
                    s.raw
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]])),
                );
                augment_sample(&s.u16s, shape, params, transform, out)
            }
            Dtype::U32 => {
                s.u32s.clear();
                s.u32s.extend(
                    s.raw
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                augment_sample(&s.u32s, shape, params, transform, out)
            }
            Dtype::F32 => {
                s.f32s.clear();
                s.f32s.extend(
                    s.raw
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                augment_sample(&s.f32s, shape, params, transform, out)
            }
        }
        Ok(())
    })
}

/// Decodes one batch (samples in parallel on the current rayon pool) and applies the corrupt
/// record policy.
fn assemble_batch(shared: &Shared, job: BatchJob) -> Result<Batch> {
    let [t, c, h, w] = shared.sample_shape;
    let sample_len = t * c * h * w;
    let len = job.samples.len() * sample_len;
    // The batch is written straight into uninitialised capacity: zero-filling 4 bytes per
    // element first would cost as much memory traffic as the decoding itself.
    let mut data: Vec<f32> = Vec::with_capacity(len);
    let results: Vec<Result<()>> = if sample_len == 0 {
        job.samples.iter().map(|_| Ok(())).collect()
    } else {
        data.spare_capacity_mut()[..len]
            .par_chunks_mut(sample_len)
            .zip(job.samples.par_iter())
            .map(|(out, (planned, loaded))| {
                let result = decode_sample(shared, planned, loaded, out);
                if result.is_err() {
                    for slot in out.iter_mut() {
                        slot.write(0.0);
                    }
                }
                result
            })
            .collect()
    };
    // SAFETY: all `len` elements are initialised: each sample's chunk was either written
    // completely by `augment_sample` (which writes every output element, and whose length
    // equals the record's element count because every record's shape was checked against
    // the dataset's sample shape) or zero-filled above after an error.
    unsafe { data.set_len(len) };
    let mut labels = Vec::with_capacity(job.samples.len());
    let mut keys = Vec::with_capacity(job.samples.len());
    let mut skipped = Vec::new();
    let mut kept = 0usize;
    for (i, ((planned, loaded), result)) in job.samples.iter().zip(results).enumerate() {
        match result {
            Ok(()) => {
                // Ok implies the shard loaded and the record exists.
                let reader = loaded.as_ref().expect("decoded samples have a reader");
                let entry = reader.index().entry(planned.record)?;
                labels.push(entry.label);
                keys.push(entry.key.clone());
                if kept != i {
                    data.copy_within(i * sample_len..(i + 1) * sample_len, kept * sample_len);
                }
                kept += 1;
            }
            Err(e) if shared.config.on_corrupt == CorruptPolicy::Skip && e.is_corruption() => {
                let shard = shared.shards[planned.shard].path.clone();
                let key = loaded
                    .as_ref()
                    .ok()
                    .and_then(|r| r.key(planned.record).ok())
                    .unwrap_or("")
                    .to_owned();
                tracing::warn!(shard = %shard.display(), record = planned.record, key, error = %e, "skipping corrupt record");
                skipped.push(SkippedRecord {
                    shard,
                    index: planned.record,
                    key,
                    reason: e.to_string(),
                });
            }
            Err(e) => return Err(e),
        }
    }
    data.truncate(kept * sample_len);
    Ok(Batch {
        data,
        shape: [kept, t, c, h, w],
        labels,
        keys,
        wait: Duration::ZERO,
        index: job.index,
        skipped,
    })
}
