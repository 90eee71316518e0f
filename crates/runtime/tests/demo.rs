//! The demo model served by the real engine: it says it is the demo, and
//! answers chats (text, audio in, forced tool calls) with noise that is
//! still well formed.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use omnivox_runtime::api::Readiness;
use omnivox_runtime::api::{
    ContentPart, Engine, FinishReason, OutputMode, SamplingParams, SpeechOutput, ToolChoice,
};
use omnivox_runtime::audio_store::MemoryAudioStore;
use omnivox_runtime::demo;
use omnivox_runtime::engine::{EngineConfig, OmniEngine, Quantization, start_on};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The engine on the demo checkpoint in `dir`, on flex (loading in the
/// background: see [`wait_ready`]).
fn start_demo(dir: &Path, config: EngineConfig) -> Arc<OmniEngine> {
    start_on::<omnivox_model::testing::Flex>(
        dir,
        Default::default(),
        config,
        Arc::new(MemoryAudioStore::default()),
    )
    .unwrap()
}

/// Waits until `engine` has loaded; fails the test if loading failed.
fn wait_ready(engine: &OmniEngine) {
    loop {
        match engine.readiness() {
            Readiness::Ready => return,
            Readiness::Failed { reason } => panic!("the engine failed to load: {reason}"),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[test]
fn the_demo_serves_chats() {
    let root = std::env::temp_dir().join(format!("omnivox-demo-engine-{}", std::process::id()));
    let dir = demo::ensure(&root).unwrap();
    let engine = start_demo(&dir, demo::engine_config());
    let info = engine.info().clone();
    assert!(info.is_demo);
    assert_eq!(info.served_name, "omnivox-demo");
    assert_eq!(info.created, 1_767_225_600);
    wait_ready(&engine);
    let rt = runtime();
    // No limit given: the demo's own short default.
    let text = rt
        .block_on(run(
            &engine,
            chat(vec![user("Say hello.")], SamplingParams::default()),
        ))
        .unwrap();
    assert!(matches!(
        text.finish,
        Some(FinishReason::Length | FinishReason::Stop)
    ));
    assert!(text.usage.unwrap().completion.text <= 24);
    assert!(!text.text.is_empty());
    let tone: Vec<f32> = (0..24_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    let heard = rt
        .block_on(run(
            &engine,
            chat(
                vec![user_parts(vec![
                    audio(&tone),
                    ContentPart::Text("What is this?".into()),
                ])],
                greedy(8),
            ),
        ))
        .unwrap();
    assert!(heard.usage.unwrap().prompt.audio > 0);
    let call = with_tools(
        chat(vec![user("Weather in Oslo?")], SamplingParams::default()),
        vec![weather()],
        ToolChoice::Required,
    );
    let call = rt.block_on(run(&engine, call)).unwrap();
    assert_eq!(call.finish, Some(FinishReason::ToolCalls));
    let args: serde_json::Value = serde_json::from_str(&call.calls[0].1).unwrap();
    assert!(args["city"].is_string(), "{args}");
    let _ = std::fs::remove_dir_all(&root);
}

/// The demo speaks: audio streams frame by frame, and `speed` stretches it
/// (2 halves its length, 0.5 doubles it) without changing what is said.
#[test]
fn the_demo_speaks_at_any_speed() {
    let root = std::env::temp_dir().join(format!("omnivox-demo-speech-{}", std::process::id()));
    let dir = demo::ensure(&root).unwrap();
    let config = EngineConfig {
        max_output_audio_tokens: 24,
        ..demo::engine_config()
    };
    let engine = start_demo(&dir, config);
    wait_ready(&engine);
    let rt = runtime();
    let reply = |speed: f32| {
        let mut req = chat(vec![user("Say something.")], greedy(12));
        req.output = OutputMode::Speech(SpeechOutput {
            voice: "ethan".into(),
            speed,
        });
        rt.block_on(run(&engine, req)).unwrap()
    };
    let natural = reply(1.0);
    assert!(natural.error.is_none(), "{:?}", natural.error);
    assert!(
        natural.samples.len() >= 24_000,
        "a second of audio to stretch: {} samples, {:?}",
        natural.samples.len(),
        natural.usage
    );
    assert!(natural.chunks > 4, "streamed frame by frame");
    for speed in [2.0f32, 0.5] {
        let r = reply(speed);
        assert_eq!(r.text, natural.text);
        assert_eq!(r.usage, natural.usage);
        let ratio = r.samples.len() as f64 * f64::from(speed) / natural.samples.len() as f64;
        assert!(
            (ratio - 1.0).abs() < 0.05,
            "speed {speed}: length ratio {ratio}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// The demo's thinker quantized at load (int8 per channel, NF4 with double
/// quant) still serves: a reply of the asked length, spoken.
#[test]
fn the_demo_runs_quantized() {
    let root = std::env::temp_dir().join(format!("omnivox-demo-quant-{}", std::process::id()));
    let dir = demo::ensure(&root).unwrap();
    for q in [Quantization::Int8, Quantization::Nf4] {
        let config = EngineConfig {
            quantization: q,
            max_output_audio_tokens: 8,
            ..demo::engine_config()
        };
        let engine = start_demo(&dir, config);
        wait_ready(&engine);
        let mut req = chat(vec![user("Say something.")], greedy(6));
        req.output = OutputMode::Speech(SpeechOutput {
            voice: "alloy".into(),
            speed: 1.0,
        });
        let r = runtime().block_on(run(&engine, req)).unwrap();
        assert!(r.error.is_none(), "{q}: {:?}", r.error);
        assert_eq!(r.usage.unwrap().completion.text, 6, "{q}");
        assert!(r.audio_id.is_some(), "{q}");
    }
    let _ = std::fs::remove_dir_all(&root);
}
