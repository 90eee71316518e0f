//! A parsed chat request → the engine's [`GenerateRequest`] and a
//! [`ChatPlan`] saying how to shape the reply. Every check that blames the
//! client happens here (or in `messages`), before the engine sees anything,
//! and names the parameter at fault.

use omnivox_audio::Format;
use omnivox_runtime::api::{
    ChatTask, GenerateRequest, OutputMode, SamplingParams, SpeechOutput, Task, ToolChoice, ToolSpec,
};
use serde_json::Value;

use super::messages::convert_messages;
use crate::api_error::ApiError;
use crate::audio_io::{self, CHAT_OUTPUT_FORMATS};
use crate::state::AppState;
use crate::wire::chat_request::{ChatCompletionRequest, FunctionDef};
use crate::wire::unions::{FunctionCallChoice, StopSequences, ToolChoiceParam};

/// How to shape the reply to one chat request.
#[derive(Debug)]
pub struct ChatPlan {
    /// The snapshot id responses name.
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    /// `Some` with speech output.
    pub audio_format: Option<Format>,
    /// The request used legacy `functions`: answer with `function_call`.
    pub legacy_functions: bool,
    /// Audio ids the request referred to, and where (for error messages).
    pub audio_refs: Vec<(String, String)>,
}

/// Checks and converts. Decodes audio, so call it off the async threads.
pub fn convert(
    req: ChatCompletionRequest,
    state: &AppState,
    id: &str,
) -> Result<(GenerateRequest, ChatPlan), ApiError> {
    let model = state.models().resolve(&req.model)?.to_owned();
    check_unsupported(&req)?;
    let stream = req.stream.unwrap_or(false);
    if req.stream_options.is_some() && !stream {
        return Err(ApiError::invalid(
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ));
    }
    let include_usage = req
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let (output, audio_format) = output_mode(&req, state)?;
    let sampling = sampling(&req, state)?;
    let (tools, legacy_functions) = tools(&req)?;
    let tool_choice = tool_choice(&req, &tools, legacy_functions)?;
    let (messages, audio_refs) = convert_messages(req.messages, state)?;
    let task = Task::Chat(ChatTask {
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true) && !legacy_functions,
    });
    let request = GenerateRequest {
        request_id: id.to_owned(),
        task,
        sampling,
        output,
    };
    let plan = ChatPlan {
        model,
        stream,
        include_usage,
        audio_format,
        legacy_functions,
        audio_refs,
    };
    Ok((request, plan))
}

/// Parameters OpenAI has that this server refuses rather than ignores.
fn check_unsupported(req: &ChatCompletionRequest) -> Result<(), ApiError> {
    if let Some(n) = req.n
        && n != 1
    {
        return Err(ApiError::invalid(
            "n",
            format!(
                "Invalid value for 'n': {n}. This server generates one choice per request; 'n' must be 1."
            ),
        ));
    }
    if req.logprobs == Some(true) {
        return Err(ApiError::unsupported_param(
            "logprobs",
            "is not supported by this server.",
        ));
    }
    if req.top_logprobs.is_some_and(|n| n != 0) {
        return Err(ApiError::unsupported_param(
            "top_logprobs",
            "is not supported by this server.",
        ));
    }
    match &req.logit_bias {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) if m.is_empty() => {}
        Some(_) => {
            return Err(ApiError::unsupported_param(
                "logit_bias",
                "is not supported by this server.",
            ));
        }
    }
    match &req.response_format {
        None | Some(Value::Null) => {}
        Some(v) => {
            let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
            if kind != "text" {
                return Err(ApiError::unsupported_value(
                    "response_format.type",
                    kind,
                    &["text"],
                ));
            }
        }
    }
    Ok(())
}

/// `modalities`, `audio` and `speed` → the output mode and audio format.
fn output_mode(
    req: &ChatCompletionRequest,
    state: &AppState,
) -> Result<(OutputMode, Option<Format>), ApiError> {
    let mut wants_audio = false;
    for (i, m) in req.modalities.iter().flatten().enumerate() {
        match m.as_str() {
            "text" => {}
            "audio" => wants_audio = true,
            other => {
                return Err(ApiError::unsupported_value(
                    format!("modalities[{i}]"),
                    other,
                    &["text", "audio"],
                ));
            }
        }
    }
    let speed = speed(req)?;
    if !wants_audio {
        return Ok((OutputMode::Text, None));
    }
    if !state.voices().can_speak() {
        return Err(ApiError::invalid(
            "modalities",
            "This model cannot produce audio output; use modalities [\"text\"].",
        ));
    }
    let Some(audio) = &req.audio else {
        return Err(ApiError::missing("audio"));
    };
    let Some(voice) = &audio.voice else {
        return Err(ApiError::missing("audio.voice"));
    };
    let Some(format) = &audio.format else {
        return Err(ApiError::missing("audio.format"));
    };
    let voice = state.voices().resolve(voice, "audio.voice")?;
    let format = audio_io::output_format(format, "audio.format", CHAT_OUTPUT_FORMATS)?;
    Ok((
        OutputMode::Speech(SpeechOutput { voice, speed }),
        Some(format),
    ))
}

/// `audio.speed`, else top-level `speed`, else 1.
fn speed(req: &ChatCompletionRequest) -> Result<f32, ApiError> {
    let (value, param) = match (req.audio.as_ref().and_then(|a| a.speed), req.speed) {
        (Some(s), _) => (s, "audio.speed"),
        (None, Some(s)) => (s, "speed"),
        (None, None) => return Ok(1.0),
    };
    check_speed(value, param)
}

/// 0.25–4.0.
pub fn check_speed(value: f64, param: &str) -> Result<f32, ApiError> {
    if (0.25..=4.0).contains(&value) {
        Ok(value as f32)
    } else {
        Err(ApiError::invalid(
            param,
            format!("Invalid value for '{param}': {value}. It must be between 0.25 and 4.0."),
        ))
    }
}

/// A number within `[lo, hi]`, else a 400 naming `param`.
fn in_range(
    value: Option<f64>,
    param: &str,
    lo: f64,
    hi: f64,
    default: f64,
) -> Result<f32, ApiError> {
    let v = value.unwrap_or(default);
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(v as f32)
    } else {
        Err(ApiError::invalid(
            param,
            format!("Invalid value for '{param}': {v}. It must be between {lo} and {hi}."),
        ))
    }
}

fn sampling(req: &ChatCompletionRequest, state: &AppState) -> Result<SamplingParams, ApiError> {
    let mut temperature = in_range(req.temperature, "temperature", 0.0, 2.0, 1.0)?;
    let mut top_p = in_range(req.top_p, "top_p", 0.0, 1.0, 1.0)?;
    if top_p == 0.0 {
        // Only the most likely token survives: that is greedy decoding.
        temperature = 0.0;
        top_p = 1.0;
    }
    Ok(SamplingParams {
        temperature,
        top_p,
        top_k: top_k(req.top_k)?,
        presence_penalty: in_range(req.presence_penalty, "presence_penalty", -2.0, 2.0, 0.0)?,
        frequency_penalty: in_range(req.frequency_penalty, "frequency_penalty", -2.0, 2.0, 0.0)?,
        repetition_penalty: in_range(
            req.repetition_penalty,
            "repetition_penalty",
            0.01,
            10.0,
            1.0,
        )?,
        seed: req.seed.map(|s| s as u64),
        stop: stop(req.stop.as_ref())?,
        max_completion_tokens: max_tokens(req, state)?,
    })
}

/// `top_k`: positive, or 0 / -1 to disable.
fn top_k(value: Option<i64>) -> Result<Option<u32>, ApiError> {
    match value {
        None | Some(0) | Some(-1) => Ok(None),
        Some(k) if k > 0 => Ok(Some(u32::try_from(k).unwrap_or(u32::MAX))),
        Some(k) => Err(ApiError::invalid(
            "top_k",
            format!(
                "Invalid value for 'top_k': {k}. Use a positive number, or 0 or -1 to disable it."
            ),
        )),
    }
}

/// `stop`: up to 4 non-empty strings.
fn stop(value: Option<&StopSequences>) -> Result<Vec<String>, ApiError> {
    let stop = match value {
        None => Vec::new(),
        Some(StopSequences::One(s)) => vec![s.clone()],
        Some(StopSequences::Many(v)) => v.clone(),
    };
    if stop.len() > 4 {
        return Err(ApiError::invalid(
            "stop",
            "'stop' takes at most 4 sequences.",
        ));
    }
    if stop.iter().any(String::is_empty) {
        return Err(ApiError::invalid(
            "stop",
            "Stop sequences must not be empty.",
        ));
    }
    Ok(stop)
}

/// `max_completion_tokens`, else the deprecated `max_tokens`: 1 to the
/// context length.
fn max_tokens(req: &ChatCompletionRequest, state: &AppState) -> Result<Option<u32>, ApiError> {
    let (max, param) = match (req.max_completion_tokens, req.max_tokens) {
        (Some(m), _) => (m, "max_completion_tokens"),
        (None, Some(m)) => (m, "max_tokens"),
        (None, None) => return Ok(None),
    };
    let limit = i64::from(state.info().context_limit);
    if (1..=limit).contains(&max) {
        Ok(Some(max as u32))
    } else {
        Err(ApiError::invalid(
            param,
            format!(
                "Invalid value for '{param}': {max}. It must be between 1 and {limit}, this model's context length."
            ),
        ))
    }
}

/// `tools` or legacy `functions` → tool specs; also says which was used.
fn tools(req: &ChatCompletionRequest) -> Result<(Vec<ToolSpec>, bool), ApiError> {
    if req.tools.is_some() && req.functions.is_some() {
        return Err(ApiError::invalid(
            "functions",
            "Use either 'tools' or the deprecated 'functions', not both.",
        ));
    }
    let mut specs = Vec::new();
    if let Some(tools) = &req.tools {
        check_count(tools.len(), "tools")?;
        for (i, t) in tools.iter().enumerate() {
            if t.kind != "function" {
                return Err(ApiError::unsupported_value(
                    format!("tools[{i}].type"),
                    &t.kind,
                    &["function"],
                ));
            }
            specs.push(spec(&t.function, &format!("tools[{i}].function"), &specs)?);
        }
        return Ok((specs, false));
    }
    if let Some(functions) = &req.functions {
        check_count(functions.len(), "functions")?;
        for (i, f) in functions.iter().enumerate() {
            specs.push(spec(f, &format!("functions[{i}]"), &specs)?);
        }
        return Ok((specs, true));
    }
    Ok((specs, false))
}

fn check_count(n: usize, param: &str) -> Result<(), ApiError> {
    if n > 128 {
        return Err(ApiError::invalid(
            param,
            format!("'{param}' takes at most 128 entries, not {n}."),
        ));
    }
    Ok(())
}

fn spec(f: &FunctionDef, at: &str, seen: &[ToolSpec]) -> Result<ToolSpec, ApiError> {
    let name_ok = !f.name.is_empty()
        && f.name.len() <= 64
        && f.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        return Err(ApiError::invalid(
            format!("{at}.name"),
            format!(
                "Invalid function name '{}': use 1 to 64 characters from a-z, A-Z, 0-9, '_' and '-'.",
                f.name
            ),
        ));
    }
    if seen.iter().any(|s| s.name == f.name) {
        return Err(ApiError::invalid(
            format!("{at}.name"),
            format!("Duplicate function name '{}'.", f.name),
        ));
    }
    let parameters = match &f.parameters {
        None | Some(Value::Null) => serde_json::json!({"type": "object", "properties": {}}),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{at}.parameters"),
                "Function parameters must be a JSON Schema object.",
            ));
        }
    };
    Ok(ToolSpec {
        name: f.name.clone(),
        description: f.description.clone(),
        parameters,
        strict: f.strict.unwrap_or(false),
    })
}

/// `tool_choice` (or legacy `function_call`) → the engine's choice.
fn tool_choice(
    req: &ChatCompletionRequest,
    tools: &[ToolSpec],
    legacy: bool,
) -> Result<ToolChoice, ApiError> {
    let (mode, name, param) = requested_choice(req)?;
    let allowed: &[&str] = if legacy || req.function_call.is_some() {
        &["none", "auto"]
    } else {
        &["none", "auto", "required"]
    };
    let choice = match (mode, name) {
        (Some(m), _) if allowed.contains(&m) => match m {
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => ToolChoice::Auto,
        },
        (Some(m), _) => return Err(ApiError::unsupported_value(param, m, allowed)),
        (None, Some(n)) => {
            if !tools.iter().any(|t| t.name == n) {
                return Err(ApiError::invalid(
                    param,
                    format!("Function '{n}' is not among the request's tools."),
                ));
            }
            ToolChoice::Function(n.to_owned())
        }
        (None, None) => ToolChoice::Auto,
    };
    if tools.is_empty() && matches!(choice, ToolChoice::Required | ToolChoice::Function(_)) {
        return Err(ApiError::invalid(
            param,
            format!("'{param}' is only allowed when 'tools' are specified."),
        ));
    }
    Ok(choice)
}

/// What the request asked for: a mode, or a function name, and the
/// parameter that said so.
fn requested_choice(
    req: &ChatCompletionRequest,
) -> Result<(Option<&str>, Option<&str>, &'static str), ApiError> {
    Ok(match (&req.tool_choice, &req.function_call) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "function_call",
                "Use either 'tool_choice' or the deprecated 'function_call', not both.",
            ));
        }
        (Some(ToolChoiceParam::Mode(m)), None) => (Some(m.as_str()), None, "tool_choice"),
        (Some(ToolChoiceParam::Named(n)), None) => {
            if n.kind != "function" {
                return Err(ApiError::unsupported_value(
                    "tool_choice.type",
                    &n.kind,
                    &["function"],
                ));
            }
            let Some(f) = &n.function else {
                return Err(ApiError::missing("tool_choice.function"));
            };
            (None, Some(f.name.as_str()), "tool_choice.function.name")
        }
        (None, Some(FunctionCallChoice::Mode(m))) => (Some(m.as_str()), None, "function_call"),
        (None, Some(FunctionCallChoice::Named(f))) => {
            (None, Some(f.name.as_str()), "function_call.name")
        }
        (None, None) => (None, None, "tool_choice"),
    })
}
