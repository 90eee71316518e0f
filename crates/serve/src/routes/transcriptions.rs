//! `POST /v1/audio/transcriptions` (multipart): audio → text, as `json`,
//! `text`, `srt`, `vtt` or `verbose_json` (with segment timestamps), or
//! streamed as `transcript.text.delta` / `transcript.text.done` events.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use omnivox_runtime::api::{
    AudioInput, Event, EventStream, FinishReason, GenerateRequest, OutputMode, SamplingParams,
    Task, TranscribeTask, TranscriptSegment, Usage,
};

use super::subtitles;
use crate::api_error::{ApiError, ApiResult};
use crate::audio_io;
use crate::ids::new_id;
use crate::routes::chat::whole::cancelled;
use crate::state::AppState;
use crate::wire::audio::{
    DurationUsage, InputTokenDetails, Transcription, TranscriptionForm, TranscriptionSegment,
    TranscriptionStreamEvent, TranscriptionUsage, TranscriptionVerbose,
};
use crate::wire::models::ErrorResponse;

/// The form's fields.
#[derive(Debug, Default)]
struct Form {
    file: Option<(Vec<u8>, Option<String>)>,
    model: Option<String>,
    language: Option<String>,
    prompt: Option<String>,
    response_format: Option<String>,
    temperature: Option<String>,
    granularities: Vec<String>,
    stream: Option<String>,
}

/// Transcribes `file`.
#[utoipa::path(
    post,
    path = "/v1/audio/transcriptions",
    tag = "audio",
    request_body(content = TranscriptionForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The transcript in `response_format`.",
            content(
                (Transcription = "application/json"),
                (TranscriptionVerbose = "application/json"),
                (String = "text/plain"),
                (TranscriptionStreamEvent = "text/event-stream"),
            )),
        (status = 400, description = "An invalid value; `param` names it.", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key.", body = ErrorResponse),
        (status = 404, description = "Unknown model.", body = ErrorResponse),
        (status = 413, description = "File over the configured limits.", body = ErrorResponse),
        (status = 415, description = "Not multipart/form-data.", body = ErrorResponse),
    ),
    security((), ("bearer" = [])),
)]
pub async fn transcriptions(State(state): State<AppState>, req: Request) -> ApiResult<Response> {
    let form = read_form(req, &state).await?;
    let checked = check(form, &state)?;
    let samples = {
        let (state, bytes, hint) = (state.clone(), checked.bytes, checked.hint);
        tokio::task::spawn_blocking(move || {
            let limits = &state.config().limits;
            audio_io::decode_input(&bytes, hint, limits, limits.max_audio_seconds, "file")
        })
        .await
        .map_err(ApiError::internal)??
    };
    let audio = AudioInput::new(samples);
    let duration = audio.duration_secs();
    let request = GenerateRequest {
        request_id: new_id("transcribe-"),
        task: Task::Transcribe(TranscribeTask {
            audio,
            language: checked.language.clone(),
            prompt: checked.prompt,
        }),
        sampling: SamplingParams::default(),
        output: OutputMode::Text,
    };
    let events = state.engine().submit(request).await?;
    if checked.stream {
        return Ok(stream_response(events));
    }
    let (text, segments, usage) = collect(events).await?;
    let language = checked.language.unwrap_or_else(|| "unknown".into());
    Ok(render(
        &checked.format,
        text,
        segments,
        usage,
        duration,
        language,
    ))
}

/// A validated form.
struct Checked {
    bytes: Vec<u8>,
    hint: Option<omnivox_audio::Format>,
    format: String,
    language: Option<String>,
    prompt: Option<String>,
    stream: bool,
}

const FORMATS: &[&str] = &["json", "text", "srt", "verbose_json", "vtt"];

fn check(form: Form, state: &AppState) -> ApiResult<Checked> {
    let Some(model) = &form.model else {
        return Err(ApiError::missing("model"));
    };
    state.models().resolve(model)?;
    let Some((bytes, file_name)) = form.file else {
        return Err(ApiError::missing("file"));
    };
    let format = form.response_format.unwrap_or_else(|| "json".into());
    if !FORMATS.contains(&format.as_str()) {
        return Err(ApiError::unsupported_value(
            "response_format",
            &format,
            FORMATS,
        ));
    }
    if let Some(g) = form.granularities.iter().find(|g| *g != "segment") {
        return Err(ApiError::unsupported_value(
            "timestamp_granularities[]",
            g,
            &["segment"],
        ));
    }
    if let Some(t) = &form.temperature
        && !t.parse::<f64>().is_ok_and(|v| (0.0..=1.0).contains(&v))
    {
        return Err(ApiError::invalid(
            "temperature",
            "'temperature' must be a number between 0 and 1.",
        ));
    }
    let stream = match form.stream.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "stream",
                format!("'stream' must be true or false, not '{other}'."),
            ));
        }
    };
    if stream && !matches!(format.as_str(), "json" | "text") {
        return Err(ApiError::invalid(
            "stream",
            "Streaming is available with response_format 'json' or 'text'.",
        ));
    }
    let hint = file_name
        .as_deref()
        .and_then(|n| n.rsplit_once('.'))
        .and_then(|(_, ext)| omnivox_audio::Format::from_label(ext).ok());
    Ok(Checked {
        bytes,
        hint,
        format,
        language: form.language,
        prompt: form.prompt,
        stream,
    })
}

async fn read_form(req: Request, state: &AppState) -> ApiResult<Form> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        return Err(ApiError::unsupported_media_type("multipart/form-data"));
    }
    let mut mp = Multipart::from_request(req, state)
        .await
        .map_err(|e| ApiError::bad_body(format!("Invalid multipart body: {}", e.body_text())))?;
    let mut form = Form::default();
    while let Some(field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let file_name = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(multipart_error)?;
            form.file = Some((bytes.to_vec(), file_name));
            continue;
        }
        let text = field.text().await.map_err(multipart_error)?;
        match name.as_str() {
            "model" => form.model = Some(text),
            "language" => form.language = Some(text),
            // Newer SDKs send candidate languages; the first one is the hint.
            "languages[]" | "languages" => {
                form.language.get_or_insert(text);
            }
            "prompt" => form.prompt = Some(text),
            "response_format" => form.response_format = Some(text),
            "temperature" => form.temperature = Some(text),
            "timestamp_granularities[]" | "timestamp_granularities" => {
                form.granularities.push(text)
            }
            "stream" => form.stream = Some(text),
            // Accepted and ignored: output shaping OpenAI's newer models offer.
            "include[]"
            | "chunking_strategy"
            | "known_speaker_names[]"
            | "known_speaker_references[]" => {}
            other => {
                return Err(ApiError::bad_body(format!(
                    "Unrecognized request argument supplied: {other}"
                ))
                .with_param(other)
                .with_code("unknown_parameter"));
            }
        }
    }
    Ok(form)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(
            Some("file"),
            "The upload is larger than this server's body limit.",
        )
    } else {
        ApiError::bad_body(format!("Invalid multipart body: {}", e.body_text()))
    }
}

async fn collect(mut events: EventStream) -> ApiResult<(String, Vec<TranscriptSegment>, Usage)> {
    let (mut text, mut segments, mut usage) = (String::new(), Vec::new(), Usage::default());
    while let Some(event) = events.next().await {
        match event {
            Event::TextDelta(t) => text.push_str(&t),
            Event::TranscriptSegment(s) => segments.push(s),
            Event::Usage(u) => usage = u,
            Event::Finished(FinishReason::Cancelled) => return Err(cancelled()),
            Event::Finished(_) => return Ok((text, segments, usage)),
            Event::Error(e) => return Err(e.into()),
            _ => {}
        }
    }
    Err(ApiError::internal(
        "the event stream ended without a finish",
    ))
}

fn token_usage(u: &Usage) -> TranscriptionUsage {
    let input = u.prompt.total();
    let output = u.completion.total();
    TranscriptionUsage {
        kind: "tokens",
        input_tokens: input,
        input_token_details: InputTokenDetails {
            text_tokens: u.prompt.text,
            audio_tokens: u.prompt.audio,
        },
        output_tokens: output,
        total_tokens: input.saturating_add(output),
    }
}

fn render(
    format: &str,
    text: String,
    mut segments: Vec<TranscriptSegment>,
    usage: Usage,
    duration: f64,
    language: String,
) -> Response {
    if segments.is_empty() {
        segments.push(TranscriptSegment {
            start_ms: 0,
            end_ms: (duration * 1000.0) as u64,
            text: text.clone(),
        });
    }
    let plain =
        |body: String, mime: &'static str| ([(header::CONTENT_TYPE, mime)], body).into_response();
    match format {
        "text" => plain(text, "text/plain; charset=utf-8"),
        "srt" => plain(subtitles::srt(&segments), "text/plain; charset=utf-8"),
        "vtt" => plain(subtitles::vtt(&segments), "text/vtt; charset=utf-8"),
        "verbose_json" => Json(TranscriptionVerbose {
            task: "transcribe",
            language,
            duration,
            text,
            segments: segments
                .iter()
                .enumerate()
                .map(|(i, s)| TranscriptionSegment {
                    id: i as u32,
                    seek: 0,
                    start: s.start_ms as f64 / 1000.0,
                    end: s.end_ms as f64 / 1000.0,
                    text: s.text.clone(),
                    tokens: Vec::new(),
                    temperature: 0.0,
                    avg_logprob: 0.0,
                    compression_ratio: 0.0,
                    no_speech_prob: 0.0,
                })
                .collect(),
            usage: DurationUsage {
                kind: "duration",
                seconds: duration.ceil() as u64,
            },
        })
        .into_response(),
        _ => Json(Transcription {
            text,
            usage: token_usage(&usage),
        })
        .into_response(),
    }
}

/// `transcript.text.delta` events, then `transcript.text.done`.
fn stream_response(events: EventStream) -> Response {
    let state = (events, String::new(), Usage::default(), false);
    let stream = futures::stream::unfold(
        state,
        |(mut events, mut text, mut usage, done)| async move {
            if done {
                return None;
            }
            loop {
                let (data, done) = match events.next().await {
                    Some(Event::TextDelta(t)) => {
                        text.push_str(&t);
                        (json(&TranscriptionStreamEvent::Delta { delta: t }), false)
                    }
                    Some(Event::Usage(u)) => {
                        usage = u;
                        continue;
                    }
                    Some(Event::Finished(FinishReason::Cancelled)) => {
                        (error_json(&cancelled()), true)
                    }
                    Some(Event::Finished(_)) => {
                        let done = TranscriptionStreamEvent::Done {
                            text: text.clone(),
                            usage: token_usage(&usage),
                        };
                        (json(&done), true)
                    }
                    Some(Event::Error(e)) => (error_json(&e.into()), true),
                    Some(_) => continue,
                    None => {
                        let e = ApiError::internal("the event stream ended without a finish");
                        (error_json(&e), true)
                    }
                };
                let event = Ok::<_, Infallible>(SseEvent::default().data(data));
                return Some((event, (events, text, usage, done)));
            }
        },
    );
    Sse::new(stream).into_response()
}

fn json(e: &TranscriptionStreamEvent) -> String {
    serde_json::to_string(e).unwrap_or_else(|e| ApiError::internal(e).to_json())
}

fn error_json(e: &ApiError) -> String {
    let mut v = serde_json::to_value(e.body()).unwrap_or_default();
    v["type"] = "error".into();
    v.to_string()
}
