//! `POST /v1/chat/completions` request body, as OpenAI defines it
//! (`CreateChatCompletionRequest`), plus omnivox's extensions.
//!
//! Parsing is structural only; ranges, combinations and audio decoding are
//! checked in `routes::chat::convert`, which names the parameter at fault.
//! Unknown top-level fields are rejected as OpenAI rejects them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::unions::{
    FunctionCallChoice, MessageContent, StopSequences, ToolChoiceParam, Voice, from_value, tagged,
    unknown_tag,
};

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatCompletionRequest {
    /// A model id from `GET /v1/models` (served name, date-stamped snapshot
    /// or alias).
    pub model: String,
    /// The conversation so far. At least one message.
    pub messages: Vec<ChatMessage>,
    /// `["text"]` (default) or `["text", "audio"]` for a spoken reply.
    #[serde(default)]
    pub modalities: Option<Vec<String>>,
    /// Required when `modalities` contains `"audio"`.
    #[serde(default)]
    pub audio: Option<AudioOutputParam>,
    /// omnivox extension: speech tempo 0.25–4.0 (also accepted as
    /// `audio.speed`).
    #[serde(default)]
    pub speed: Option<f64>,
    /// 0–2, default 1. 0 is greedy.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// (0, 1], default 1.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// omnivox extension (as in vLLM): keep the k most likely tokens; 0 or -1
    /// disables.
    #[serde(default)]
    pub top_k: Option<i64>,
    /// −2–2, default 0.
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    /// −2–2, default 0.
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    /// omnivox extension (as in vLLM): multiplicative penalty > 0, default 1.
    #[serde(default)]
    pub repetition_penalty: Option<f64>,
    /// Same seed and same request give the same reply.
    #[serde(default)]
    pub seed: Option<i64>,
    /// Up to 4 sequences where generation stops.
    #[serde(default)]
    pub stop: Option<StopSequences>,
    /// Upper bound on completion tokens (text and audio).
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    /// Deprecated alias of `max_completion_tokens`, still sent by older
    /// clients.
    #[serde(default)]
    pub max_tokens: Option<i64>,
    /// Must be 1.
    #[serde(default)]
    pub n: Option<i64>,
    /// Stream the reply as server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Only with `stream: true`.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Functions the model may call.
    #[serde(default)]
    pub tools: Option<Vec<ToolParam>>,
    /// `none`, `auto`, `required` or `{"type":"function","function":{"name"}}`.
    #[serde(default)]
    pub tool_choice: Option<ToolChoiceParam>,
    /// Allow several calls in one turn (default true).
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// Deprecated form of `tools`.
    #[serde(default)]
    pub functions: Option<Vec<FunctionDef>>,
    /// Deprecated form of `tool_choice`.
    #[serde(default)]
    pub function_call: Option<FunctionCallChoice>,
    /// Not supported: `true` is a 400.
    #[serde(default)]
    pub logprobs: Option<bool>,
    /// Not supported: a value above 0 is a 400.
    #[serde(default)]
    pub top_logprobs: Option<i64>,
    /// Not supported: a non-empty map is a 400.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub logit_bias: Option<Value>,
    /// Only `{"type":"text"}` is supported.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<Value>,
    /// Accepted and ignored (metadata for OpenAI's own dashboards).
    #[serde(default)]
    pub user: Option<String>,
    /// Accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Accepted and ignored (nothing is stored beyond spoken replies' TTL).
    #[serde(default)]
    pub store: Option<bool>,
    /// Accepted and ignored.
    #[serde(default)]
    pub service_tier: Option<String>,
    /// Accepted and ignored.
    #[serde(default)]
    pub safety_identifier: Option<String>,
    /// Accepted and ignored.
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
}

/// One message. `role` selects which fields apply.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    /// Instructions.
    System(SystemMessage),
    /// Instructions (OpenAI's newer name for `system`).
    Developer(SystemMessage),
    /// The user's turn: text, `input_audio` and `audio_url` parts.
    User(UserMessage),
    /// An earlier reply: text, tool calls, or a spoken reply by `audio.id`.
    Assistant(AssistantMessageParam),
    /// A tool's result.
    Tool(ToolMessage),
    /// A legacy function result.
    Function(FunctionMessage),
}

/// `system` / `developer`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct SystemMessage {
    pub content: MessageContent,
    #[serde(default)]
    pub name: Option<String>,
}

/// `user`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct UserMessage {
    pub content: MessageContent,
    #[serde(default)]
    pub name: Option<String>,
}

/// `assistant`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AssistantMessageParam {
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// An earlier spoken reply.
    #[serde(default)]
    pub audio: Option<AssistantAudioRef>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallParam>>,
    #[serde(default)]
    pub function_call: Option<FunctionCallParam>,
    #[serde(default)]
    pub refusal: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `tool`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ToolMessage {
    pub content: MessageContent,
    pub tool_call_id: String,
}

/// `function` (legacy).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct FunctionMessage {
    #[serde(default)]
    pub content: Option<String>,
    pub name: String,
}

impl<'de> Deserialize<'de> for ChatMessage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (tag, value) = tagged(d, "role")?;
        Ok(match tag.as_str() {
            "system" => Self::System(from_value(value)?),
            "developer" => Self::Developer(from_value(value)?),
            "user" => Self::User(from_value(value)?),
            "assistant" => Self::Assistant(from_value(value)?),
            "tool" => Self::Tool(from_value(value)?),
            "function" => Self::Function(from_value(value)?),
            other => return Err(unknown_tag::<D::Error>("role", other, ROLES)),
        })
    }
}

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// One part of a message's content.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPartParam {
    /// Text.
    Text(TextPart),
    /// Base64 audio with its format.
    InputAudio(InputAudioPart),
    /// omnivox extension (as in vLLM): audio as a `data:` URL.
    AudioUrl(AudioUrlPart),
    /// Not supported by this model: a 400.
    #[schema(value_type = Object)]
    ImageUrl(Value),
    /// Not supported: a 400.
    #[schema(value_type = Object)]
    File(Value),
    /// In assistant messages: a refusal, kept as text.
    Refusal(RefusalPart),
}

/// `{"type":"text","text":…}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct TextPart {
    pub text: String,
}

/// `{"type":"input_audio","input_audio":{…}}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct InputAudioPart {
    pub input_audio: InputAudio,
}

/// `{"type":"audio_url","audio_url":{"url":…}}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AudioUrlPart {
    pub audio_url: AudioUrl,
}

/// `{"type":"refusal","refusal":…}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct RefusalPart {
    pub refusal: String,
}

impl<'de> Deserialize<'de> for ContentPartParam {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (tag, value) = tagged(d, "type")?;
        Ok(match tag.as_str() {
            "text" => Self::Text(from_value(value)?),
            "input_audio" => Self::InputAudio(from_value(value)?),
            "audio_url" => Self::AudioUrl(from_value(value)?),
            "image_url" => Self::ImageUrl(value),
            "file" => Self::File(value),
            "refusal" => Self::Refusal(from_value(value)?),
            other => return Err(unknown_tag::<D::Error>("type", other, PART_TYPES)),
        })
    }
}

const PART_TYPES: &[&str] = &[
    "text",
    "input_audio",
    "audio_url",
    "image_url",
    "file",
    "refusal",
];

/// `input_audio`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct InputAudio {
    /// Base64 (standard alphabet), no `data:` prefix.
    pub data: String,
    /// `wav` or `mp3` as in OpenAI; `flac`, `opus`, `ogg`, `webm`, `pcm16`
    /// (24 kHz), `mulaw` as extensions. A label that contradicts the bytes is
    /// corrected by sniffing.
    pub format: String,
}

/// `audio_url`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AudioUrl {
    /// `data:audio/<type>;base64,<data>`. Remote URLs are not fetched.
    pub url: String,
}

/// `audio` on an assistant message: an earlier spoken reply.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AssistantAudioRef {
    /// The `audio.id` of that reply.
    pub id: String,
}

/// `audio` on the request: how to speak.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AudioOutputParam {
    /// A built-in name (`alloy`, …), one of the model's own voices, or
    /// `{"id": …}`.
    #[serde(default)]
    pub voice: Option<Voice>,
    /// `wav`, `mp3`, `flac`, `opus`, `pcm16`, `aac` as in OpenAI; `mulaw` as
    /// an extension.
    #[serde(default)]
    pub format: Option<String>,
    /// omnivox extension: tempo 0.25–4.0.
    #[serde(default)]
    pub speed: Option<f64>,
}

/// `stream_options`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` and empty `choices`.
    #[serde(default)]
    pub include_usage: Option<bool>,
    /// Accepted and ignored (no obfuscation padding is sent).
    #[serde(default)]
    pub include_obfuscation: Option<bool>,
}

/// An entry of `tools`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ToolParam {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDef,
}

/// A function definition (in `tools[].function` and legacy `functions`).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct FunctionDef {
    /// `[a-zA-Z0-9_-]{1,64}`.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A JSON Schema object; omitted means no parameters.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// A tool call in an earlier assistant message.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ToolCallParam {
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub function: FunctionCallParam,
}

/// A function call: name and JSON arguments text.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct FunctionCallParam {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}
