//! The engine: continuous batching over a paged KV cache, behind
//! [`api::Engine`](crate::api::Engine).
//!
//! - [`config`]: [`EngineConfig`], the knobs.
//! - [`start`] / [`start_on`]: open a checkpoint, return the engine at
//!   once (readiness `Loading`), load the weights on the engine thread.
//! - `prepare` / `messages`: a request becomes a prompt, limits and sampling
//!   parameters before it is queued — every client error is found there,
//!   before any model compute.
//! - `worker` (the engine thread: intake, admission, cancellation) and
//!   `step` (one forward pass for every running sequence: decodes and
//!   prefill chunks mixed, one sampling per sequence).
//! - `sequence` / `output` / `stream`: one running request, its output
//!   pipeline (detokenizer, tool-call parser, stop strings) and its events.
//!
//! Threads: one engine thread owns the model and the pool; `submit` runs on
//! the caller's async runtime (tokio), prepares the prompt on the blocking
//! pool, waits for a queue slot and admission (bounded by
//! [`EngineConfig::admission_timeout`]) and hands back the event stream.

mod config;
mod messages;
mod model;
mod output;
mod prepare;
mod sequence;
mod speaking;
mod step;
mod stream;
mod worker;

pub use config::EngineConfig;
pub use omnivox_model::Quantization;

use crate::api::{
    Engine, EngineError, EngineMetrics, GenerateRequest, ModelInfo, Readiness, SubmitFuture,
};
use crate::audio_store::AudioStore;
use crate::kv::{KvPool, KvSpec, PoolError};
use crate::speech::{SpeechModel, SpokenFilterConfig, VoiceConfig, VoiceTable};
use crate::tools::ToolVocab;
use burn::tensor::backend::Backend;
use omnivox_codec::StreamMode;
use omnivox_model::qwen3_omni::{
    GenerationConfig, Qwen3OmniCheckpoint, Qwen3OmniMoeConfig, Qwen3OmniThinker, RopeIndexConfig,
};
use omnivox_tokenizer::Qwen3OmniProcessor;
use prepare::{Limits, Preparer};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};
use tokio::sync::{Semaphore, oneshot};
use worker::{Submission, Worker};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// The CPU, on burn's flex backend.
    Cpu,
    /// CUDA device `n` (needs the `cuda` feature).
    Cuda(usize),
}

/// Why an engine could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The checkpoint's configs or weights.
    #[error("cannot open the checkpoint in {dir}: {source}")]
    Checkpoint {
        dir: PathBuf,
        #[source]
        source: Box<omnivox_model::Error>,
    },
    /// Tokenizer, chat template or feature extractor.
    #[error("cannot open the tokenizer in {dir}: {source}")]
    Tokenizer {
        dir: PathBuf,
        #[source]
        source: omnivox_tokenizer::Error,
    },
    /// The KV budget or shape.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The device is not available in this build.
    #[error(
        "device {0:?} is not available: this build has no CUDA support (build with `--features cuda`)"
    )]
    DeviceUnavailable(Device),
    /// The voice configuration does not fit the checkpoint.
    #[error("voices: {0}")]
    Voices(String),
    /// The engine thread could not be started.
    #[error("cannot start the engine thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// State shared by the engine handle and its thread.
#[derive(Debug)]
pub(crate) struct Shared {
    readiness: Mutex<Readiness>,
    /// Requests submitted and not yet admitted or refused.
    pending: AtomicUsize,
    running: AtomicUsize,
    kv_used: AtomicUsize,
    kv_total: AtomicUsize,
    stats: StatCounters,
}

/// What only the engine sees, counted since it started (for benchmarks,
/// logs and tests; `/metrics` gets [`EngineMetrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineStats {
    /// Forward passes run.
    pub steps: u64,
    /// Sequence-steps: each sequence counted once per step it took part in
    /// (`/ steps` is the mean batch size).
    pub sequence_steps: u64,
    /// Prompt (and re-prefill) tokens fed.
    pub prefill_tokens: u64,
    /// Decode tokens fed.
    pub decode_tokens: u64,
    /// Sequences that gave their blocks back to an older one.
    pub preemptions: u64,
}

#[derive(Debug, Default)]
pub(crate) struct StatCounters {
    steps: std::sync::atomic::AtomicU64,
    sequence_steps: std::sync::atomic::AtomicU64,
    prefill_tokens: std::sync::atomic::AtomicU64,
    decode_tokens: std::sync::atomic::AtomicU64,
    preemptions: std::sync::atomic::AtomicU64,
}

impl StatCounters {
    pub(crate) fn step(&self, sequences: usize, prefill: usize, decode: usize) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.sequence_steps
            .fetch_add(sequences as u64, Ordering::Relaxed);
        self.prefill_tokens
            .fetch_add(prefill as u64, Ordering::Relaxed);
        self.decode_tokens
            .fetch_add(decode as u64, Ordering::Relaxed);
    }

    pub(crate) fn preempted(&self) {
        self.preemptions.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> EngineStats {
        EngineStats {
            steps: self.steps.load(Ordering::Relaxed),
            sequence_steps: self.sequence_steps.load(Ordering::Relaxed),
            prefill_tokens: self.prefill_tokens.load(Ordering::Relaxed),
            decode_tokens: self.decode_tokens.load(Ordering::Relaxed),
            preemptions: self.preemptions.load(Ordering::Relaxed),
        }
    }
}

impl Shared {
    fn set_readiness(&self, r: Readiness) {
        *self
            .readiness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = r;
    }

    fn readiness(&self) -> Readiness {
        self.readiness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_metrics(&self, running: usize, kv_used: usize, kv_total: usize) {
        self.running.store(running, Ordering::Relaxed);
        self.kv_used.store(kv_used, Ordering::Relaxed);
        self.kv_total.store(kv_total, Ordering::Relaxed);
    }
}

/// Decrements `pending` when a submission resolves (or is dropped).
struct PendingGuard(Arc<Shared>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The engine behind [`Engine`] (see the module docs).
pub struct OmniEngine {
    info: ModelInfo,
    config: EngineConfig,
    shared: Arc<Shared>,
    preparer: Arc<Preparer>,
    slots: Arc<Semaphore>,
    tx: Mutex<std::sync::mpsc::Sender<Submission>>,
}

impl std::fmt::Debug for OmniEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmniEngine")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Starts an engine for the Qwen3-Omni checkpoint in `dir` on `device`,
/// with the backend that device needs (flex on the CPU, CUDA on a GPU).
pub fn start(
    dir: &Path,
    device: Device,
    config: EngineConfig,
    store: Arc<dyn AudioStore>,
) -> Result<Arc<dyn Engine>, StartError> {
    match device {
        Device::Cpu => {
            let engine = start_on::<burn_flex::Flex>(dir, Default::default(), config, store)?;
            Ok(engine)
        }
        #[cfg(feature = "cuda")]
        Device::Cuda(n) => {
            let engine =
                start_on::<burn_cuda::Cuda>(dir, burn_cuda::CudaDevice::new(n), config, store)?;
            Ok(engine)
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => Err(StartError::DeviceUnavailable(device)),
    }
}

/// [`start`] on an explicit backend (tests pick theirs).
pub fn start_on<B: Backend>(
    dir: &Path,
    device: B::Device,
    config: EngineConfig,
    store: Arc<dyn AudioStore>,
) -> Result<Arc<OmniEngine>, StartError> {
    let ckpt_err = |source| StartError::Checkpoint {
        dir: dir.to_path_buf(),
        source: Box::new(source),
    };
    let model_config = Qwen3OmniMoeConfig::from_file(dir.join("config.json")).map_err(ckpt_err)?;
    let generation = GenerationConfig::from_dir(dir).map_err(ckpt_err)?;
    let processor = Qwen3OmniProcessor::from_dir(dir).map_err(|source| StartError::Tokenizer {
        dir: dir.to_path_buf(),
        source,
    })?;
    let text = &model_config.thinker_config.text_config;
    let spec = model::kv_spec(text, config.kv_block_size);
    let plan = pool_plan(&spec, &config, text.max_position_embeddings)?;
    let context = (config.max_context as usize)
        .min(text.max_position_embeddings)
        .min(spec.token_capacity(&plan)) as u32;
    let voices = voice_table(&model_config, &config)?;
    let mut info = model_info(dir, &config, context);
    if let Some(v) = &voices {
        info.voices = v
            .speakers()
            .keys()
            .map(|name| crate::api::VoiceInfo {
                name: name.clone(),
                description: format!("speaker `{name}` of the checkpoint"),
            })
            .collect();
        info.voice_aliases = v.aliases().clone();
    }
    let mut stop_ids = generation.eos_token_id.clone();
    if stop_ids.is_empty() {
        stop_ids.push(model_config.im_end_token_id);
    }
    let vocab = Arc::new(ToolVocab::new(processor.tokenizer()));
    let tokenizer = processor.tokenizer().clone();
    let preparer = Arc::new(Preparer {
        rope: Some(RopeIndexConfig::from(&model_config.thinker_config)),
        processor,
        generation,
        stop_ids,
        limits: Limits {
            context,
            text: config.max_output_text_tokens,
            audio: config.max_output_audio_tokens,
        },
        store: Arc::clone(&store),
        voices: voices.clone(),
        tool_vocab: Arc::clone(&vocab),
        template_kwargs: config.template_kwargs.clone(),
        sanitize_control_tokens: config.sanitize_control_tokens,
    });
    let shared = Arc::new(Shared {
        readiness: Mutex::new(Readiness::Loading {
            stage: "loading weights".into(),
            progress: None,
        }),
        pending: AtomicUsize::new(0),
        running: AtomicUsize::new(0),
        kv_used: AtomicUsize::new(0),
        kv_total: AtomicUsize::new(0),
        stats: StatCounters::default(),
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let thread_shared = Arc::clone(&shared);
    let thread_config = config.clone();
    let dir_owned = dir.to_path_buf();
    let filter = Arc::new(SpokenFilterConfig::from_tokenizer(&tokenizer));
    let voice_config = config.voices.clone();
    let speaks = voices.is_some();
    std::thread::Builder::new()
        .name("omnivox-engine".into())
        .spawn(move || {
            let quant = omnivox_model::QuantConfig {
                method: thread_config.quantization,
                ..omnivox_model::QuantConfig::default()
            };
            let loaded = load::<B>(&dir_owned, speaks, &voice_config, &quant, &device).and_then(
                |(model, speech)| {
                    let pool = KvPool::<B>::new(spec, &plan, &device).map_err(|e| e.to_string())?;
                    Ok((model, speech, pool))
                },
            );
            let (model, speech, pool) = match loaded {
                Ok(m) => m,
                Err(reason) => {
                    tracing::error!(%reason, "the model failed to load");
                    thread_shared.set_readiness(Readiness::Failed { reason });
                    return;
                }
            };
            thread_shared.set_metrics(0, 0, pool.total_blocks());
            thread_shared.set_readiness(Readiness::Ready);
            tracing::info!("model loaded");
            Worker {
                model,
                pool: RefCell::new(pool),
                vocab,
                tokenizer,
                config: thread_config,
                shared: thread_shared,
                rx,
                waiting: VecDeque::new(),
                running: Vec::new(),
                next_order: 0,
                closing: false,
                speech,
                filter,
                store,
            }
            .run();
        })?;
    Ok(Arc::new(OmniEngine {
        info,
        slots: Arc::new(Semaphore::new(config.max_waiting.max(1))),
        config,
        shared,
        preparer,
        tx: Mutex::new(tx),
    }))
}

/// Thinker, and talker when the checkpoint speaks.
#[allow(clippy::type_complexity)]
fn load<B: Backend>(
    dir: &Path,
    speaks: bool,
    voices: &VoiceConfig,
    quant: &omnivox_model::QuantConfig,
    device: &B::Device,
) -> Result<(Qwen3OmniThinker<B>, Option<SpeechModel<B>>), String> {
    let ckpt = Qwen3OmniCheckpoint::open(dir).map_err(|e| e.to_string())?;
    let thinker = ckpt
        .load_thinker_with::<B>(device, quant)
        .map_err(|e| e.to_string())?;
    let speech = if speaks {
        let model = SpeechModel::load(&ckpt, &thinker, voices, StreamMode::Exact, device)
            .map_err(|e| format!("talker: {e}"))?;
        Some(model)
    } else {
        None
    };
    Ok((thinker, speech))
}

/// The checkpoint's voices, or `None` when it has no talker (or its audio
/// output is switched off).
fn voice_table(
    model: &Qwen3OmniMoeConfig,
    config: &EngineConfig,
) -> Result<Option<VoiceTable>, StartError> {
    let Some(talker) = model
        .talker_config
        .as_ref()
        .filter(|_| model.enable_audio_output)
    else {
        return Ok(None);
    };
    VoiceTable::new(&talker.speaker_id, &config.voices)
        .map(Some)
        .map_err(|e| StartError::Voices(e.to_string()))
}

/// The pool size: the configured budget, or what `max_running` sequences
/// of the full context need, whichever is smaller.
fn pool_plan(
    spec: &KvSpec,
    config: &EngineConfig,
    max_positions: usize,
) -> Result<Vec<usize>, PoolError> {
    let layers = spec.windows.iter().filter(|w| w.is_none()).count().max(1) as u64;
    let per_token = spec.block_bytes_per_layer() / spec.block_size as u64 * layers;
    let context = (config.max_context as usize).min(max_positions) as u64;
    let enough = per_token
        .saturating_mul(context + spec.block_size as u64)
        .saturating_mul(config.max_running as u64);
    let sliding = spec
        .plan(u64::MAX / 4, config.max_running, config.step_tokens)
        .map(|p| {
            spec.groups()
                .iter()
                .zip(&p)
                .filter(|((w, _), _)| w.is_some())
                .map(|((_, layers), blocks)| {
                    *blocks as u64 * spec.block_bytes_per_layer() * layers.len() as u64
                })
                .sum::<u64>()
        })?;
    let budget = config.kv_cache_bytes.min(enough.saturating_add(sliding));
    spec.plan(budget, config.max_running, config.step_tokens)
}

fn model_info(dir: &Path, config: &EngineConfig, context: u32) -> ModelInfo {
    let served_name = config.served_name.clone().unwrap_or_else(|| {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if name.is_empty() {
            "omnivox-model".into()
        } else {
            name
        }
    });
    let created = config.created.unwrap_or_else(|| {
        std::fs::metadata(dir.join("config.json"))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs())
    });
    ModelInfo {
        served_name,
        created,
        owned_by: config.owned_by.clone(),
        is_demo: config.is_demo,
        voices: Vec::new(),
        voice_aliases: Default::default(),
        context_limit: context,
        max_output_text_tokens: config.max_output_text_tokens,
        max_output_audio_tokens: config.max_output_audio_tokens,
        audio_ttl: config.audio_ttl,
    }
}

impl OmniEngine {
    /// The configuration it runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Counters since the engine started.
    pub fn stats(&self) -> EngineStats {
        self.shared.stats.snapshot()
    }

    async fn submit_inner(
        &self,
        request: GenerateRequest,
    ) -> Result<crate::api::EventStream, EngineError> {
        match self.shared.readiness() {
            Readiness::Ready => {}
            Readiness::Loading { stage, .. } => {
                return Err(EngineError::Unavailable {
                    reason: format!("the model is loading ({stage})"),
                });
            }
            Readiness::Failed { reason } => {
                return Err(EngineError::Unavailable {
                    reason: format!("the model failed to load: {reason}"),
                });
            }
        }
        self.shared.pending.fetch_add(1, Ordering::Relaxed);
        let _pending = PendingGuard(Arc::clone(&self.shared));
        let deadline = Instant::now() + self.config.admission_timeout;
        let permit =
            tokio::time::timeout_at(deadline.into(), Arc::clone(&self.slots).acquire_owned())
                .await
                .map_err(|_| EngineError::Overloaded {
                    retry_after: Duration::from_secs(1),
                    reason: format!("the queue of {} requests is full", self.config.max_waiting),
                })?
                .map_err(|_| EngineError::Unavailable {
                    reason: "the engine is shutting down".into(),
                })?;
        let preparer = Arc::clone(&self.preparer);
        let prepared = tokio::task::spawn_blocking(move || preparer.prepare(request))
            .await
            .map_err(|e| EngineError::Internal(format!("request preparation panicked: {e}")))??;
        let (reply, answer) = oneshot::channel();
        let sub = Submission {
            prepared,
            reply,
            deadline,
            permit,
        };
        self.tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(sub)
            .map_err(|_| EngineError::Unavailable {
                reason: "the engine thread has stopped".into(),
            })?;
        answer.await.map_err(|_| EngineError::Unavailable {
            reason: "the engine thread has stopped".into(),
        })?
    }
}

impl Engine for OmniEngine {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn submit(&self, request: GenerateRequest) -> SubmitFuture<'_> {
        Box::pin(self.submit_inner(request))
    }

    fn readiness(&self) -> Readiness {
        self.shared.readiness()
    }

    fn metrics(&self) -> EngineMetrics {
        let s = &self.shared;
        EngineMetrics {
            waiting: s.pending.load(Ordering::Relaxed) as u64,
            running: s.running.load(Ordering::Relaxed) as u64,
            kv_blocks_used: s.kv_used.load(Ordering::Relaxed) as u64,
            kv_blocks_total: s.kv_total.load(Ordering::Relaxed) as u64,
        }
    }
}
