//! Helpers shared by the engine tests: the tiny Qwen3-Omni fixtures as
//! engines, requests, and collecting a reply.

#![allow(dead_code, clippy::unwrap_used)]

use burn::tensor::backend::Backend;
use futures::StreamExt;
use omnivox_model::testing::{Reference, fixture_dir};
use omnivox_runtime::api::{
    AudioInput, ChatTask, ContentPart, Engine, EngineError, Event, FinishReason, GenerateRequest,
    Message, OutputMode, Role, SamplingParams, Task, ToolChoice, ToolSpec, Usage,
};
use omnivox_runtime::audio_store::MemoryAudioStore;
use omnivox_runtime::engine::{EngineConfig, OmniEngine, start_on};
use std::sync::Arc;
use std::time::Duration;

/// A current-thread tokio runtime with timers (the engine's `submit` needs
/// one; the backend tests are plain `#[test]`s).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// An engine on a fixture, ready (waits for the weights).
pub fn engine<B: Backend>(
    fixture: &str,
    device: &B::Device,
    config: EngineConfig,
) -> Arc<OmniEngine> {
    let store = Arc::new(MemoryAudioStore::default());
    let e = start_on::<B>(&fixture_dir(fixture), device.clone(), config, store).unwrap();
    for _ in 0..2000 {
        match e.readiness() {
            omnivox_runtime::api::Readiness::Ready => return e,
            omnivox_runtime::api::Readiness::Failed { reason } => panic!("{reason}"),
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    panic!("the engine did not load in 10 s");
}

/// The two audio clips of the thinker fixture.
pub fn clips() -> Vec<Vec<f32>> {
    let r = Reference::open("qwen3_omni_thinker").unwrap();
    (0..2)
        .map(|i| r.f32(&format!("clip.{i}")).unwrap().0)
        .collect()
}

pub fn user(text: &str) -> Message {
    Message::text(Role::User, text)
}

pub fn user_parts(parts: Vec<ContentPart>) -> Message {
    Message {
        content: parts,
        ..Message::text(Role::User, "")
    }
}

pub fn audio(samples: &[f32]) -> ContentPart {
    ContentPart::Audio(AudioInput::new(samples.to_vec()))
}

pub fn greedy(max: u32) -> SamplingParams {
    SamplingParams {
        temperature: 0.0,
        max_completion_tokens: Some(max),
        ..SamplingParams::default()
    }
}

pub fn chat(messages: Vec<Message>, sampling: SamplingParams) -> GenerateRequest {
    GenerateRequest {
        request_id: "test".into(),
        task: Task::Chat(ChatTask {
            messages,
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            parallel_tool_calls: true,
        }),
        sampling,
        output: OutputMode::Text,
    }
}

pub fn with_tools(
    mut req: GenerateRequest,
    tools: Vec<ToolSpec>,
    choice: ToolChoice,
) -> GenerateRequest {
    if let Task::Chat(c) = &mut req.task {
        c.tools = tools;
        c.tool_choice = choice;
    }
    req
}

pub fn weather() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: Some("Weather of a city.".into()),
        parameters: serde_json::json!({
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]
        }),
        strict: false,
    }
}

/// A reply, reassembled.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    pub text: String,
    /// `(name, arguments)` per call index.
    pub calls: Vec<(String, String)>,
    pub usage: Option<Usage>,
    pub finish: Option<FinishReason>,
    pub error: Option<EngineError>,
    pub events: usize,
    /// Speech: the id announced first.
    pub audio_id: Option<String>,
    /// Speech: every sample, in order.
    pub samples: Vec<f32>,
    /// Speech: audio chunks received.
    pub chunks: usize,
    /// Speech: the stored reply's transcript (`AudioDone`).
    pub transcript: Option<String>,
}

/// Reads a stream to its end, checking the event order.
pub async fn collect(mut events: omnivox_runtime::api::EventStream) -> Reply {
    let mut r = Reply::default();
    while let Some(e) = events.next().await {
        assert!(
            r.finish.is_none() && r.error.is_none(),
            "an event after the end: {e:?}"
        );
        r.events += 1;
        if let Event::AudioStarted { id } = &e {
            assert_eq!(r.events, 1, "the audio id comes first");
            assert!(id.starts_with("audio_"), "{id}");
            r.audio_id = Some(id.clone());
            continue;
        }
        match e {
            Event::AudioChunk(c) => {
                assert!(r.audio_id.is_some() && r.transcript.is_none());
                assert!(!c.samples.is_empty(), "empty audio chunk");
                let at = r.samples.len() as u64 * 1000 / 24_000;
                assert!(
                    c.start_ms.abs_diff(at) <= r.chunks as u64 + 1,
                    "chunk {} starts at {} ms, its samples at {at} ms",
                    r.chunks,
                    c.start_ms
                );
                r.chunks += 1;
                r.samples.extend(c.samples);
            }
            Event::AudioDone(d) => {
                assert_eq!(Some(&d.id), r.audio_id.as_ref());
                assert!(r.usage.is_none() && r.transcript.is_none());
                r.transcript = Some(d.transcript);
            }
            Event::TextDelta(t) => {
                assert!(r.usage.is_none());
                assert!(!t.is_empty(), "empty text delta");
                r.text.push_str(&t);
            }
            Event::ToolCallDelta(d) => {
                let i = d.index as usize;
                if i == r.calls.len() {
                    assert!(
                        d.id.as_deref().is_some_and(|id| id.starts_with("call_")),
                        "{d:?}"
                    );
                    r.calls.push((d.name.clone().unwrap(), String::new()));
                } else {
                    assert!(d.id.is_none() && d.name.is_none());
                }
                r.calls[i].1.push_str(&d.arguments);
            }
            Event::Usage(u) => {
                assert!(r.usage.is_none());
                r.usage = Some(u);
            }
            Event::Finished(f) => {
                assert!(r.usage.is_some(), "usage comes before finished");
                r.finish = Some(f);
            }
            Event::Error(e) => r.error = Some(e),
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert!(
        r.finish.is_some() || r.error.is_some(),
        "the stream ended without finishing"
    );
    r
}

/// Submits and collects.
pub async fn run(engine: &OmniEngine, req: GenerateRequest) -> Result<Reply, EngineError> {
    let events = engine.submit(req).await?;
    Ok(collect(events).await)
}
