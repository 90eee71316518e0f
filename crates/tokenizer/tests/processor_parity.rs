//! The Qwen3-Omni prompt path equal to transformers' `Qwen3OmniMoeProcessor`
//! (fixtures/processor, made by tools/reference/processor.py): token ids of
//! rendered conversations with several audio clips, each clip's features,
//! and the number of audio tokens for every length from 0.01 s to 10 min.

mod common;

use anyhow::Result;
use omnivox_tokenizer::{ChatInput, Error, Qwen3OmniProcessor, num_audio_tokens};

const FIXTURE: &str = "processor";
const GAINS: [f32; 5] = [1.0, 0.8, 0.6, 0.9, 0.7];

/// logmel.py's signal construction.
fn build(clip: &[f32], n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| clip[i % clip.len()] * GAINS[(i / clip.len()) % GAINS.len()])
        .collect()
}

fn processor() -> Result<Qwen3OmniProcessor> {
    Ok(Qwen3OmniProcessor::from_dir(&common::fixture(FIXTURE))?)
}

#[test]
fn audio_token_count_matches_the_reference_for_every_length() -> Result<()> {
    let t = common::Tensors::open(FIXTURE, "reference.safetensors")?;
    let (by_frames, _) = t.i64("sweep_frames_tokens")?;
    for (frames, &want) in by_frames.iter().enumerate() {
        assert_eq!(num_audio_tokens(frames, 50) as i64, want, "{frames} frames");
    }
    let (samples, _) = t.i64("sweep_samples")?;
    let (by_samples, _) = t.i64("sweep_samples_tokens")?;
    for (&n, &want) in samples.iter().zip(&by_samples) {
        assert_eq!(
            num_audio_tokens(n as usize / 160, 50) as i64,
            want,
            "{n} samples"
        );
    }
    Ok(())
}

#[test]
fn whole_processor_on_speech_from_10ms_to_10min() -> Result<()> {
    let t = common::Tensors::open(FIXTURE, "reference.safetensors")?;
    let (clip, _) = t.f32("clip")?;
    let cases = common::json(FIXTURE, "cases.json")?;
    let proc = processor()?;
    let prompt = cases["full_sweep"]["prompt"].as_str().unwrap();
    for r in cases["full_sweep"]["results"].as_array().unwrap() {
        let n = r["samples"].as_u64().unwrap() as usize;
        let audio = build(&clip, n);
        let got = proc.process_text(prompt.to_owned(), &[&audio]);
        if r.get("error").is_some() {
            assert!(
                matches!(got, Err(Error::AudioTooShort { .. })),
                "{n}: {got:?}"
            );
            continue;
        }
        let got = got?;
        let a = &got.audio[0];
        assert_eq!(
            a.features.n_frames as u64,
            r["frames"].as_u64().unwrap(),
            "{n}"
        );
        assert_eq!(
            a.num_tokens as u64,
            r["audio_tokens"].as_u64().unwrap(),
            "{n}"
        );
        let count = got
            .input_ids
            .iter()
            .filter(|&&id| id == proc.audio_token_id())
            .count();
        assert_eq!(count, a.num_tokens);
    }
    Ok(())
}

#[test]
fn conversations_give_the_reference_ids_and_features() -> Result<()> {
    let t = common::Tensors::open(FIXTURE, "reference.safetensors")?;
    let (base, _) = t.f32("clip")?;
    let cases = common::json(FIXTURE, "cases.json")?;
    let specs = [
        (0, 16_000),
        (3_000, 40_037),
        (20_000, 11_693),
        (50_000, 30_400),
    ];
    let clips: Vec<&[f32]> = specs.iter().map(|&(s, n)| &base[s..s + n]).collect();
    let proc = processor()?;
    for (name, case) in cases["conversations"].as_object().unwrap() {
        let messages = case["messages"].as_array().unwrap().clone();
        let tools = case["tools"].as_array().cloned();
        let mut kwargs = case["kwargs"].as_object().unwrap().clone();
        let sanitize = kwargs
            .remove("sanitize_control_tokens")
            .is_some_and(|v| v == true);
        let input = ChatInput {
            messages: &messages,
            tools: tools.as_deref(),
            documents: None,
            add_generation_prompt: true,
            kwargs: Some(&kwargs),
            sanitize_control_tokens: sanitize,
        };
        let audio: Vec<&[f32]> = case["clips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| clips[i.as_u64().unwrap() as usize])
            .collect();
        let got = proc.process(&input, &audio)?;
        assert_eq!(got.text, case["text"].as_str().unwrap(), "{name}: text");
        let want_ids: Vec<u32> = serde_json::from_value(case["input_ids"].clone())?;
        assert_eq!(got.input_ids, want_ids, "{name}: input_ids");
        let mut offset_check = 0;
        for (i, a) in got.audio.iter().enumerate() {
            assert_eq!(
                a.features.n_frames as u64,
                case["frames"][i].as_u64().unwrap()
            );
            assert_eq!(
                a.num_tokens as u64,
                case["audio_tokens"][i].as_u64().unwrap()
            );
            assert!(a.token_offset >= offset_check);
            assert!(
                got.input_ids[a.token_offset..a.token_offset + a.num_tokens]
                    .iter()
                    .all(|&id| id == proc.audio_token_id())
            );
            offset_check = a.token_offset + a.num_tokens;
            let (want, shape) = t.f32(&format!("{name}_feat_{i}"))?;
            assert_eq!(shape, [128, a.features.n_frames]);
            let d = a
                .features
                .data
                .iter()
                .zip(&want)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(d <= 1e-4, "{name} clip {i}: max |diff| {d}");
        }
    }
    Ok(())
}

#[test]
fn placeholder_and_clip_counts_must_agree() -> Result<()> {
    let cases = common::json(FIXTURE, "cases.json")?;
    assert!(
        cases["too_few_clips"].is_string(),
        "the reference refuses too"
    );
    let proc = processor()?;
    let prompt = cases["full_sweep"]["prompt"].as_str().unwrap().repeat(2);
    let audio = vec![0.1f32; 16_000];
    assert!(matches!(
        proc.process_text(prompt, &[&audio]),
        Err(Error::AudioCountMismatch {
            placeholders: 2,
            clips: 1
        })
    ));
    Ok(())
}

/// A user who types the audio placeholder: without sanitizing, the prompt
/// has one placeholder too many (a typed error, as in transformers); with
/// it, the text is plain text and only the real clip is expanded.
/// (transformers 5.24's omni processor refuses this prompt even when
/// sanitizing, so there is no reference for the ids; see processor.py.)
#[test]
fn sanitizing_keeps_typed_placeholders_as_text() -> Result<()> {
    let proc = processor()?;
    let messages = vec![serde_json::json!({"role": "user", "content": [
        {"type": "text", "text": "Say <|audio_pad|> now"}, {"type": "audio"}]})];
    let audio = vec![0.1f32; 16_000];
    let mut input = ChatInput::new(&messages);
    input.add_generation_prompt = true;
    assert!(matches!(
        proc.process(&input, &[&audio]),
        Err(Error::AudioCountMismatch {
            placeholders: 2,
            clips: 1
        })
    ));
    input.sanitize_control_tokens = true;
    let got = proc.process(&input, &[&audio])?;
    let audio_ids = got
        .input_ids
        .iter()
        .filter(|&&id| id == proc.audio_token_id())
        .count();
    assert_eq!(audio_ids, got.audio[0].num_tokens);
    assert_eq!(got.audio[0].num_tokens, 13);
    let text = proc.tokenizer().decode(&got.input_ids, false)?;
    assert!(text.contains("Say <|audio_pad|> now"), "{text}");
    assert!(!got.text.contains('\u{F0000}'));
    Ok(())
}
