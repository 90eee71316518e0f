//! `stream: true`: engine events → `chat.completion.chunk` SSE events, in the
//! order OpenAI's servers send them (see docs/api.md, "Streaming"):
//!
//! 1. `{role:"assistant", refusal:null}` (text replies also `content:""`);
//! 2. with speech: `{content:null, audio:{id, transcript}}`, then
//!    `{audio:{transcript}}` …;
//! 3. with speech: the first data chunk `{audio:{id, data}}`, then
//!    `{audio:{data}}` …, interleaved with transcript chunks (`start_ms` and
//!    `duration_ms` on every data chunk except with `pcm16`);
//! 4. `{}` with `finish_reason`;
//! 5. with speech: `{audio:{expires_at}}`;
//! 6. with `include_usage`: `choices: []` and `usage` (every earlier chunk
//!    has `usage: null`);
//! 7. `data: [DONE]`.
//!
//! An error at any point is `data: {"error":{…}}` followed by `data: [DONE]`.
//! Dropping the response body (the client hung up) drops the engine's event
//! stream, which cancels generation.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::StreamExt;
use omnivox_audio::Format;
use omnivox_runtime::api::{Event, EventStream, FinishReason, ToolCallDelta, Usage};

use super::convert::ChatPlan;
use super::whole::{cancelled, finish_reason, unix_secs};
use crate::api_error::ApiError;
use crate::audio_io::{Chunk, StreamEncoder};
use crate::ids::ReplyIds;
use crate::routes::timing::Timing;
use crate::state::AppState;
use crate::wire::chat_response::{
    ChatCompletionChunk, ChunkChoice, Delta, DeltaAudio, DeltaFunction, DeltaToolCall, Field,
};

/// The SSE response for `events`.
pub fn respond(
    state: &AppState,
    plan: &ChatPlan,
    ids: ReplyIds,
    events: EventStream,
    timing: Timing,
) -> Result<Response, ApiError> {
    let encoder = plan.audio_format.map(StreamEncoder::new).transpose()?;
    let writer = ChunkWriter::new(state, plan, ids, encoder);
    // The role chunk goes out at once, before the first token.
    let pending = VecDeque::from([writer.first_chunk()]);
    let run = Run {
        events,
        writer,
        timing,
        pending,
        done: false,
    };
    let stream = futures::stream::unfold(run, |mut run| async move {
        loop {
            if let Some(data) = run.pending.pop_front() {
                return Some((Ok::<_, Infallible>(SseEvent::default().data(data)), run));
            }
            if run.done {
                return None;
            }
            let next = run.events.next().await;
            if let Some(e) = &next {
                run.timing.observe(e);
            }
            let (out, done) = run.writer.on_event(next);
            run.pending.extend(out);
            run.done = done;
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

struct Run {
    events: EventStream,
    writer: ChunkWriter,
    timing: Timing,
    pending: VecDeque<String>,
    done: bool,
}

/// Speech-specific streaming state.
struct SpeechState {
    id: Option<String>,
    encoder: Option<StreamEncoder>,
    /// `start_ms`/`duration_ms` on data chunks (every format but pcm16).
    timestamps: bool,
    announced: bool,
    sent_data: bool,
    expires_at: Option<u64>,
}

/// Turns engine events into chunk payloads.
struct ChunkWriter {
    ids: ReplyIds,
    model: String,
    fingerprint: String,
    include_usage: bool,
    legacy_functions: bool,
    speech: Option<SpeechState>,
    usage: Usage,
    seen_calls: Vec<u32>,
}

impl ChunkWriter {
    fn new(
        state: &AppState,
        plan: &ChatPlan,
        ids: ReplyIds,
        encoder: Option<StreamEncoder>,
    ) -> Self {
        let speech = plan.audio_format.map(|format| SpeechState {
            id: None,
            encoder,
            timestamps: format != Format::Pcm16,
            announced: false,
            sent_data: false,
            expires_at: None,
        });
        Self {
            ids,
            model: plan.model.clone(),
            fingerprint: state.fingerprint().to_owned(),
            include_usage: plan.include_usage,
            legacy_functions: plan.legacy_functions,
            speech,
            usage: Usage::default(),
            seen_calls: Vec::new(),
        }
    }

    /// Payloads for one engine event (`None`: the stream ended), and whether
    /// the SSE stream is complete.
    fn on_event(&mut self, event: Option<Event>) -> (Vec<String>, bool) {
        let mut out = Vec::new();
        let result = match event {
            None => Err(ApiError::internal(
                "the event stream ended without a finish",
            )),
            Some(e) => self.handle(e, &mut out),
        };
        match result {
            Ok(false) => (out, false),
            Ok(true) => {
                out.push("[DONE]".to_owned());
                (out, true)
            }
            Err(e) => {
                out.push(e.to_json());
                out.push("[DONE]".to_owned());
                (out, true)
            }
        }
    }

    /// Appends the payloads of `event`; `Ok(true)` once the reply is finished.
    fn handle(&mut self, event: Event, out: &mut Vec<String>) -> Result<bool, ApiError> {
        match event {
            Event::AudioStarted { id } => {
                if let Some(s) = self.speech.as_mut() {
                    s.id = Some(id);
                }
            }
            Event::TextDelta(text) => out.push(self.text_chunk(text)),
            Event::ToolCallDelta(d) => {
                if let Some(c) = self.tool_chunk(d) {
                    out.push(c);
                }
            }
            Event::AudioChunk(chunk) => {
                let encoded = match self.speech.as_mut().and_then(|s| s.encoder.as_mut()) {
                    Some(enc) => enc.push(&chunk.samples)?,
                    None => Vec::new(),
                };
                for c in encoded {
                    out.push(self.data_chunk(c));
                }
            }
            Event::AudioDone(done) => {
                let tail = match self.speech.as_mut() {
                    Some(s) => {
                        s.id = Some(done.id);
                        s.expires_at = Some(unix_secs(done.expires_at));
                        s.encoder.take().map(StreamEncoder::finish).transpose()?
                    }
                    None => None,
                };
                for c in tail.into_iter().flatten() {
                    out.push(self.data_chunk(c));
                }
            }
            Event::TranscriptSegment(_) => {}
            Event::Usage(u) => self.usage = u,
            Event::Finished(FinishReason::Cancelled) => return Err(cancelled()),
            Event::Finished(reason) => {
                self.finish(reason, out);
                return Ok(true);
            }
            Event::Error(e) => return Err(e.into()),
        }
        Ok(false)
    }

    fn finish(&mut self, reason: FinishReason, out: &mut Vec<String>) {
        let finish = finish_reason(Some(reason), self.legacy_functions);
        out.push(self.chunk(Delta::default(), Some(finish)));
        let expires = self
            .speech
            .as_ref()
            .filter(|s| s.announced || s.sent_data)
            .and_then(|s| s.expires_at);
        if let Some(expires_at) = expires {
            let delta = Delta {
                audio: Some(DeltaAudio {
                    expires_at: Some(expires_at),
                    ..DeltaAudio::default()
                }),
                ..Delta::default()
            };
            out.push(self.chunk(delta, None));
        }
        if self.include_usage {
            let mut c = self.envelope(Vec::new());
            c.usage = Field::Set(self.usage.into());
            out.push(to_json(&c));
        }
    }

    fn first_chunk(&self) -> String {
        let delta = Delta {
            role: Field::Set("assistant"),
            content: if self.speech.is_some() {
                Field::Absent
            } else {
                Field::Set(String::new())
            },
            refusal: Field::Null,
            ..Delta::default()
        };
        self.chunk(delta, None)
    }

    fn text_chunk(&mut self, text: String) -> String {
        let Some(s) = self.speech.as_mut() else {
            return self.chunk(
                Delta {
                    content: Field::Set(text),
                    ..Delta::default()
                },
                None,
            );
        };
        let first = !s.announced;
        s.announced = true;
        let delta = Delta {
            content: if first { Field::Null } else { Field::Absent },
            audio: Some(DeltaAudio {
                id: if first { s.id.clone() } else { None },
                transcript: Some(text),
                ..DeltaAudio::default()
            }),
            ..Delta::default()
        };
        self.chunk(delta, None)
    }

    fn data_chunk(&mut self, c: Chunk) -> String {
        let Some(s) = self.speech.as_mut() else {
            return String::new();
        };
        let first = !s.sent_data;
        let announce = !s.announced;
        s.sent_data = true;
        s.announced = true;
        let delta = Delta {
            content: if announce { Field::Null } else { Field::Absent },
            audio: Some(DeltaAudio {
                id: if first { s.id.clone() } else { None },
                data: Some(base64::engine::general_purpose::STANDARD.encode(&c.bytes)),
                start_ms: s.timestamps.then_some(c.start_ms),
                duration_ms: s.timestamps.then_some(c.duration_ms),
                ..DeltaAudio::default()
            }),
            ..Delta::default()
        };
        self.chunk(delta, None)
    }

    fn tool_chunk(&mut self, d: ToolCallDelta) -> Option<String> {
        let first = !self.seen_calls.contains(&d.index);
        if first {
            self.seen_calls.push(d.index);
        }
        let delta = if self.legacy_functions {
            // The legacy API has one call per turn.
            if d.index != 0 {
                return None;
            }
            Delta {
                function_call: Some(DeltaFunction {
                    name: d.name,
                    arguments: d.arguments,
                }),
                ..Delta::default()
            }
        } else {
            Delta {
                tool_calls: Some(vec![DeltaToolCall {
                    index: d.index,
                    id: d.id,
                    kind: first.then_some("function"),
                    function: DeltaFunction {
                        name: d.name,
                        arguments: d.arguments,
                    },
                }]),
                ..Delta::default()
            }
        };
        Some(self.chunk(delta, None))
    }

    fn envelope(&self, choices: Vec<ChunkChoice>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.ids.completion.clone(),
            object: "chat.completion.chunk",
            created: self.ids.created,
            model: self.model.clone(),
            system_fingerprint: self.fingerprint.clone(),
            service_tier: "default",
            choices,
            usage: if self.include_usage {
                Field::Null
            } else {
                Field::Absent
            },
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<&'static str>) -> String {
        to_json(&self.envelope(vec![ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        }]))
    }
}

fn to_json(c: &ChatCompletionChunk) -> String {
    serde_json::to_string(c).unwrap_or_else(|e| ApiError::internal(e).to_json())
}
