//! Continuous batching on the tiny Qwen3-Omni fixture: concurrent requests
//! share forward passes and give, greedy, what they give one at a time;
//! cancelled streams give every KV block back; a full engine answers
//! `Overloaded` after its admission bound; a full pool preempts and still
//! finishes everything.

#![allow(clippy::unwrap_used)]

mod common;

use burn::tensor::backend::Backend;
use common::*;
use futures::StreamExt;
use omnivox_runtime::api::{
    ContentPart, Engine, EngineError, FinishReason, GenerateRequest, OutputMode, SpeechOutput,
    ToolChoice,
};
use omnivox_runtime::engine::{EngineConfig, OmniEngine};
use std::time::{Duration, Instant};

/// Sixteen different requests: text only, with audio, with a forced tool
/// call, with tools offered, with stop strings; prompts and lengths vary.
/// With `speech`, half of them (text and audio in, tools offered) answer
/// aloud, in two voices, one at speed 1.5.
fn mixed_requests(speech: bool) -> Vec<GenerateRequest> {
    let c = clips();
    (0..16)
        .map(|i| {
            let max = 6 + (i as u32 * 5) % 23;
            let text = format!("Request number {i}: {}", "tell me more. ".repeat(i % 5));
            let mut req = match i % 4 {
                0 => chat(vec![user(&text)], greedy(max)),
                1 => chat(
                    vec![user_parts(vec![audio(&c[i % 2]), ContentPart::Text(text)])],
                    greedy(max),
                ),
                2 => with_tools(
                    chat(vec![user(&text)], greedy(60 + max)),
                    vec![weather()],
                    ToolChoice::Required,
                ),
                _ => with_tools(
                    chat(vec![user(&text)], greedy(max)),
                    vec![weather()],
                    ToolChoice::Auto,
                ),
            };
            if i % 5 == 3 {
                req.sampling.stop = vec!["e".into()];
            }
            if speech && i % 4 != 2 && i % 2 == 0 || speech && i % 4 == 1 {
                req.output = OutputMode::Speech(SpeechOutput {
                    voice: if i % 3 == 0 { "ethan" } else { "alloy" }.into(),
                    speed: if i == 5 { 1.5 } else { 1.0 },
                });
            }
            req.request_id = format!("req-{i}");
            req
        })
        .collect()
}

fn small_steps() -> EngineConfig {
    // A small token budget per step: long prompts are prefilled in chunks
    // while other sequences decode in the same passes.
    EngineConfig {
        step_tokens: 48,
        ..EngineConfig::default()
    }
}

/// Greedy, concurrent = one at a time, reply by reply; and the engine ran
/// them together (more than one sequence in a step).
fn concurrent_equals_sequential<B: Backend>(device: &B::Device) {
    let engine = engine::<B>("qwen3_omni_thinker", device, small_steps());
    same_together_as_alone(&engine, mixed_requests(false));
}

/// The same with spoken replies on the checkpoint that has a talker: the
/// talkers of the batch step together, and each reply's audio equals the
/// audio it has alone.
fn concurrent_speech_equals_sequential<B: Backend>(device: &B::Device) {
    let config = EngineConfig {
        max_output_audio_tokens: 40,
        // The fixture's vocabulary has its role names as added tokens (see
        // tests/engine_speech.rs).
        sanitize_control_tokens: false,
        ..small_steps()
    };
    let engine = engine::<B>("qwen3_omni_talker", device, config);
    let replies = same_together_as_alone(&engine, mixed_requests(true));
    let spoken = replies.iter().filter(|r| !r.samples.is_empty()).count();
    assert!(spoken >= 4, "{spoken} replies were spoken");
    // Speaking streams dropped mid-reply leave nothing behind.
    let baseline = engine.metrics();
    let rt = runtime();
    rt.block_on(async {
        let mut streams = Vec::new();
        for _ in 0..4 {
            let mut req = chat(vec![user("Talk for a long time.")], greedy(500));
            req.output = OutputMode::Speech(SpeechOutput {
                voice: "ethan".into(),
                speed: 1.0,
            });
            streams.push(engine.submit(req).await.unwrap());
        }
        for s in &mut streams {
            for _ in 0..3 {
                assert!(s.next().await.is_some(), "generation started");
            }
        }
        drop(streams);
    });
    let took = settles(&engine);
    assert!(took < Duration::from_secs(2), "cancellation took {took:?}");
    assert_eq!(engine.metrics(), baseline);
}

fn same_together_as_alone(
    engine: &std::sync::Arc<OmniEngine>,
    reqs: Vec<GenerateRequest>,
) -> Vec<Reply> {
    let rt = runtime();
    let alone: Vec<Reply> = reqs
        .iter()
        .map(|r| rt.block_on(run(engine, r.clone())).unwrap())
        .collect();
    let before = engine.stats();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let together: Vec<Reply> = rt.block_on(async {
        let watch = {
            let engine = engine.clone();
            let peak = peak.clone();
            async move {
                loop {
                    let r = engine.metrics().running;
                    peak.fetch_max(r, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        let all = futures::future::join_all(reqs.iter().map(|r| run(engine, r.clone())));
        tokio::select! {
            out = all => out.into_iter().map(Result::unwrap).collect(),
            _ = watch => unreachable!(),
        }
    });
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(a.text, b.text, "request {i}: text");
        assert_eq!(a.calls, b.calls, "request {i}: calls");
        assert_eq!(a.usage, b.usage, "request {i}: usage");
        assert_eq!(a.finish, b.finish, "request {i}: finish");
        assert_eq!(a.transcript, b.transcript, "request {i}: transcript");
        assert_eq!(a.samples.len(), b.samples.len(), "request {i}: samples");
        omnivox_model::testing::check_close(&b.samples, &a.samples, 1e-4, 0.0)
            .unwrap_or_else(|e| panic!("request {i}: audio: {e}"));
    }
    // The forced calls are calls; the stop strings stopped.
    for (i, r) in together.iter().enumerate() {
        if i % 4 == 2 {
            assert_eq!(
                r.finish,
                Some(FinishReason::ToolCalls),
                "request {i}: {r:?}"
            );
            assert_eq!(r.calls.len(), 1);
            let args: serde_json::Value = serde_json::from_str(&r.calls[0].1).unwrap();
            assert!(args["city"].is_string());
        }
    }
    assert!(
        peak.load(std::sync::atomic::Ordering::Relaxed) > 4,
        "requests were batched together"
    );
    let after = engine.stats();
    let (steps, seqs) = (
        after.steps - before.steps,
        after.sequence_steps - before.sequence_steps,
    );
    assert!(
        seqs > 3 * steps,
        "mean batch above 3: {seqs} sequence-steps in {steps} steps"
    );
    settles(engine);
    together
}

/// Waits until the engine has no running request and no used block.
fn settles(engine: &OmniEngine) -> Duration {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        let m = engine.metrics();
        if m.running == 0 && m.kv_blocks_used == 0 && m.waiting == 0 {
            return t.elapsed();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the engine did not settle: {:?}", engine.metrics());
}

/// Dropping streams mid-generation stops them and returns every block;
/// the pool is back at its baseline and the engine serves again.
fn cancellation_frees_everything<B: Backend>(device: &B::Device) {
    let engine = engine::<B>("qwen3_omni_thinker", device, small_steps());
    let rt = runtime();
    let baseline = engine.metrics();
    assert_eq!((baseline.kv_blocks_used, baseline.running), (0, 0));
    assert!(baseline.kv_blocks_total > 0);
    let c = clips();
    rt.block_on(async {
        let mut streams = Vec::new();
        for i in 0..6 {
            let req = if i % 2 == 0 {
                chat(vec![user("Go on and on.")], greedy(2000))
            } else {
                chat(
                    vec![user_parts(vec![
                        audio(&c[0]),
                        ContentPart::Text("Keep talking.".into()),
                    ])],
                    greedy(2000),
                )
            };
            streams.push(engine.submit(req).await.unwrap());
        }
        for s in &mut streams {
            assert!(s.next().await.is_some(), "generation started");
        }
        assert!(engine.metrics().kv_blocks_used > 0);
        drop(streams);
    });
    let took = settles(&engine);
    assert!(took < Duration::from_secs(2), "cancellation took {took:?}");
    assert_eq!(engine.metrics(), baseline);
    let again = rt
        .block_on(run(&engine, chat(vec![user("hi")], greedy(4))))
        .unwrap();
    assert_eq!(again.finish, Some(FinishReason::Length));
    // A request withdrawn before admission leaves nothing behind either.
    rt.block_on(async {
        let fut = engine.submit(chat(vec![user("never mind")], greedy(4)));
        drop(fut);
    });
    settles(&engine);
}

/// One running slot, one queue slot, a short admission bound: the third
/// request is refused with `Overloaded` after about that bound.
fn overload_is_a_typed_error<B: Backend>(device: &B::Device) {
    let config = EngineConfig {
        max_running: 1,
        max_waiting: 1,
        admission_timeout: Duration::from_millis(300),
        ..EngineConfig::default()
    };
    let engine = engine::<B>("qwen3_omni_thinker", device, config);
    let rt = runtime();
    rt.block_on(async {
        let mut busy = engine
            .submit(chat(vec![user("Talk.")], greedy(3000)))
            .await
            .unwrap();
        assert!(busy.next().await.is_some());
        let t = Instant::now();
        let (second, third) = futures::join!(
            engine.submit(chat(vec![user("me too")], greedy(4))),
            engine.submit(chat(vec![user("and me")], greedy(4))),
        );
        let waited = t.elapsed();
        for r in [second, third] {
            match r {
                Err(EngineError::Overloaded { retry_after, .. }) => {
                    assert!(retry_after > Duration::ZERO)
                }
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("admitted although the engine is full"),
            }
        }
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        drop(busy);
    });
    settles(&engine);
}

/// A pool far too small for everyone at once: older sequences take the
/// blocks of younger ones, which are prefilled again later; every request
/// still finishes with all its tokens, and every block comes back.
fn a_full_pool_preempts_and_recovers<B: Backend>(device: &B::Device) {
    let config = EngineConfig {
        kv_block_size: 4,
        // 3 layers × 2 kv heads × 16 × 4 bytes × 2 = 768 bytes per token: 40 blocks of 4.
        kv_cache_bytes: 768 * 4 * 40,
        step_tokens: 32,
        ..EngineConfig::default()
    };
    let engine = engine::<B>("qwen3_omni_thinker", device, config);
    assert_eq!(engine.metrics().kv_blocks_total, 40);
    let rt = runtime();
    let reqs: Vec<GenerateRequest> = (0..6)
        .map(|i| chat(vec![user(&format!("Number {i}."))], greedy(40)))
        .collect();
    let replies: Vec<Reply> = rt
        .block_on(futures::future::join_all(
            reqs.iter().map(|r| run(&engine, r.clone())),
        ))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for r in &replies {
        assert_eq!(r.finish, Some(FinishReason::Length), "{r:?}");
        assert_eq!(r.usage.unwrap().completion.text, 40);
    }
    assert!(engine.stats().preemptions > 0, "{:?}", engine.stats());
    settles(&engine);
}

omnivox_model::backend_tests!(
    concurrent_equals_sequential,
    concurrent_speech_equals_sequential,
    cancellation_frees_everything,
    overload_is_a_typed_error,
    a_full_pool_preempts_and_recovers,
);
