//! The engine's public interface: what `omnivox-serve` (or any other front
//! end) talks to.
//!
//! * [`GenerateRequest`] — one unit of work: a chat turn, text to speak, or
//!   audio to transcribe, with sampling parameters and the output mode.
//! * [`Event`] / [`EventStream`] — the reply, as an async stream of typed
//!   events (text, tool-call fragments, audio chunks, usage, finish, error).
//! * [`EngineError`] — why a request was refused or failed.
//! * [`Engine`] — the trait a running engine implements: model facts,
//!   `submit`, readiness and a metrics snapshot.
//!
//! # API boundary
//!
//! No HTTP, JSON wire shapes, base64 or audio container formats appear here:
//! audio goes in as decoded 16 kHz samples and comes out as 24 kHz samples.
//! No `B: Backend` appears either: the backend is chosen when the engine is
//! built and hidden behind `dyn Engine`.

mod error;
mod event;
mod request;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use error::EngineError;
pub use event::{
    AudioChunk, AudioDone, Event, FinishReason, OUTPUT_SAMPLE_RATE, TokenCounts, ToolCallDelta,
    TranscriptSegment, Usage,
};
pub use request::{
    AudioInput, ChatTask, ContentPart, GenerateRequest, INPUT_SAMPLE_RATE, Message, OutputMode,
    Role, SamplingParams, SpeakTask, SpeechOutput, Task, ToolCall, ToolChoice, ToolSpec,
    TranscribeTask,
};

/// The reply to one request: [`Event`]s in the documented order
/// (`AudioStarted` with speech output, deltas, then `AudioDone`, `Usage`,
/// `Finished` — or an `Error` as the last item; see [`Event`]).
///
/// **Dropping it cancels the request**: generation stops within one decode
/// step and the request's KV blocks return to the pool. This is how a client
/// that hangs up stops the work.
pub type EventStream = Pin<Box<dyn futures_core::Stream<Item = Event> + Send + 'static>>;

/// What [`Engine::submit`] returns: resolves once the request is admitted.
pub type SubmitFuture<'a> =
    Pin<Box<dyn Future<Output = Result<EventStream, EngineError>> + Send + 'a>>;

/// A running engine, shared by all connections (`Arc<dyn Engine>`).
pub trait Engine: Send + Sync {
    /// Facts about the served model. Constant for the engine's lifetime.
    fn info(&self) -> &ModelInfo;

    /// Validates `request`, queues it, and resolves once it is admitted to the
    /// running batch, with the stream of its events.
    ///
    /// Errors before admission come back here, so a caller can answer them
    /// before sending anything: [`EngineError::InvalidRequest`],
    /// [`EngineError::ContextLengthExceeded`] and
    /// [`EngineError::UnknownAudioId`] are found before any compute;
    /// [`EngineError::Overloaded`] after waiting at most the admission bound;
    /// [`EngineError::Unavailable`] while loading or shutting down. Errors
    /// after admission arrive as [`Event::Error`].
    ///
    /// Dropping the future before it resolves withdraws the request from the
    /// queue.
    fn submit(&self, request: GenerateRequest) -> SubmitFuture<'_>;

    /// Whether the engine takes work now.
    fn readiness(&self) -> Readiness;

    /// Instantaneous scheduler state, for `/metrics`. Cheap; called on every
    /// scrape.
    fn metrics(&self) -> EngineMetrics;
}

/// Facts about the served model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The name the model is served under (`qwen3-omni-30b-a3b-instruct`,
    /// `omnivox-demo`). Lowercase, no spaces. The server derives its
    /// date-stamped ids and aliases from it.
    pub served_name: String,
    /// When the checkpoint was made (or, for the demo, a fixed date), as Unix
    /// seconds. The server uses it for `created` and the date stamp.
    pub created: u64,
    /// Who published the weights (`qwen`, `omnivox`).
    pub owned_by: String,
    /// `true` for the tiny randomly initialised demo model, whose replies are
    /// noise. The server says so at start-up and in `/v1/models`.
    pub is_demo: bool,
    /// The voices speech can be made with. Empty when the checkpoint has no
    /// talker (text output only).
    pub voices: Vec<VoiceInfo>,
    /// The engine's default mapping of other voice names (OpenAI's `alloy`,
    /// `echo`, …; lower case) onto [`ModelInfo::voices`]. Empty: the caller
    /// picks its own mapping.
    pub voice_aliases: std::collections::BTreeMap<String, String>,
    /// Context window in tokens (prompt plus completion).
    pub context_limit: u32,
    /// At most this many text tokens per reply.
    pub max_output_text_tokens: u32,
    /// At most this many audio tokens (codec frames) per reply.
    pub max_output_audio_tokens: u32,
    /// How long a spoken reply stays referable by id (its `expires_at`).
    pub audio_ttl: Duration,
}

impl ModelInfo {
    /// Whether the model can speak.
    pub fn supports_speech(&self) -> bool {
        !self.voices.is_empty()
    }
}

/// One voice of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceInfo {
    /// The engine's name for it (`Chelsie`, `Ethan`).
    pub name: String,
    /// A few words about it, for listings.
    pub description: String,
}

/// Whether the engine takes work.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// Still loading or warming up. `progress` in 0–1 where known.
    Loading {
        stage: String,
        progress: Option<f32>,
    },
    /// Takes work.
    Ready,
    /// Will never take work; the reason is for logs and `/ready`.
    Failed { reason: String },
}

/// Scheduler state at one instant. Counters that only grow (tokens in and
/// out, latencies) are measured by the front end from the event streams it
/// consumes, so they are not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineMetrics {
    /// Requests admitted to nothing yet (waiting for a batch slot or KV
    /// blocks). vLLM's `num_requests_waiting`.
    pub waiting: u64,
    /// Requests in the running batch. vLLM's `num_requests_running`.
    pub running: u64,
    /// KV cache blocks in use.
    pub kv_blocks_used: u64,
    /// KV cache blocks in the pool (0 when the engine has no paged cache).
    pub kv_blocks_total: u64,
}

impl EngineMetrics {
    /// Used fraction of the KV block pool, 0–1 (0 when there is no pool).
    /// vLLM's `kv_cache_usage_perc`.
    pub fn kv_usage(&self) -> f64 {
        if self.kv_blocks_total == 0 {
            0.0
        } else {
            self.kv_blocks_used as f64 / self.kv_blocks_total as f64
        }
    }
}
