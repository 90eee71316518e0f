//! Chat `messages` → the engine's [`Message`]s, decoding audio on the way.
//! Errors name the exact part: `messages[2].content[1].input_audio.data`.

use base64::Engine as _;
use omnivox_runtime::api::{AudioInput, ContentPart, Message, Role, ToolCall};

use crate::api_error::ApiError;
use crate::audio_io;
use crate::state::AppState;
use crate::wire::chat_request::{
    AssistantMessageParam, AudioUrlPart, ChatMessage, ContentPartParam, FunctionMessage,
    InputAudioPart, RefusalPart, SystemMessage, TextPart, ToolMessage, UserMessage,
};
use crate::wire::unions::MessageContent;

/// Decodes audio inputs against one request-wide budget of seconds.
struct AudioBudget<'a> {
    state: &'a AppState,
    secs_left: f64,
}

/// The converted messages, and each audio id referred to with its param path.
pub type Converted = (Vec<Message>, Vec<(String, String)>);

/// Converts every message.
pub fn convert_messages(
    messages: Vec<ChatMessage>,
    state: &AppState,
) -> Result<Converted, ApiError> {
    let limits = &state.config().limits;
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "'messages' must contain at least one message.",
        ));
    }
    if messages.len() > limits.max_messages {
        return Err(ApiError::invalid(
            "messages",
            format!(
                "'messages' has {} entries; this server takes at most {}.",
                messages.len(),
                limits.max_messages
            ),
        ));
    }
    let mut budget = AudioBudget {
        state,
        secs_left: limits.max_audio_seconds,
    };
    let mut out = Vec::with_capacity(messages.len());
    let mut refs = Vec::new();
    for (i, m) in messages.into_iter().enumerate() {
        out.push(convert_one(
            m,
            &format!("messages[{i}]"),
            &mut budget,
            &mut refs,
        )?);
    }
    Ok((out, refs))
}

fn convert_one(
    m: ChatMessage,
    at: &str,
    budget: &mut AudioBudget<'_>,
    refs: &mut Vec<(String, String)>,
) -> Result<Message, ApiError> {
    let plain = |role, content| Message {
        role,
        content,
        tool_calls: Vec::new(),
        tool_call_id: None,
        name: None,
    };
    Ok(match m {
        ChatMessage::System(SystemMessage { content, name })
        | ChatMessage::Developer(SystemMessage { content, name }) => Message {
            name,
            ..plain(Role::System, text_only(content, at)?)
        },
        ChatMessage::User(UserMessage { content, name }) => Message {
            name,
            ..plain(Role::User, user_content(content, at, budget)?)
        },
        ChatMessage::Tool(ToolMessage {
            content,
            tool_call_id,
        }) => Message {
            tool_call_id: Some(tool_call_id),
            ..plain(Role::Tool, text_only(content, at)?)
        },
        ChatMessage::Function(FunctionMessage { content, name }) => Message {
            name: Some(name),
            ..plain(
                Role::Tool,
                vec![ContentPart::Text(content.unwrap_or_default())],
            )
        },
        ChatMessage::Assistant(a) => assistant(a, at, refs)?,
    })
}

/// An earlier assistant turn: text, a spoken reply by id, tool calls.
fn assistant(
    a: AssistantMessageParam,
    at: &str,
    refs: &mut Vec<(String, String)>,
) -> Result<Message, ApiError> {
    let mut parts = match a.content {
        Some(c) => text_only(c, at)?,
        None => Vec::new(),
    };
    if let Some(r) = a.refusal {
        parts.push(ContentPart::Text(r));
    }
    if let Some(audio) = a.audio {
        if audio.id.is_empty() {
            return Err(ApiError::invalid(
                format!("{at}.audio.id"),
                "The audio id must not be empty.",
            ));
        }
        refs.push((audio.id.clone(), format!("{at}.audio.id")));
        parts.push(ContentPart::SpokenReply { audio_id: audio.id });
    }
    let mut calls: Vec<ToolCall> = a
        .tool_calls
        .into_iter()
        .flatten()
        .map(|c| ToolCall {
            id: c.id,
            name: c.function.name,
            arguments: c.function.arguments,
        })
        .collect();
    if let Some(f) = a.function_call {
        calls.push(ToolCall {
            id: format!("call_legacy_{}", calls.len()),
            name: f.name,
            arguments: f.arguments,
        });
    }
    if parts.is_empty() && calls.is_empty() {
        return Err(ApiError::invalid(
            format!("{at}.content"),
            "An assistant message needs 'content', 'audio', 'tool_calls' or 'function_call'.",
        ));
    }
    Ok(Message {
        role: Role::Assistant,
        content: parts,
        tool_calls: calls,
        tool_call_id: None,
        name: a.name,
    })
}

/// Content that may only hold text (system, tool and assistant messages).
fn text_only(content: MessageContent, at: &str) -> Result<Vec<ContentPart>, ApiError> {
    match content {
        MessageContent::Text(t) => Ok(vec![ContentPart::Text(t)]),
        MessageContent::Parts(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(j, p)| match p {
                ContentPartParam::Text(TextPart { text })
                | ContentPartParam::Refusal(RefusalPart { refusal: text }) => {
                    Ok(ContentPart::Text(text))
                }
                other => Err(ApiError::unsupported_value(
                    format!("{at}.content[{j}].type"),
                    part_type(&other),
                    &["text"],
                )),
            })
            .collect(),
    }
}

/// A user's content: text and audio.
fn user_content(
    content: MessageContent,
    at: &str,
    budget: &mut AudioBudget<'_>,
) -> Result<Vec<ContentPart>, ApiError> {
    let parts = match content {
        MessageContent::Text(t) => return Ok(vec![ContentPart::Text(t)]),
        MessageContent::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.into_iter().enumerate() {
        let here = format!("{at}.content[{j}]");
        out.push(match p {
            ContentPartParam::Text(TextPart { text }) => ContentPart::Text(text),
            ContentPartParam::InputAudio(InputAudioPart { input_audio }) => {
                let hint = audio_io::input_format(
                    &input_audio.format,
                    &format!("{here}.input_audio.format"),
                )?;
                let param = format!("{here}.input_audio.data");
                let bytes = base64_audio(&input_audio.data, &param, budget.state)?;
                budget.decode(&bytes, Some(hint), &param)?
            }
            ContentPartParam::AudioUrl(AudioUrlPart { audio_url }) => {
                let param = format!("{here}.audio_url.url");
                let (mime, data) = data_url(&audio_url.url, &param)?;
                let bytes = base64_audio(data, &param, budget.state)?;
                budget.decode(&bytes, audio_io::format_from_mime(mime), &param)?
            }
            other => {
                return Err(ApiError::unsupported_value(
                    format!("{here}.type"),
                    part_type(&other),
                    &["text", "input_audio", "audio_url"],
                ));
            }
        });
    }
    Ok(out)
}

impl AudioBudget<'_> {
    fn decode(
        &mut self,
        bytes: &[u8],
        hint: Option<omnivox_audio::Format>,
        param: &str,
    ) -> Result<ContentPart, ApiError> {
        let limits = &self.state.config().limits;
        if self.secs_left <= 0.0 {
            return Err(ApiError::too_large(
                Some(param),
                format!(
                    "The request's audio is longer than this server's limit of {} seconds.",
                    limits.max_audio_seconds
                ),
            ));
        }
        let samples = audio_io::decode_input(bytes, hint, limits, self.secs_left, param)?;
        let input = AudioInput::new(samples);
        self.secs_left -= input.duration_secs();
        Ok(ContentPart::Audio(input))
    }
}

/// Decodes base64 audio, refusing (413) before decoding when it would exceed
/// the audio size limit.
fn base64_audio(data: &str, param: &str, state: &AppState) -> Result<Vec<u8>, ApiError> {
    let limit = state.config().limits.max_audio_bytes;
    let data = data.trim();
    if data.len() / 4 * 3 > limit.saturating_add(3) {
        return Err(ApiError::too_large(
            Some(param),
            format!("Audio input '{param}' is larger than this server's limit of {limit} bytes."),
        ));
    }
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(data).map_err(|e| {
        ApiError::invalid(
            param,
            format!("Audio input '{param}' is not valid base64: {e}."),
        )
    })
}

/// Splits `data:<mime>;base64,<data>`; only base64 data URLs are taken.
fn data_url<'a>(url: &'a str, param: &str) -> Result<(&'a str, &'a str), ApiError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(ApiError::invalid(
            param,
            "Only 'data:' URLs are accepted for audio_url; this server does not fetch remote URLs.",
        ));
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(ApiError::invalid(
            param,
            "Malformed data URL: no ',' before the data.",
        ));
    };
    let Some(mime) = meta.strip_suffix(";base64") else {
        return Err(ApiError::invalid(
            param,
            "Only base64 data URLs ('data:audio/…;base64,…') are accepted.",
        ));
    };
    Ok((mime, data))
}

fn part_type(p: &ContentPartParam) -> &'static str {
    match p {
        ContentPartParam::Text(_) => "text",
        ContentPartParam::InputAudio(_) => "input_audio",
        ContentPartParam::AudioUrl(_) => "audio_url",
        ContentPartParam::ImageUrl(_) => "image_url",
        ContentPartParam::File(_) => "file",
        ContentPartParam::Refusal(_) => "refusal",
    }
}
