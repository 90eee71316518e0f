//! `POST /v1/chat/completions`.
//!
//! * [`convert`] / [`messages`] — check the request and build the engine's;
//! * [`whole`] — `stream: false`: one `chat.completion`;
//! * [`stream`] — `stream: true`: `chat.completion.chunk` SSE events.

pub mod convert;
pub mod messages;
pub mod stream;
pub mod whole;

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use omnivox_runtime::api::EngineError;

use crate::api_error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::ids::ReplyIds;
use crate::routes::timing::Timing;
use crate::state::AppState;
use crate::wire::chat_request::ChatCompletionRequest;
use crate::wire::chat_response::{ChatCompletion, ChatCompletionChunk};
use crate::wire::models::ErrorResponse;
use convert::ChatPlan;

/// Answers a chat turn, whole or streamed.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "chat",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "The reply (`stream` false), or SSE `chat.completion.chunk` events then `data: [DONE]` (`stream` true).",
            content(
                (ChatCompletion = "application/json"),
                (ChatCompletionChunk = "text/event-stream"),
            )),
        (status = 400, description = "An invalid value; `param` names it.", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key.", body = ErrorResponse),
        (status = 404, description = "Unknown model (`model_not_found`).", body = ErrorResponse),
        (status = 413, description = "Body or audio over the configured limits.", body = ErrorResponse),
        (status = 429, description = "Too many requests in flight; see Retry-After.", body = ErrorResponse),
        (status = 503, description = "Overloaded, loading or shutting down; see Retry-After.", body = ErrorResponse),
    ),
    security((), ("bearer" = [])),
)]
pub async fn chat_completions(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ChatCompletionRequest>,
) -> ApiResult<Response> {
    let start = Instant::now();
    let ids = ReplyIds::new();
    let (request, plan) = if has_audio(&req) {
        // Decoding audio is CPU work: keep it off the async threads.
        let (state, id) = (state.clone(), ids.completion.clone());
        tokio::task::spawn_blocking(move || convert::convert(req, &state, &id))
            .await
            .map_err(ApiError::internal)??
    } else {
        convert::convert(req, &state, &ids.completion)?
    };
    let events = state
        .engine()
        .submit(request)
        .await
        .map_err(|e| submit_error(e, &plan))?;
    let timing = Timing::start(state.clone(), start);
    if plan.stream {
        stream::respond(&state, &plan, ids, events, timing)
    } else {
        let reply = whole::respond(&state, &plan, &ids, events, timing).await?;
        Ok(Json(reply).into_response())
    }
}

/// Whether any message carries audio to decode.
fn has_audio(req: &ChatCompletionRequest) -> bool {
    use crate::wire::chat_request::{ChatMessage, ContentPartParam};
    use crate::wire::unions::MessageContent;
    req.messages.iter().any(|m| match m {
        ChatMessage::User(u) => match &u.content {
            MessageContent::Parts(parts) => parts.iter().any(|p| {
                matches!(
                    p,
                    ContentPartParam::InputAudio(_) | ContentPartParam::AudioUrl(_)
                )
            }),
            MessageContent::Text(_) => false,
        },
        _ => false,
    })
}

/// Maps a refusal, pointing an unknown audio id at the message that sent it.
fn submit_error(e: EngineError, plan: &ChatPlan) -> ApiError {
    if let EngineError::UnknownAudioId { id } = &e
        && let Some((_, param)) = plan.audio_refs.iter().find(|(i, _)| i == id)
    {
        let param = param.clone();
        let mut err = ApiError::from(e);
        err.param = Some(param);
        return err;
    }
    ApiError::from(e)
}
