//! What the engine sends back: a stream of [`Event`]s (order: see [`Event`]).

use std::time::SystemTime;

use super::EngineError;

/// Sample rate of every [`AudioChunk`]: mono `f32` at 24 kHz, what Code2Wav
/// produces.
pub const OUTPUT_SAMPLE_RATE: u32 = 24_000;

/// One item of an [`crate::api::EventStream`].
///
/// # Order
///
/// A stream yields, in this order:
///
/// 0. with speech output ([`crate::api::OutputMode::Speech`]), first of all
///    exactly one [`Event::AudioStarted`] announcing the id the spoken reply
///    will be stored under (front ends stream that id before the audio);
/// 1. any number of [`Event::TextDelta`], [`Event::ToolCallDelta`],
///    [`Event::AudioChunk`] and [`Event::TranscriptSegment`], interleaved as
///    they are produced;
/// 2. with speech output, exactly one [`Event::AudioDone`] once the last
///    [`Event::AudioChunk`] has been sent (not when no audio was produced,
///    e.g. a turn that only called tools);
/// 3. exactly one [`Event::Usage`];
/// 4. exactly one [`Event::Finished`];
///
/// and then ends (`None`). An [`Event::Error`] may replace steps 2–4 at any
/// point; it is the last item of the stream. A consumer that drops the stream
/// cancels the work (see [`crate::api::Engine::submit`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Speech output only, and always first: the id the spoken reply will
    /// have ([`AudioDone::id`] repeats it). A turn that ends up only calling
    /// tools produces no audio; its id is then never stored.
    AudioStarted { id: String },
    /// More reply text. With speech output this is the transcript of the
    /// audio, produced ahead of it.
    TextDelta(String),
    /// Part of a tool call, as it is decoded.
    ToolCallDelta(ToolCallDelta),
    /// More synthesized speech.
    AudioChunk(AudioChunk),
    /// The spoken reply is complete and stored for later turns.
    AudioDone(AudioDone),
    /// A timed piece of a transcription ([`crate::api::Task::Transcribe`]
    /// only). Its text has also been sent as [`Event::TextDelta`]s; segments
    /// exist for subtitle formats and may be omitted by engines that cannot
    /// time their output.
    TranscriptSegment(TranscriptSegment),
    /// Tokens consumed and produced.
    Usage(Usage),
    /// Generation ended normally.
    Finished(FinishReason),
    /// Generation failed; nothing follows.
    Error(EngineError),
}

/// A fragment of one tool call. The first fragment of call `index` carries
/// its `id` and `name`; later ones carry only more `arguments` text.
/// Concatenating the `arguments` of all fragments with the same `index` gives
/// the call's complete JSON arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallDelta {
    /// 0 for the first call of the turn, 1 for the second, …
    pub index: u32,
    /// `call_…`, on the first fragment only.
    pub id: Option<String>,
    /// The function's name, on the first fragment only.
    pub name: Option<String>,
    /// More of the arguments' JSON text (may be empty).
    pub arguments: String,
}

/// A piece of synthesized speech, after the speed stretch.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioChunk {
    /// Mono `f32` samples in `[-1, 1]` at [`OUTPUT_SAMPLE_RATE`].
    pub samples: Vec<f32>,
    /// Where the chunk starts on the reply's timeline, in milliseconds. The
    /// first chunk starts at 0; each next one at the previous start plus its
    /// duration.
    pub start_ms: u64,
    /// `samples.len()` in milliseconds, rounded down.
    pub duration_ms: u64,
}

impl AudioChunk {
    /// A chunk of `samples` starting at `start_ms`; the duration follows from
    /// the sample count.
    pub fn new(samples: Vec<f32>, start_ms: u64) -> Self {
        let duration_ms = samples.len() as u64 * 1000 / u64::from(OUTPUT_SAMPLE_RATE);
        Self {
            samples,
            start_ms,
            duration_ms,
        }
    }
}

/// The spoken reply, finished and kept in the engine's audio store so a later
/// request can refer to it with [`crate::api::ContentPart::SpokenReply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDone {
    /// `audio_…`; unique; what later turns send back.
    pub id: String,
    /// When the store forgets it.
    pub expires_at: SystemTime,
    /// Everything that was spoken, as text.
    pub transcript: String,
}

/// A timed piece of a transcription.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptSegment {
    /// Start, in milliseconds from the beginning of the input.
    pub start_ms: u64,
    /// End, in milliseconds from the beginning of the input.
    pub end_ms: u64,
    /// The words spoken between `start_ms` and `end_ms`.
    pub text: String,
}

/// Token counts, each split by modality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// What the model read: text tokens of the rendered prompt, and audio
    /// tokens (encoder frames) of every audio input and earlier spoken reply.
    pub prompt: TokenCounts,
    /// Of `prompt`, how many were served from a prefix cache.
    pub cached_prompt_tokens: u32,
    /// What the model wrote: thinker text tokens, and talker codec frames.
    pub completion: TokenCounts,
}

/// A count of tokens by modality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCounts {
    pub text: u32,
    pub audio: u32,
}

impl TokenCounts {
    /// Text plus audio.
    pub fn total(&self) -> u32 {
        self.text.saturating_add(self.audio)
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End of turn, or a stop sequence.
    Stop,
    /// `max_completion_tokens` or a model limit was reached.
    Length,
    /// The model called one or more tools; the turn ends there.
    ToolCalls,
    /// The engine stopped the work itself (shutdown past its grace period).
    /// A consumer that drops the stream never sees this: it is gone.
    Cancelled,
}
