//! The thinker session end to end on tiny Qwen3-Omni checkpoints: raw audio
//! samples and messages in, streamed tokens and text out, against
//! transformers' processor + `Qwen3OmniMoeThinkerForConditionalGeneration.generate`
//! (`tools/reference/qwen3_omni_thinker.py`): plain greedy, greedy with the
//! checkpoint's `generation_config.json` in force (repetition penalty,
//! suppressed ids), and a tool call through the chat template with `tools`.

#![allow(clippy::unwrap_used)]

use burn::tensor::backend::Backend;
use omnivox_model::testing::{Reference, fixture_dir};
use omnivox_runtime::sampling::SamplingOverrides;
use omnivox_runtime::thinker_session::{FinishReason, TextToken, ThinkerRequest, ThinkerSession};
use serde_json::Value;

fn request(fixture: &str) -> (ThinkerRequest, Reference) {
    let text = std::fs::read_to_string(fixture_dir(fixture).join("cases.json")).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    let reference = Reference::open(fixture).unwrap();
    let clips = reference
        .keys()
        .iter()
        .filter(|k| k.starts_with("clip."))
        .count();
    let audio = (0..clips)
        .map(|i| reference.f32(&format!("clip.{i}")).unwrap().0)
        .collect();
    let req = ThinkerRequest {
        messages: cases["messages"].as_array().unwrap().clone(),
        audio,
        tools: cases["tools"].as_array().cloned(),
        template_kwargs: cases["kwargs"].as_object().unwrap().clone(),
        ..ThinkerRequest::default()
    };
    (req, reference)
}

fn run<B: Backend>(session: &ThinkerSession<B>, req: &ThinkerRequest) -> Vec<TextToken> {
    session
        .generate(req)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn ids(tokens: &[TextToken]) -> Vec<u32> {
    tokens.iter().map(|t| t.id).collect()
}

/// Greedy with the checkpoint's penalty and suppression switched off by the
/// request: 32 tokens equal to plain greedy `generate`, and the streamed
/// text equal to decoding them at once.
fn plain_greedy_from_raw_audio<B: Backend>(device: &B::Device) {
    let session = ThinkerSession::<B>::open(fixture_dir("qwen3_omni_thinker"), device).unwrap();
    let (mut req, reference) = request("qwen3_omni_thinker");
    req.max_new_tokens = Some(32);
    req.sampling = SamplingOverrides {
        temperature: Some(0.0),
        repetition_penalty: Some(1.0),
        suppress_tokens: Some(Vec::new()),
        ..SamplingOverrides::default()
    };
    let stream = session.generate(&req).unwrap();
    assert_eq!(
        stream.prompt_tokens(),
        reference.ids("input_ids").unwrap().len()
    );
    let tokens: Vec<TextToken> = stream.collect::<Result<_, _>>().unwrap();
    let want = reference.ids("greedy_plain").unwrap();
    assert_eq!(ids(&tokens), want);
    assert_eq!(tokens.last().unwrap().finish, Some(FinishReason::Length));
    assert!(
        tokens[..tokens.len() - 1]
            .iter()
            .all(|t| t.finish.is_none())
    );
    let text: String = tokens.iter().map(|t| t.text.as_str()).collect();
    let whole = session.processor().tokenizer().decode(&want, true).unwrap();
    assert_eq!(text, whole);
}

/// Only the temperature is set: the checkpoint's repetition penalty (1.3)
/// and suppressed ids apply, as `generate` applies them.
fn checkpoint_defaults_are_honoured<B: Backend>(device: &B::Device) {
    let session = ThinkerSession::<B>::open(fixture_dir("qwen3_omni_thinker"), device).unwrap();
    let (mut req, reference) = request("qwen3_omni_thinker");
    req.max_new_tokens = Some(32);
    req.sampling.temperature = Some(0.0);
    let tokens = run(&session, &req);
    assert_eq!(ids(&tokens), reference.ids("greedy_defaults").unwrap());
}

/// Tools in the template, no request parameters at all (the checkpoint's
/// generation config is greedy): the reply is the reference's tool call,
/// ending on `<|im_end|>`.
fn tool_call_through_the_template<B: Backend>(device: &B::Device) {
    let session = ThinkerSession::<B>::open(fixture_dir("qwen3_omni_tool_call"), device).unwrap();
    let (req, reference) = request("qwen3_omni_tool_call");
    let tokens = run(&session, &req);
    assert_eq!(ids(&tokens), reference.ids("greedy").unwrap());
    assert_eq!(tokens.last().unwrap().finish, Some(FinishReason::Stop));
    let text: String = tokens.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        text,
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
    );
}

/// Sampling: the same seed gives the same tokens; the limit is honoured.
fn seeded_sampling_is_reproducible<B: Backend>(device: &B::Device) {
    let session = ThinkerSession::<B>::open(fixture_dir("qwen3_omni_thinker"), device).unwrap();
    let (mut req, _) = request("qwen3_omni_thinker");
    req.max_new_tokens = Some(12);
    req.sampling = SamplingOverrides {
        temperature: Some(1.0),
        top_k: Some(0),
        top_p: Some(1.0),
        seed: Some(9),
        ..Default::default()
    };
    let a = run(&session, &req);
    let b = run(&session, &req);
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a.len(), 12);
    req.sampling.seed = Some(10);
    assert_ne!(ids(&run(&session, &req)), ids(&a));
}

/// Bad requests are errors, not panics.
fn bad_requests_are_refused<B: Backend>(device: &B::Device) {
    let session = ThinkerSession::<B>::open(fixture_dir("qwen3_omni_thinker"), device).unwrap();
    let (mut req, _) = request("qwen3_omni_thinker");
    req.audio.pop();
    assert!(session.generate(&req).is_err());
    let (mut req, _) = request("qwen3_omni_thinker");
    req.sampling.top_p = Some(1.5);
    let err = session.generate(&req).unwrap_err().to_string();
    assert!(err.contains("top_p"), "{err}");
    let err = ThinkerSession::<B>::open(fixture_dir("qwen3_tiny"), device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a Qwen3-Omni checkpoint"), "{err}");
}

omnivox_model::backend_tests!(
    plain_greedy_from_raw_audio,
    checkpoint_defaults_are_honoured,
    tool_call_through_the_template,
    seeded_sampling_is_reproducible,
    bad_requests_are_refused
);
