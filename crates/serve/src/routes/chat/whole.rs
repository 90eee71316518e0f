//! `stream: false`: collect every event, then answer one `chat.completion`.

use std::time::UNIX_EPOCH;

use base64::Engine as _;
use futures::StreamExt;
use omnivox_runtime::api::{Event, EventStream, FinishReason, Usage};

use super::convert::ChatPlan;
use crate::api_error::{ApiError, ApiResult};
use crate::audio_io;
use crate::ids::ReplyIds;
use crate::routes::timing::Timing;
use crate::state::AppState;
use crate::wire::chat_response::{
    AssistantMessage, ChatCompletion, Choice, FunctionCallOut, MessageAudio, ToolCallOut,
};

/// Everything a reply consisted of.
#[derive(Debug, Default)]
pub struct Collected {
    pub text: String,
    pub calls: Vec<ToolCallOut>,
    pub samples: Vec<f32>,
    pub audio_id: Option<String>,
    pub expires_at: Option<u64>,
    pub usage: Usage,
    pub finish: Option<FinishReason>,
}

/// Drains `events` into a [`Collected`]; an engine error becomes the
/// request's error.
pub async fn collect(mut events: EventStream, timing: &mut Timing) -> ApiResult<Collected> {
    let mut c = Collected::default();
    while let Some(event) = events.next().await {
        timing.observe(&event);
        match event {
            Event::AudioStarted { id } => c.audio_id = Some(id),
            Event::TextDelta(t) => c.text.push_str(&t),
            Event::ToolCallDelta(d) => {
                let i = d.index as usize;
                if i > c.calls.len() {
                    return Err(ApiError::internal("tool-call fragments skipped an index"));
                }
                if i == c.calls.len() {
                    c.calls.push(ToolCallOut {
                        id: String::new(),
                        kind: "function",
                        function: FunctionCallOut {
                            name: String::new(),
                            arguments: String::new(),
                        },
                    });
                }
                let call = &mut c.calls[i];
                if let Some(id) = d.id {
                    call.id = id;
                }
                if let Some(name) = d.name {
                    call.function.name = name;
                }
                call.function.arguments.push_str(&d.arguments);
            }
            Event::AudioChunk(chunk) => c.samples.extend_from_slice(&chunk.samples),
            Event::AudioDone(done) => {
                c.audio_id = Some(done.id);
                c.expires_at = Some(unix_secs(done.expires_at));
            }
            Event::TranscriptSegment(_) => {}
            Event::Usage(u) => c.usage = u,
            Event::Finished(reason) => {
                c.finish = Some(reason);
                break;
            }
            Event::Error(e) => return Err(e.into()),
        }
    }
    match c.finish {
        Some(FinishReason::Cancelled) => Err(cancelled()),
        Some(_) => Ok(c),
        None => Err(ApiError::internal(
            "the event stream ended without a finish",
        )),
    }
}

/// The error for a reply the engine abandoned (shutdown).
pub fn cancelled() -> ApiError {
    ApiError::unavailable(
        "The request was cancelled because the server is shutting down; retry it.",
        "cancelled",
        std::time::Duration::from_secs(5),
    )
}

/// Builds the `chat.completion`.
pub async fn respond(
    state: &AppState,
    plan: &ChatPlan,
    ids: &ReplyIds,
    events: EventStream,
    mut timing: Timing,
) -> ApiResult<ChatCompletion> {
    let c = collect(events, &mut timing).await?;
    let audio = match plan.audio_format {
        Some(format) if !c.samples.is_empty() => {
            let samples = c.samples;
            let bytes =
                tokio::task::spawn_blocking(move || audio_io::encode_whole(&samples, format))
                    .await
                    .map_err(ApiError::internal)??;
            Some(MessageAudio {
                id: c.audio_id.unwrap_or_else(|| ids.audio_fallback.clone()),
                data: base64::engine::general_purpose::STANDARD.encode(bytes),
                expires_at: c.expires_at.unwrap_or(ids.created),
                transcript: c.text.clone(),
            })
        }
        _ => None,
    };
    let finish = finish_reason(c.finish, plan.legacy_functions);
    let has_calls = !c.calls.is_empty();
    let (tool_calls, function_call) = match (has_calls, plan.legacy_functions) {
        (false, _) => (None, None),
        (true, false) => (Some(c.calls), None),
        (true, true) => (None, c.calls.into_iter().next().map(|call| call.function)),
    };
    let content = if audio.is_some() || (has_calls && c.text.is_empty()) {
        None
    } else {
        Some(c.text)
    };
    Ok(ChatCompletion {
        id: ids.completion.clone(),
        object: "chat.completion",
        created: ids.created,
        model: plan.model.clone(),
        system_fingerprint: state.fingerprint().to_owned(),
        service_tier: "default",
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content,
                refusal: None,
                annotations: Vec::new(),
                audio,
                tool_calls,
                function_call,
            },
            logprobs: None,
            finish_reason: finish,
        }],
        usage: c.usage.into(),
    })
}

/// OpenAI's `finish_reason` string.
pub fn finish_reason(reason: Option<FinishReason>, legacy_functions: bool) -> &'static str {
    match reason {
        Some(FinishReason::Length) => "length",
        Some(FinishReason::ToolCalls) if legacy_functions => "function_call",
        Some(FinishReason::ToolCalls) => "tool_calls",
        _ => "stop",
    }
}

/// Unix seconds of a time (0 before the epoch).
pub fn unix_secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
