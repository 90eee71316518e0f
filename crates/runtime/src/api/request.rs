//! What a caller asks the engine for: a [`GenerateRequest`].
//!
//! These types are the engine's own vocabulary. They mirror the concepts of
//! OpenAI's chat API (roles, tools, sampling) because that is what omnivox
//! serves, but they carry no wire detail: audio arrives already decoded to
//! samples, voices are the engine's own names, and defaults are filled in.

use std::sync::Arc;

/// Sample rate of every [`AudioInput`]: mono `f32` at 16 kHz, what the audio
/// encoder's log-mel front end consumes.
pub const INPUT_SAMPLE_RATE: u32 = 16_000;

/// One unit of work for the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    /// An id chosen by the caller for logs and traces (e.g. `chatcmpl-…`).
    /// The engine never interprets it.
    pub request_id: String,
    /// What to do.
    pub task: Task,
    /// How to pick tokens.
    pub sampling: SamplingParams,
    /// Text only, or text plus synthesized speech.
    pub output: OutputMode,
}

/// The three things the engine can be asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// A conversation turn: the model answers the last message.
    Chat(ChatTask),
    /// Read `text` aloud, verbatim (`POST /v1/audio/speech`). The request's
    /// [`GenerateRequest::output`] is always [`OutputMode::Speech`].
    Speak(SpeakTask),
    /// Write down what is said in `audio` (`POST /v1/audio/transcriptions`).
    /// The request's output is [`OutputMode::Text`].
    Transcribe(TranscribeTask),
}

/// A conversation turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatTask {
    /// The conversation so far, oldest first. Never empty.
    pub messages: Vec<Message>,
    /// Functions the model may call. Empty means none.
    pub tools: Vec<ToolSpec>,
    /// Whether and which tool the model must call.
    pub tool_choice: ToolChoice,
    /// Whether the model may emit more than one call in one turn.
    pub parallel_tool_calls: bool,
}

/// Text to be spoken verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakTask {
    /// The text, at most what the caller's limits allow (the API: 4,096 chars).
    pub text: String,
    /// Optional style instructions ("speak slowly and warmly").
    pub instructions: Option<String>,
}

/// Audio to be transcribed.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscribeTask {
    /// The recording.
    pub audio: AudioInput,
    /// ISO-639-1 language hint (`"en"`), if the caller gave one.
    pub language: Option<String>,
    /// Text that precedes the audio, to guide spelling and style.
    pub prompt: Option<String>,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its content, in order. May be empty (an assistant turn that only
    /// called tools).
    pub content: Vec<ContentPart>,
    /// Calls the assistant made in this turn (assistant messages only).
    pub tool_calls: Vec<ToolCall>,
    /// For [`Role::Tool`]: the id of the call this message answers. `None`
    /// for legacy function results, which name the function instead.
    pub tool_call_id: Option<String>,
    /// For [`Role::Tool`]: the function's name when known; for other roles an
    /// optional participant name.
    pub name: Option<String>,
}

impl Message {
    /// A message holding one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: vec![ContentPart::Text(text.into())],
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }
}

/// The author of a [`Message`]. OpenAI's `developer` role maps to
/// [`Role::System`]; its legacy `function` role maps to [`Role::Tool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// One piece of a message's content.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// Plain text.
    Text(String),
    /// A recording, already decoded.
    Audio(AudioInput),
    /// An earlier spoken reply of the model, by the id the engine gave it in
    /// [`crate::api::AudioDone::id`]. The engine resolves it (transcript and
    /// codec tokens) through its audio store; an id it does not know is
    /// [`crate::api::EngineError::UnknownAudioId`].
    SpokenReply { audio_id: String },
}

/// Decoded audio: mono `f32` samples in `[-1, 1]` at [`INPUT_SAMPLE_RATE`].
/// Shared, so that cloning a request does not copy the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInput {
    pub samples: Arc<[f32]>,
}

impl AudioInput {
    /// Wraps samples that are already mono at [`INPUT_SAMPLE_RATE`].
    pub fn new(samples: impl Into<Arc<[f32]>>) -> Self {
        Self {
            samples: samples.into(),
        }
    }

    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / f64::from(INPUT_SAMPLE_RATE)
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The function's name (`[a-zA-Z0-9_-]{1,64}`, checked by the caller).
    pub name: String,
    /// What it does, for the model.
    pub description: Option<String>,
    /// Its parameters as a JSON Schema object. `{"type":"object","properties":{}}`
    /// when the caller gave none.
    pub parameters: serde_json::Value,
    /// The caller asked for strict schema adherence. With constrained
    /// decoding (`required` / named) calls always satisfy the schema anyway.
    pub strict: bool,
}

/// A call the assistant made earlier in the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The call's id (`call_…`), echoed by the tool message that answers it.
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The arguments as a JSON text, exactly as the model produced them.
    pub arguments: String,
}

/// Whether the model must call a tool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// Never call a tool; answer in text/speech.
    None,
    /// The model decides. The default when tools are given.
    #[default]
    Auto,
    /// Call at least one tool; decoding is constrained so the call is valid.
    Required,
    /// Call this function; decoding is constrained so the call is valid.
    Function(String),
}

/// How tokens are sampled. Ranges are checked by the caller against the API's
/// limits; the engine checks them again and answers
/// [`crate::api::EngineError::InvalidRequest`] naming the field.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0–2; 0 is greedy.
    pub temperature: f32,
    /// Nucleus mass in (0, 1]; 1 disables it.
    pub top_p: f32,
    /// Keep only the `k` most likely tokens; `None` disables it.
    pub top_k: Option<u32>,
    /// −2–2, OpenAI's additive penalty on tokens already present.
    pub presence_penalty: f32,
    /// −2–2, OpenAI's additive penalty proportional to a token's count.
    pub frequency_penalty: f32,
    /// > 0, the multiplicative (CTRL / transformers) penalty; 1 disables it.
    pub repetition_penalty: f32,
    /// Same seed and same request give the same output.
    pub seed: Option<u64>,
    /// Up to 4 strings; generation stops before any of them, which is not
    /// included in the output.
    pub stop: Vec<String>,
    /// Upper bound on completion tokens, text and audio together, as reported
    /// in [`crate::api::Usage::completion`]. `None`: the model's own limits
    /// ([`crate::api::ModelInfo::max_output_text_tokens`] and
    /// [`crate::api::ModelInfo::max_output_audio_tokens`]).
    pub max_completion_tokens: Option<u32>,
}

impl Default for SamplingParams {
    /// OpenAI's defaults: temperature 1, top_p 1, no penalties.
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: None,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            repetition_penalty: 1.0,
            seed: None,
            stop: Vec::new(),
            max_completion_tokens: None,
        }
    }
}

/// What the reply consists of.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum OutputMode {
    /// Text (and tool calls) only.
    #[default]
    Text,
    /// Text plus speech synthesized from it.
    Speech(SpeechOutput),
}

/// How to speak.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechOutput {
    /// One of [`crate::api::ModelInfo::voices`]' names (the caller maps API
    /// voice names such as `alloy` onto these).
    pub voice: String,
    /// Tempo, 0.25–4.0, pitch preserved; 1 is the model's natural pace.
    pub speed: f32,
}
