//! Speech out: the thinker's reply spoken as it is generated.
//!
//! thinker tokens → [`filter`] (what is never spoken: tool calls, think
//! blocks, special tokens; the transcript is exactly what passes) → talker
//! (one step per spoken token, then `tts_eos`, then `tts_pad`) → code
//! predictor (the frame's residual codes) → Code2Wav (streamed, frame by
//! frame) → 24 kHz samples.
//!
//! Reference: `Qwen3OmniMoeForConditionalGeneration.generate` in
//! transformers 5.24; see `omnivox_model::qwen3_omni::talker` for the
//! talker's input schedule and generation defaults.
//!
//! - [`model`]: [`SpeechModel`] — the talker side of a checkpoint, shared by
//!   every sequence; [`SpeechModel::start`] begins a sequence after the
//!   thinker's prefill, [`SpeechModel::step`] advances a **batch** of
//!   sequences by one talker step each (the runtime's continuous batching
//!   calls it with every sequence that [`TalkerState::is_ready`]).
//! - [`state`]: [`TalkerState`] — one sequence (KV cache, text queue,
//!   samplers, Code2Wav stream); [`SpeechSampling`].
//! - [`filter`]: [`SpokenFilter`] and [`Transcript`].
//! - [`voices`]: [`VoiceTable`] — speakers by name, OpenAI's voice names as
//!   aliases ([`OPENAI_VOICES`], overridable by [`VoiceConfig`]).
//! - [`session`]: [`SpeechSession`] — the single-request pipeline (thinker
//!   and speech interleaved token by token), the reference for the batched
//!   engine and what the end-to-end parity tests drive.
//!
//! **Latency.** The talker needs no look-ahead: its first frame needs only
//! the first spoken token (plus the prompt), and frame `k` needs spoken
//! token `k`. With Code2Wav streamed, the first audio comes after the
//! first generated thinker token (more if the reply opens with text that is
//! never spoken), one talker prefill, one code-predictor run and one
//! Code2Wav step.

mod error;
pub mod filter;
pub mod model;
pub mod session;
pub mod state;
pub mod voices;

pub use error::SpeechError;
pub use filter::{SILENT_SPANS, Spoken, SpokenFilter, SpokenFilterConfig, Transcript};
pub use model::{SpeechModel, SpeechStep};
pub use session::{SpeechEvent, SpeechRequest, SpeechSession, SpeechStream};
pub use state::{SpeechFinish, SpeechSampling, TalkerState};
pub use voices::{OPENAI_VOICES, Voice, VoiceConfig, VoiceError, VoiceTable};
