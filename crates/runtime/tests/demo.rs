//! The demo model served by the real engine: it says it is the demo, and
//! answers chats (text, audio in, forced tool calls) with noise that is
//! still well formed.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use omnivox_runtime::api::{ContentPart, Engine, FinishReason, SamplingParams, ToolChoice};
use omnivox_runtime::audio_store::MemoryAudioStore;
use omnivox_runtime::demo;
use omnivox_runtime::engine::start_on;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn the_demo_serves_chats() {
    type B = omnivox_model::testing::Flex;
    let root = std::env::temp_dir().join(format!("omnivox-demo-engine-{}", std::process::id()));
    let dir = demo::ensure(&root).unwrap();
    let engine = start_on::<B>(
        &dir,
        Default::default(),
        demo::engine_config(),
        Arc::new(MemoryAudioStore::default()),
    )
    .unwrap();
    let info = engine.info().clone();
    assert!(info.is_demo);
    assert_eq!(info.served_name, "omnivox-demo");
    assert_eq!(info.created, 1_767_225_600);
    while !matches!(engine.readiness(), omnivox_runtime::api::Readiness::Ready) {
        assert!(
            !matches!(
                engine.readiness(),
                omnivox_runtime::api::Readiness::Failed { .. }
            ),
            "{:?}",
            engine.readiness()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
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
