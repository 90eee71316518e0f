//! `POST /v1/chat/completions` responses: the whole `chat.completion` object
//! and the streamed `chat.completion.chunk`s, with OpenAI's field names.

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

/// A whole reply (`stream` false).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatCompletion {
    /// `chatcmpl-…`.
    pub id: String,
    /// Always `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// The date-stamped id of the served model.
    pub model: String,
    pub system_fingerprint: String,
    pub service_tier: &'static str,
    pub choices: Vec<Choice>,
    pub usage: CompletionUsage,
}

/// The one choice (`n` is always 1).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    /// Always null (log probabilities are not supported).
    #[schema(value_type = Option<Object>, required = true)]
    pub logprobs: Option<()>,
    /// `stop`, `length`, `tool_calls` or, for legacy `functions`,
    /// `function_call`.
    pub finish_reason: &'static str,
}

/// The assistant's reply.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssistantMessage {
    /// Always `assistant`.
    pub role: &'static str,
    /// The text; null with a spoken reply (its text is `audio.transcript`)
    /// and with tool calls and no text.
    #[schema(required = true)]
    pub content: Option<String>,
    /// Always null.
    #[schema(required = true)]
    pub refusal: Option<String>,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    pub annotations: Vec<()>,
    /// The spoken reply, when `modalities` had `audio`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<MessageAudio>,
    /// Calls to `tools`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallOut>>,
    /// The call to a legacy `functions` entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCallOut>,
}

/// `message.audio`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageAudio {
    /// `audio_…`: send it back as `{"role":"assistant","audio":{"id":…}}`
    /// until `expires_at`.
    pub id: String,
    /// Base64 of the whole reply in the requested `audio.format`.
    pub data: String,
    /// Unix seconds.
    pub expires_at: u64,
    /// What was said.
    pub transcript: String,
}

/// A tool call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToolCallOut {
    /// `call_…`.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCallOut,
}

/// Name and JSON arguments text.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FunctionCallOut {
    pub name: String,
    pub arguments: String,
}

/// `usage`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
pub struct CompletionUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    pub prompt_tokens_details: PromptTokensDetails,
    pub completion_tokens_details: CompletionTokensDetails,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
pub struct PromptTokensDetails {
    pub audio_tokens: u32,
    pub cached_tokens: u32,
    pub text_tokens: u32,
    pub image_tokens: u32,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
pub struct CompletionTokensDetails {
    pub audio_tokens: u32,
    pub reasoning_tokens: u32,
    pub text_tokens: u32,
    pub accepted_prediction_tokens: u32,
    pub rejected_prediction_tokens: u32,
}

impl From<omnivox_runtime::api::Usage> for CompletionUsage {
    fn from(u: omnivox_runtime::api::Usage) -> Self {
        let prompt = u.prompt.total();
        let completion = u.completion.total();
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            prompt_tokens_details: PromptTokensDetails {
                audio_tokens: u.prompt.audio,
                cached_tokens: u.cached_prompt_tokens,
                text_tokens: u.prompt.text,
                image_tokens: 0,
            },
            completion_tokens_details: CompletionTokensDetails {
                audio_tokens: u.completion.audio,
                reasoning_tokens: 0,
                text_tokens: u.completion.text,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

/// A field of a delta that can be absent, explicitly `null`, or set: OpenAI's
/// chunks use all three (`"content": null` in the first audio chunk, no
/// `content` later).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Set(v) => v.serialize(s),
            Self::Absent | Self::Null => s.serialize_none(),
        }
    }
}

/// One streamed chunk.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatCompletionChunk {
    /// The same `chatcmpl-…` on every chunk.
    pub id: String,
    /// Always `chat.completion.chunk`.
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub system_fingerprint: String,
    pub service_tier: &'static str,
    /// One entry; empty in the last chunk when `include_usage` is set.
    pub choices: Vec<ChunkChoice>,
    /// With `include_usage`: null on every chunk but the last.
    #[serde(skip_serializing_if = "Field::is_absent")]
    #[schema(value_type = Option<CompletionUsage>)]
    pub usage: Field<CompletionUsage>,
}

/// A chunk's choice.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    #[schema(value_type = Option<Object>, required = true)]
    pub logprobs: Option<()>,
    /// Set on the chunk that ends the reply.
    #[schema(required = true)]
    pub finish_reason: Option<&'static str>,
}

/// What a chunk adds.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Delta {
    #[serde(skip_serializing_if = "Field::is_absent")]
    #[schema(value_type = Option<String>)]
    pub role: Field<&'static str>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    #[schema(value_type = Option<String>)]
    pub content: Field<String>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    #[schema(value_type = Option<String>)]
    pub refusal: Field<String>,
    /// Spoken-reply fragments (OpenAI sends this though its published types
    /// omit it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<DeltaAudio>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<DeltaToolCall>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<DeltaFunction>,
}

/// `delta.audio`: each chunk carries some of these.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct DeltaAudio {
    /// On the first transcript chunk and the first data chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// More transcript.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// More audio: base64 of the next bytes of the stream in `audio.format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// omnivox extension (not with `pcm16`): where this data chunk starts in
    /// the reply, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    /// omnivox extension (not with `pcm16`): how much audio this data chunk
    /// completes, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// In the chunk after the one with `finish_reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// A tool-call fragment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeltaToolCall {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: DeltaFunction,
}

/// A function-call fragment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeltaFunction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub arguments: String,
}
