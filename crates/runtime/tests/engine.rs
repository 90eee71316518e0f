//! The engine end to end on the tiny Qwen3-Omni fixtures: one request
//! against transformers' greedy output (`tools/reference/qwen3_omni_thinker.py`),
//! a tool call through the template, limits checked before any compute,
//! stop strings, seeds.

#![allow(clippy::unwrap_used)]

mod common;

use burn::tensor::backend::Backend;
use common::*;
use omnivox_model::testing::{Reference, fixture_dir};
use omnivox_runtime::api::{
    ContentPart, Engine, EngineError, FinishReason, Message, OutputMode, Role, SamplingParams,
    SpeechOutput, ToolChoice,
};
use omnivox_runtime::engine::EngineConfig;
use omnivox_tokenizer::Tokenizer;

/// The thinker fixture's conversation: two turns with audio.
fn fixture_messages() -> Vec<Message> {
    let c = clips();
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

/// Greedy with the checkpoint's repetition penalty (1.3) and suppressed
/// ids: the 32 tokens transformers' `generate` produced, as text; usage
/// counts the prompt's text and audio tokens.
fn greedy_equals_transformers<B: Backend>(device: &B::Device) {
    let engine = engine::<B>("qwen3_omni_thinker", device, EngineConfig::default());
    let reference = Reference::open("qwen3_omni_thinker").unwrap();
    let want = reference.ids("greedy_defaults").unwrap();
    let input = reference.ids("input_ids").unwrap();
    let tok = Tokenizer::from_dir(&fixture_dir("qwen3_omni_thinker")).unwrap();
    let sampling = SamplingParams {
        repetition_penalty: 1.3,
        ..greedy(want.len() as u32)
    };
    let reply = runtime()
        .block_on(run(&engine, chat(fixture_messages(), sampling)))
        .unwrap();
    assert_eq!(reply.text, tok.decode(&want, true).unwrap());
    assert_eq!(reply.finish, Some(FinishReason::Length));
    let usage = reply.usage.unwrap();
    assert_eq!(usage.completion.text as usize, want.len());
    assert_eq!(usage.prompt.total() as usize, input.len());
    let audio_tokens = input.iter().filter(|&&t| t == 1202).count();
    assert_eq!(usage.prompt.audio as usize, audio_tokens);
    assert!(audio_tokens > 0);
}

/// `auto` with the model's own choice: transformers' greedy reply is a
/// call; it arrives as a structured call, and the turn ends `tool_calls`.
fn a_tool_call_through_the_template<B: Backend>(device: &B::Device) {
    let mut config = EngineConfig::default();
    config
        .template_kwargs
        .insert("enable_thinking".into(), false.into());
    let engine = engine::<B>("qwen3_omni_tool_call", device, config);
    let r = Reference::open("qwen3_omni_tool_call").unwrap();
    let clip = r.f32("clip.0").unwrap().0;
    let messages = vec![
        Message::text(
            Role::System,
            "You are Qwen, a virtual human developed by the Qwen Team.",
        ),
        user_parts(vec![
            audio(&clip),
            ContentPart::Text("What's the weather in Paris?".into()),
        ]),
    ];
    // Room for the grammar to hold the call (it counts a byte per token).
    let req = with_tools(
        chat(messages, greedy(100)),
        vec![weather()],
        ToolChoice::Auto,
    );
    let reply = runtime().block_on(run(&engine, req)).unwrap();
    assert_eq!(reply.text, "");
    assert_eq!(
        reply.calls,
        vec![("get_weather".to_owned(), "{\"city\": \"Paris\"}".to_owned())]
    );
    assert_eq!(reply.finish, Some(FinishReason::ToolCalls));
}

/// Limits and bad values fail at `submit`, naming the parameter.
fn bad_requests_fail_before_any_compute<B: Backend>(device: &B::Device) {
    let engine = engine::<B>("qwen3_omni_thinker", device, EngineConfig::default());
    let rt = runtime();
    let submit = |req| rt.block_on(async { engine.submit(req).await.map(|_| ()) });
    let limit = engine.info().context_limit;
    assert_eq!(
        limit, 4096,
        "capped at the checkpoint's max_position_embeddings"
    );
    let err = submit(chat(vec![user("hi")], greedy(4090))).unwrap_err();
    assert!(
        matches!(err, EngineError::ContextLengthExceeded { limit: 4096, requested } if requested > 4096),
        "{err}"
    );
    let err = submit(chat(vec![user("hi")], greedy(9000))).unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidRequest { param, .. } if param == "max_completion_tokens"),
        "{err}"
    );
    let long = "word ".repeat(5000);
    let err = submit(chat(vec![user(&long)], SamplingParams::default())).unwrap_err();
    assert!(
        matches!(err, EngineError::ContextLengthExceeded { .. }),
        "{err}"
    );
    let err = submit(chat(vec![], greedy(4))).unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidRequest { param, .. } if param == "messages"),
        "{err}"
    );
    let spoken = Message {
        content: vec![ContentPart::SpokenReply {
            audio_id: "audio_nope".into(),
        }],
        ..Message::text(Role::Assistant, "")
    };
    let err = submit(chat(vec![user("hi"), spoken, user("again")], greedy(4))).unwrap_err();
    assert_eq!(
        err,
        EngineError::UnknownAudioId {
            id: "audio_nope".into()
        }
    );
    let mut sampling = greedy(4);
    sampling.stop = vec!["a".into(); 5];
    let err = submit(chat(vec![user("hi")], sampling)).unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidRequest { param, .. } if param == "stop"),
        "{err}"
    );
    let mut sampling = greedy(4);
    sampling.top_p = 0.0;
    let err = submit(chat(vec![user("hi")], sampling)).unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidRequest { param, .. } if param == "top_p"),
        "{err}"
    );
    let req = with_tools(
        chat(vec![user("hi")], greedy(4)),
        vec![],
        ToolChoice::Required,
    );
    let err = submit(req).unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidRequest { param, .. } if param == "tool_choice"),
        "{err}"
    );
    let forced = with_tools(
        chat(vec![user("hi")], greedy(5)),
        vec![weather()],
        ToolChoice::Required,
    );
    let err = submit(forced).unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidRequest { param, .. } if param == "max_completion_tokens"),
        "{err}"
    );
    let clip = vec![0.0f32; 100];
    let err = submit(chat(vec![user_parts(vec![audio(&clip)])], greedy(4))).unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidRequest { param, .. } if param == "messages"),
        "{err}"
    );
    let mut speech = chat(vec![user("hi")], greedy(4));
    speech.output = OutputMode::Speech(SpeechOutput {
        voice: "nobody".into(),
        speed: 1.0,
    });
    let err = submit(speech).unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidRequest { param, .. } if param == "audio.voice"),
        "{err}"
    );
    assert_eq!(engine.metrics().kv_blocks_used, 0, "nothing was admitted");
    // And the engine still works.
    let ok = rt
        .block_on(run(&engine, chat(vec![user("hi")], greedy(3))))
        .unwrap();
    assert_eq!(ok.usage.unwrap().completion.text, 3);
}

/// A stop string ends the reply before it, wherever the tokens split it.
fn stop_strings_cut_the_reply<B: Backend>(device: &B::Device) {
    let engine = engine::<B>("qwen3_omni_thinker", device, EngineConfig::default());
    let rt = runtime();
    let free = rt
        .block_on(run(
            &engine,
            chat(vec![user("Tell me a story.")], greedy(30)),
        ))
        .unwrap();
    let chars: Vec<char> = free.text.chars().collect();
    assert!(chars.len() > 12, "{:?}", free.text);
    // A stop string straddling the middle of the reply.
    let stop: String = chars[8..11].iter().collect();
    let cut = free.text.find(&stop).unwrap();
    let mut sampling = greedy(30);
    sampling.stop = vec![stop.clone(), "never appears \u{1F600}".into()];
    let stopped = rt
        .block_on(run(&engine, chat(vec![user("Tell me a story.")], sampling)))
        .unwrap();
    assert_eq!(stopped.text, free.text[..cut]);
    assert_eq!(stopped.finish, Some(FinishReason::Stop));
    assert!(stopped.usage.unwrap().completion.text < 30);
}

/// The same seed gives the same reply; another seed another one.
fn seeds_are_deterministic<B: Backend>(device: &B::Device) {
    let engine = engine::<B>("qwen3_omni_thinker", device, EngineConfig::default());
    let rt = runtime();
    let sampled = |seed| {
        let sampling = SamplingParams {
            temperature: 1.0,
            seed: Some(seed),
            max_completion_tokens: Some(16),
            ..SamplingParams::default()
        };
        rt.block_on(run(&engine, chat(vec![user("Pick some words.")], sampling)))
            .unwrap()
            .text
    };
    let a = sampled(7);
    assert_eq!(a, sampled(7));
    assert_ne!(a, sampled(8));
}

omnivox_model::backend_tests!(
    greedy_equals_transformers,
    a_tool_call_through_the_template,
    bad_requests_fail_before_any_compute,
    stop_strings_cut_the_reply,
    seeds_are_deterministic,
);
