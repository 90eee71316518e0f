//! `POST /v1/audio/speech` and `POST /v1/audio/transcriptions` bodies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::unions::Voice;

/// `POST /v1/audio/speech`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpeechRequest {
    /// A model id from `GET /v1/models`.
    pub model: String,
    /// The text to speak, at most 4,096 characters.
    pub input: String,
    /// A built-in name (`alloy`, …), one of the model's voices, or `{"id":…}`.
    pub voice: Voice,
    /// Style instructions, at most 4,096 characters.
    #[serde(default)]
    pub instructions: Option<String>,
    /// `mp3` (default), `opus`, `aac`, `flac`, `wav`, `pcm`; `mulaw` as an
    /// extension.
    #[serde(default)]
    pub response_format: Option<String>,
    /// 0.25–4.0, default 1.
    #[serde(default)]
    pub speed: Option<f64>,
    /// `audio` (default: the encoded bytes, streamed as they are made) or
    /// `sse` (`speech.audio.delta` / `speech.audio.done` events).
    #[serde(default)]
    pub stream_format: Option<String>,
}

/// An SSE event of `POST /v1/audio/speech` with `stream_format: "sse"`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type")]
pub enum SpeechStreamEvent {
    /// More audio, base64 in `response_format`.
    #[serde(rename = "speech.audio.delta")]
    Delta { audio: String },
    /// The end.
    #[serde(rename = "speech.audio.done")]
    Done { usage: SpeechUsage },
}

/// Token usage of a speech request.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct SpeechUsage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub total_tokens: u32,
}

/// `POST /v1/audio/transcriptions` multipart fields (documentation only: the
/// handler reads the parts one by one).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TranscriptionForm {
    /// The recording: flac, mp3, mp4/m4a (where the audio crate decodes it),
    /// ogg, opus, wav, webm.
    #[schema(value_type = String, format = Binary)]
    pub file: String,
    pub model: String,
    /// ISO-639-1 hint.
    pub language: Option<String>,
    pub prompt: Option<String>,
    /// `json` (default), `text`, `srt`, `verbose_json`, `vtt`.
    pub response_format: Option<String>,
    pub temperature: Option<f64>,
    /// `segment` (with `verbose_json`); `word` is not supported.
    #[serde(rename = "timestamp_granularities[]")]
    pub timestamp_granularities: Option<Vec<String>>,
    /// Stream `transcript.text.delta` / `transcript.text.done` events.
    pub stream: Option<bool>,
}

/// `response_format: json`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Transcription {
    pub text: String,
    pub usage: TranscriptionUsage,
}

/// Token usage of a transcription.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct TranscriptionUsage {
    /// Always `tokens`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub input_tokens: u32,
    pub input_token_details: InputTokenDetails,
    pub output_tokens: u32,
    pub total_tokens: u32,
}

/// `usage.input_token_details`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct InputTokenDetails {
    pub text_tokens: u32,
    pub audio_tokens: u32,
}

/// `response_format: verbose_json`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TranscriptionVerbose {
    /// Always `transcribe`.
    pub task: &'static str,
    /// The `language` hint, or `unknown`.
    pub language: String,
    /// Seconds of input.
    pub duration: f64,
    pub text: String,
    pub segments: Vec<TranscriptionSegment>,
    pub usage: DurationUsage,
}

/// A timed segment (Whisper's fields; the statistics are not computed and
/// are 0).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TranscriptionSegment {
    pub id: u32,
    pub seek: u32,
    /// Seconds.
    pub start: f64,
    /// Seconds.
    pub end: f64,
    pub text: String,
    pub tokens: Vec<u32>,
    pub temperature: f64,
    pub avg_logprob: f64,
    pub compression_ratio: f64,
    pub no_speech_prob: f64,
}

/// `{"type":"duration","seconds":…}`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct DurationUsage {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub seconds: u64,
}

/// Streamed transcription events.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type")]
pub enum TranscriptionStreamEvent {
    #[serde(rename = "transcript.text.delta")]
    Delta { delta: String },
    #[serde(rename = "transcript.text.done")]
    Done {
        text: String,
        usage: TranscriptionUsage,
    },
}
