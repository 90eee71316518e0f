//! Speech out through the engine (continuous batching, paged KV, talker
//! stepped after each thinker step) on the tiny Qwen3-Omni checkpoint with
//! a talker, against transformers' `Qwen3OmniMoeForConditionalGeneration.generate`
//! (`tools/reference/qwen3_omni_talker.py`): the same text, the same number
//! of talker tokens and the same waveform. Also: later turns by audio id,
//! read-aloud requests, voices, and text-only requests on a speaking model
//! (the speed stretch is tested on the demo model, whose Code2Wav makes
//! 1920 samples per frame: tests/demo.rs).

#![allow(clippy::unwrap_used)]

mod common;

use burn::tensor::backend::Backend;
use common::*;
use omnivox_model::testing::{Reference, check_close, fixture_dir};
use omnivox_runtime::api::{
    ContentPart, Engine, EngineError, FinishReason, GenerateRequest, Message, OutputMode, Role,
    SpeakTask, SpeechOutput, Task,
};
use omnivox_runtime::engine::{EngineConfig, OmniEngine};
use omnivox_tokenizer::Tokenizer;
use std::sync::Arc;

const NAME: &str = "qwen3_omni_talker";

/// The reference's conversation, its clips from the talker fixture.
fn messages() -> Vec<Message> {
    let r = Reference::open(NAME).unwrap();
    let c: Vec<Vec<f32>> = (0..2)
        .map(|i| r.f32(&format!("clip.{i}")).unwrap().0)
        .collect();
    vec![
        Message::text(
            Role::System,
            "You are Qwen, a virtual human developed by the Qwen Team.",
        ),
        user_parts(vec![
            audio(&c[0]),
            ContentPart::Text("What is said?".into()),
        ]),
        Message::text(Role::Assistant, "Someone is reading a sentence."),
        user_parts(vec![
            ContentPart::Text("And in this one?".into()),
            audio(&c[1]),
        ]),
    ]
}

fn speaking(mut req: GenerateRequest, voice: &str, speed: f32) -> GenerateRequest {
    req.output = OutputMode::Speech(SpeechOutput {
        voice: voice.into(),
        speed,
    });
    req
}

fn talker_engine<B: Backend>(device: &B::Device, audio_tokens: u32) -> Arc<OmniEngine> {
    let config = EngineConfig {
        max_output_audio_tokens: audio_tokens,
        // Prefill in chunks: the talker's prompt rows are captured chunk by
        // chunk.
        step_tokens: 40,
        // The fixture's tiny vocabulary has `system`, `user` and `assistant`
        // as added tokens; sanitizing would mark the roles themselves (as
        // transformers would), and the reference rendered without it.
        sanitize_control_tokens: false,
        ..EngineConfig::default()
    };
    engine::<B>(NAME, device, config)
}

/// Greedy: the thinker's tokens, the talker's token count and the waveform
/// equal `generate`'s for a reply that ends on codec EOS (`main`) and one
/// that hits the talker's token limit (`limit`); the transcript is every
/// generated token but the last; the reply is stored under its id.
fn greedy_speech_equals_generate<B: Backend>(device: &B::Device) {
    let reference = Reference::open(NAME).unwrap();
    let prompt = reference.ids("input_ids").unwrap();
    let tok = Tokenizer::from_dir(&fixture_dir(NAME)).unwrap();
    for (case, voice, max) in [("main", "Ethan", 64), ("limit", "chelsie", 9)] {
        let engine = talker_engine::<B>(device, max);
        let sequences = reference.ids(&format!("{case}.sequences")).unwrap();
        let ids = &sequences[prompt.len()..];
        let req = speaking(chat(messages(), greedy(ids.len() as u32)), voice, 1.0);
        let r = runtime().block_on(run(&engine, req)).unwrap();
        assert!(r.error.is_none(), "{case}: {:?}", r.error);
        assert_eq!(r.text, tok.decode(ids, true).unwrap(), "{case}: text");
        assert_eq!(r.finish, Some(FinishReason::Length), "{case}");
        let talker = reference.ids(&format!("{case}.talker_tokens")).unwrap();
        let usage = r.usage.unwrap();
        assert_eq!(usage.completion.audio as usize, talker.len(), "{case}");
        assert_eq!(usage.completion.text as usize, ids.len(), "{case}");
        let (want, _) = reference.f32(&format!("{case}.waveform")).unwrap();
        check_close(&r.samples, &want, 1e-4, 0.0)
            .unwrap_or_else(|e| panic!("{case}: waveform: {e}"));
        assert!(r.chunks > 1, "{case}: streamed frame by frame");
        let transcript = tok.decode(&ids[..ids.len() - 1], true).unwrap();
        assert_eq!(r.transcript.as_deref(), Some(transcript.as_str()), "{case}");
        // A later turn refers to the reply by its id.
        let id = r.audio_id.clone().unwrap();
        let mut next = messages();
        next.push(Message {
            content: vec![ContentPart::SpokenReply { audio_id: id }],
            ..Message::text(Role::Assistant, "")
        });
        next.push(user("Say that again."));
        let again = runtime().block_on(run(&engine, chat(next, greedy(3))));
        assert!(again.unwrap().error.is_none(), "{case}: the id resolves");
    }
}

/// A stop string that spans two tokens ends the reply before it, and what
/// it cut is not spoken either: the first of its tokens was held back from
/// the talker while the stop string could still match, then dropped.
fn a_stop_string_is_not_spoken<B: Backend>(device: &B::Device) {
    let reference = Reference::open(NAME).unwrap();
    let prompt = reference.ids("input_ids").unwrap();
    let tok = Tokenizer::from_dir(&fixture_dir(NAME)).unwrap();
    let sequences = reference.ids("main.sequences").unwrap();
    let ids = &sequences[prompt.len()..];
    let full = tok.decode(ids, true).unwrap();
    // The first pair of tokens k, k+1 with text of their own, whose text
    // first occurs in the reply right where token k starts.
    let text = |r: std::ops::Range<usize>| tok.decode(&ids[r], true).unwrap();
    let (k, stop) = (1..ids.len() - 2)
        .find_map(|k| {
            let (before, stop) = (text(0..k), text(k..k + 2));
            // Random weights make byte-level tokens that are not text on
            // their own; the stop string must be real text.
            let clean = !stop.contains('\u{FFFD}');
            let own = !text(k..k + 1).is_empty() && !text(k + 1..k + 2).is_empty();
            (clean && own && full.find(stop.as_str()) == Some(before.len())).then_some((k, stop))
        })
        .unwrap_or_else(|| panic!("no two such tokens in the reference reply {full:?}"));
    let engine = talker_engine::<B>(device, 64);
    let mut sampling = greedy(ids.len() as u32);
    sampling.stop = vec![stop.clone()];
    let req = speaking(chat(messages(), sampling), "ethan", 1.0);
    let r = runtime().block_on(run(&engine, req)).unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.finish, Some(FinishReason::Stop));
    assert_eq!(r.text, text(0..k), "the text ends before {stop:?}");
    let transcript = r.transcript.expect("something was said");
    assert_eq!(transcript, text(0..k), "the speech ends before {stop:?}");
    assert!(r.usage.unwrap().completion.audio > 0);
}

/// A read-aloud request's reply is its text, verbatim, whatever the model
/// would have said; what is spoken is that text.
fn read_aloud_is_verbatim<B: Backend>(device: &B::Device) {
    let engine = talker_engine::<B>(device, 64);
    let text = "Hello there, this is read aloud.";
    let req = GenerateRequest {
        request_id: "speak".into(),
        task: Task::Speak(SpeakTask {
            text: text.into(),
            instructions: Some("calmly".into()),
        }),
        sampling: greedy(100),
        output: OutputMode::Speech(SpeechOutput {
            voice: "alloy".into(),
            speed: 1.0,
        }),
    };
    let r = runtime().block_on(run(&engine, req)).unwrap();
    assert_eq!(r.text, text);
    assert_eq!(r.finish, Some(FinishReason::Stop));
    assert!(r.audio_id.is_some());
    if let Some(t) = &r.transcript {
        assert_eq!(t, text);
    }
}

/// Unknown voices and out-of-range speeds fail before any compute, naming
/// the parameter; a text-only request on a speaking model has no audio.
fn voices_and_text_only<B: Backend>(device: &B::Device) {
    let engine = talker_engine::<B>(device, 16);
    let rt = runtime();
    let info = engine.info();
    let names: Vec<&str> = info.voices.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["aiden", "chelsie", "ethan"]);
    assert_eq!(
        info.voice_aliases.get("alloy").map(String::as_str),
        Some("chelsie")
    );
    let bad = speaking(chat(vec![user("hi")], greedy(4)), "nobody", 1.0);
    match rt.block_on(engine.submit(bad)) {
        Err(EngineError::InvalidRequest { param, message }) => {
            assert_eq!(param, "audio.voice");
            assert!(message.contains("ethan"), "{message}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let fast = speaking(chat(vec![user("hi")], greedy(4)), "ethan", 5.0);
    assert!(matches!(
        rt.block_on(engine.submit(fast)),
        Err(EngineError::InvalidRequest { param, .. }) if param == "audio.speed"
    ));
    let text = rt
        .block_on(run(&engine, chat(vec![user("hi")], greedy(4))))
        .unwrap();
    assert!(text.audio_id.is_none() && text.samples.is_empty());
    assert_eq!(text.usage.unwrap().completion.audio, 0);
}

omnivox_model::backend_tests!(
    greedy_speech_equals_generate,
    a_stop_string_is_not_spoken,
    read_aloud_is_verbatim,
    voices_and_text_only,
);
