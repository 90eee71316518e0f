//! `POST /v1/audio/speech`: text → speech, as encoded bytes streamed as they
//! are made (`stream_format: "audio"`, the default) or as SSE
//! `speech.audio.delta` / `speech.audio.done` events (`"sse"`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::{Stream, StreamExt};
use omnivox_audio::Format;
use omnivox_runtime::api::{
    Event, EventStream, FinishReason, GenerateRequest, OutputMode, SamplingParams, SpeakTask,
    SpeechOutput, Task, Usage,
};

use crate::api_error::{ApiError, ApiResult};
use crate::audio_io::{self, Chunk, SPEECH_OUTPUT_FORMATS, StreamEncoder};
use crate::extract::ApiJson;
use crate::ids::new_id;
use crate::routes::chat::convert::check_speed;
use crate::routes::chat::whole::cancelled;
use crate::routes::timing::Timing;
use crate::state::AppState;
use crate::wire::audio::{SpeechRequest, SpeechStreamEvent, SpeechUsage};
use crate::wire::models::ErrorResponse;

/// Speaks `input`.
#[utoipa::path(
    post,
    path = "/v1/audio/speech",
    tag = "audio",
    request_body = SpeechRequest,
    responses(
        (status = 200, description = "The audio in `response_format` (streamed as made), or SSE events with `stream_format: \"sse\"`.",
            content(
                ([u8] = "audio/mpeg"),
                (SpeechStreamEvent = "text/event-stream"),
            )),
        (status = 400, description = "An invalid value; `param` names it.", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key.", body = ErrorResponse),
        (status = 404, description = "Unknown model.", body = ErrorResponse),
        (status = 503, description = "Overloaded or not ready; see Retry-After.", body = ErrorResponse),
    ),
    security((), ("bearer" = [])),
)]
pub async fn speech(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SpeechRequest>,
) -> ApiResult<Response> {
    let start = Instant::now();
    let (request, format, sse) = check(req, &state)?;
    let events = state.engine().submit(request).await?;
    let encoder = StreamEncoder::new(format)?;
    let timing = Timing::start(state.clone(), start);
    let pieces = encoded(events, encoder, timing);
    Ok(if sse {
        sse_response(pieces)
    } else {
        audio_response(pieces, format)
    })
}

/// Validates a speech request: the engine's request, the output format,
/// and whether to answer with SSE.
fn check(req: SpeechRequest, state: &AppState) -> ApiResult<(GenerateRequest, Format, bool)> {
    state.models().resolve(&req.model)?;
    let limits = &state.config().limits;
    if req.input.trim().is_empty() {
        return Err(ApiError::invalid("input", "'input' must not be empty."));
    }
    let chars = req.input.chars().count();
    if chars > limits.max_speech_input_chars {
        return Err(ApiError::invalid(
            "input",
            format!(
                "'input' has {chars} characters; the limit is {}.",
                limits.max_speech_input_chars
            ),
        ));
    }
    if req
        .instructions
        .as_ref()
        .is_some_and(|i| i.chars().count() > 4096)
    {
        return Err(ApiError::invalid(
            "instructions",
            "'instructions' takes at most 4096 characters.",
        ));
    }
    if !state.voices().can_speak() {
        return Err(ApiError::invalid(
            "model",
            "This model cannot produce audio.",
        ));
    }
    let voice = state.voices().resolve(&req.voice, "voice")?;
    let label = req.response_format.as_deref().unwrap_or("mp3");
    let format = audio_io::output_format(label, "response_format", SPEECH_OUTPUT_FORMATS)?;
    let speed = check_speed(req.speed.unwrap_or(1.0), "speed")?;
    let sse = match req.stream_format.as_deref().unwrap_or("audio") {
        "audio" => false,
        "sse" => true,
        other => {
            return Err(ApiError::unsupported_value(
                "stream_format",
                other,
                &["audio", "sse"],
            ));
        }
    };
    let request = GenerateRequest {
        request_id: new_id("speech-"),
        task: Task::Speak(SpeakTask {
            text: req.input,
            instructions: req.instructions,
        }),
        sampling: SamplingParams::default(),
        output: OutputMode::Speech(SpeechOutput { voice, speed }),
    };
    Ok((request, format, sse))
}

/// What the encoded stream yields.
enum Piece {
    Audio(Vec<u8>),
    Done(Usage),
    Failed(ApiError),
}

/// Engine events → encoded pieces, ending after `Done` or `Failed`.
struct Speaker {
    events: EventStream,
    encoder: Option<StreamEncoder>,
    timing: Timing,
    usage: Usage,
    queue: VecDeque<Piece>,
    done: bool,
}

impl Speaker {
    async fn next_piece(&mut self) -> Option<Piece> {
        loop {
            if let Some(p) = self.queue.pop_front() {
                return Some(p);
            }
            if self.done {
                return None;
            }
            let Some(event) = self.events.next().await else {
                self.fail(ApiError::internal(
                    "the event stream ended without a finish",
                ));
                continue;
            };
            self.timing.observe(&event);
            match event {
                Event::AudioChunk(chunk) => {
                    let pushed = self.encoder.as_mut().map(|e| e.push(&chunk.samples));
                    match pushed {
                        Some(Ok(chunks)) => self.audio(chunks),
                        Some(Err(e)) => self.fail(e),
                        None => {}
                    }
                }
                Event::Usage(u) => self.usage = u,
                Event::Finished(FinishReason::Cancelled) => self.fail(cancelled()),
                Event::Finished(_) => match self.encoder.take().map(StreamEncoder::finish) {
                    Some(Err(e)) => self.fail(e),
                    tail => {
                        self.audio(tail.and_then(Result::ok).unwrap_or_default());
                        self.queue.push_back(Piece::Done(self.usage));
                        self.done = true;
                    }
                },
                Event::Error(e) => self.fail(e.into()),
                _ => {}
            }
        }
    }

    fn audio(&mut self, chunks: Vec<Chunk>) {
        let bytes: Vec<u8> = chunks.into_iter().flat_map(|c| c.bytes).collect();
        if !bytes.is_empty() {
            self.queue.push_back(Piece::Audio(bytes));
        }
    }

    fn fail(&mut self, e: ApiError) {
        self.queue.push_back(Piece::Failed(e));
        self.done = true;
    }
}

fn encoded(
    events: EventStream,
    encoder: StreamEncoder,
    timing: Timing,
) -> impl Stream<Item = Piece> + Send {
    let speaker = Speaker {
        events,
        encoder: Some(encoder),
        timing,
        usage: Usage::default(),
        queue: VecDeque::new(),
        done: false,
    };
    futures::stream::unfold(speaker, |mut s| async move {
        s.next_piece().await.map(|p| (p, s))
    })
}

/// The raw audio body. A failure after the first byte aborts the connection
/// (the client sees an incomplete body, never a silently truncated file).
fn audio_response(pieces: impl Stream<Item = Piece> + Send + 'static, format: Format) -> Response {
    let body = pieces.filter_map(|p| async move {
        match p {
            Piece::Audio(bytes) => Some(Ok(Bytes::from(bytes))),
            Piece::Done(_) => None,
            Piece::Failed(e) => {
                tracing::error!(error = %e.message, "speech failed mid-stream; aborting the response");
                Some(Err(std::io::Error::other(e.message)))
            }
        }
    });
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.mime_type()),
    );
    response
}

/// `speech.audio.delta` events, then `speech.audio.done` (or an error event).
fn sse_response(pieces: impl Stream<Item = Piece> + Send + 'static) -> Response {
    let events = pieces.map(|p| {
        let data = match p {
            Piece::Audio(bytes) => json(&SpeechStreamEvent::Delta {
                audio: base64::engine::general_purpose::STANDARD.encode(bytes),
            }),
            Piece::Done(u) => {
                let (input, output) = (u.prompt.total(), u.completion.total());
                json(&SpeechStreamEvent::Done {
                    usage: SpeechUsage {
                        input_tokens: input,
                        output_tokens: output,
                        total_tokens: input.saturating_add(output),
                    },
                })
            }
            Piece::Failed(e) => {
                let mut v = serde_json::to_value(e.body()).unwrap_or_default();
                v["type"] = "error".into();
                v.to_string()
            }
        };
        Ok::<_, Infallible>(SseEvent::default().data(data))
    });
    Sse::new(events).into_response()
}

fn json(e: &SpeechStreamEvent) -> String {
    serde_json::to_string(e).unwrap_or_else(|e| ApiError::internal(e).to_json())
}
