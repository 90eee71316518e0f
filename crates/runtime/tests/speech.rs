//! The speech pipeline end to end on a tiny Qwen3-Omni checkpoint, against
//! transformers' `Qwen3OmniMoeForConditionalGeneration.generate`
//! (`tools/reference/qwen3_omni_talker.py`): raw audio and messages in;
//! thinker tokens, codec codes and the waveform out, greedy (thinker
//! `do_sample=False`, `talker_do_sample=False`, the talker's repetition
//! penalty and suppressed ids in force). Also: Code2Wav streamed in the
//! reference's chunked mode with several chunks, the first-audio latency,
//! a batch of talkers stepped together, voices, and what is never spoken.

#![allow(clippy::unwrap_used)]

use burn::tensor::backend::Backend;
use omnivox_codec::StreamMode;
use omnivox_model::qwen3_omni::ThinkerInput;
use omnivox_model::testing::{Reference, check_close, fixture_dir};
use omnivox_model::{BatchSeq, KvCache};
use omnivox_runtime::sampling::SamplingOverrides;
use omnivox_runtime::speech::{
    SpeechError, SpeechEvent, SpeechFinish, SpeechRequest, SpeechSampling, SpeechSession,
    SpokenFilter, TalkerState, Transcript, VoiceConfig, VoiceError,
};
use omnivox_runtime::thinker_session::{FinishReason, ThinkerRequest};
use serde_json::Value;

const NAME: &str = "qwen3_omni_talker";
const THINKER_MAX_NEW: usize = 10;

fn session<B: Backend>(device: &B::Device, mode: StreamMode) -> SpeechSession<B> {
    SpeechSession::open_with(fixture_dir(NAME), device, &VoiceConfig::default(), mode).unwrap()
}

fn request(reference: &Reference, voice: &str, talker_max: usize) -> SpeechRequest {
    let text = std::fs::read_to_string(fixture_dir(NAME).join("cases.json")).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    let audio = (0..2)
        .map(|i| reference.f32(&format!("clip.{i}")).unwrap().0)
        .collect();
    let thinker = ThinkerRequest {
        messages: cases["messages"].as_array().unwrap().clone(),
        audio,
        max_new_tokens: Some(THINKER_MAX_NEW),
        sampling: SamplingOverrides {
            temperature: Some(0.0),
            ..SamplingOverrides::default()
        },
        ..ThinkerRequest::default()
    };
    SpeechRequest {
        thinker,
        voice: Some(voice.into()),
        sampling: Some(SpeechSampling {
            max_new_tokens: talker_max,
            ..SpeechSampling::greedy()
        }),
    }
}

/// Everything a stream produced.
#[derive(Default)]
struct Reply {
    ids: Vec<u32>,
    frames: Vec<Vec<u32>>,
    samples: Vec<f32>,
    transcript: String,
    finish: Option<SpeechFinish>,
    text_finish: Option<FinishReason>,
    talker_tokens: Vec<u32>,
    /// Thinker tokens generated before the first frame came out.
    tokens_before_first_frame: Option<usize>,
    /// Samples that came with the first frame.
    first_samples: usize,
}

fn run<B: Backend>(s: &SpeechSession<B>, req: &SpeechRequest) -> Reply {
    let mut stream = s.generate(req).unwrap();
    let mut r = Reply::default();
    for event in stream.by_ref() {
        match event.unwrap() {
            SpeechEvent::Text {
                id, delta, finish, ..
            } => {
                r.ids.push(id);
                r.transcript.push_str(&delta);
                r.text_finish = r.text_finish.or(finish);
            }
            SpeechEvent::Audio { frame, samples } => {
                if r.frames.is_empty() {
                    r.tokens_before_first_frame = Some(r.ids.len());
                    r.first_samples = samples.len();
                }
                r.frames.push(frame);
                r.samples.extend(samples);
            }
            SpeechEvent::Done {
                reason,
                transcript_tail,
            } => {
                r.transcript.push_str(&transcript_tail);
                r.finish = Some(reason);
            }
        }
    }
    r.talker_tokens = stream.talker().unwrap().talker_tokens().to_vec();
    r
}

/// `[groups, frames]` as the reference stores codes, from frame-major frames.
fn codes(frames: &[Vec<u32>]) -> Vec<u32> {
    let groups = frames.first().map_or(0, Vec::len);
    (0..groups)
        .flat_map(|g| frames.iter().map(move |f| f[g]))
        .collect()
}

/// Thinker tokens, talker tokens, codes and waveform equal `generate`'s, for
/// a reply that ends on codec EOS (`main`, voice "Ethan") and one that hits
/// `talker_max_new_tokens` (`limit`, voice "chelsie"). The streamed waveform
/// also equals the whole-utterance decode of the same codes.
fn greedy_speech_equals_generate<B: Backend>(device: &B::Device) {
    let s = session::<B>(device, StreamMode::REFERENCE);
    let reference = Reference::open(NAME).unwrap();
    let prompt = reference.ids("input_ids").unwrap();
    for (case, voice, max, finish) in [
        ("main", "Ethan", 64, SpeechFinish::Eos),
        ("limit", "CHELSIE", 9, SpeechFinish::Length),
    ] {
        let r = run(&s, &request(&reference, voice, max));
        let sequences = reference.ids(&format!("{case}.sequences")).unwrap();
        assert_eq!(sequences[..prompt.len()], prompt[..], "{case}: prompt");
        assert_eq!(r.ids, sequences[prompt.len()..], "{case}: thinker tokens");
        assert_eq!(r.text_finish, Some(FinishReason::Length));
        let talker_tokens = reference.ids(&format!("{case}.talker_tokens")).unwrap();
        assert_eq!(r.talker_tokens, talker_tokens, "{case}: talker tokens");
        assert_eq!(r.finish, Some(finish), "{case}");
        assert_eq!(
            r.frames.len(),
            talker_tokens.len() - 1,
            "{case}: frames = talker tokens - 1"
        );
        assert_eq!(
            codes(&r.frames),
            reference.ids(&format!("{case}.codes")).unwrap(),
            "{case}: codes"
        );
        let (want, _) = reference.f32(&format!("{case}.waveform")).unwrap();
        check_close(&r.samples, &want, 1e-4, 0.0)
            .unwrap_or_else(|e| panic!("{case}: waveform: {e}"));
        let flat: Vec<u32> = r.frames.concat();
        let whole = s.speech().code2wav().decode(&flat, device).unwrap();
        check_close(&r.samples, &whole, 1e-5, 0.0)
            .unwrap_or_else(|e| panic!("{case}: streamed vs whole: {e}"));
        // The transcript is the spoken tokens: every generated token but the last.
        let tok = s.thinker().processor().tokenizer();
        assert_eq!(
            r.transcript,
            tok.decode(&r.ids[..r.ids.len() - 1], true).unwrap(),
            "{case}: transcript"
        );
    }
}

/// The first frame comes out after the first generated thinker token, with
/// audio: the talker needs no look-ahead.
fn first_audio_after_one_thinker_token<B: Backend>(device: &B::Device) {
    let s = session::<B>(device, StreamMode::REFERENCE);
    let reference = Reference::open(NAME).unwrap();
    let r = run(&s, &request(&reference, "ethan", 64));
    assert_eq!(r.tokens_before_first_frame, Some(1));
    let first = s.speech().code2wav().output_len(1);
    assert!(first > 0, "Code2Wav yields nothing for one frame");
    assert_eq!(r.first_samples, first);
}

/// Code2Wav streamed in chunked mode with several chunks (7 frames, 3 of
/// left context) equals the reference's `chunked_decode(codes, 7, 3)`.
fn chunked_stream_equals_reference_chunked_decode<B: Backend>(device: &B::Device) {
    let mode = StreamMode::Chunked {
        chunk_size: 7,
        left_context: 3,
    };
    let s = session::<B>(device, mode);
    let reference = Reference::open(NAME).unwrap();
    let r = run(&s, &request(&reference, "ethan", 64));
    assert!(r.frames.len() > 14, "needs at least three chunks");
    let (want, _) = reference.f32("waveform_chunked_7_3").unwrap();
    check_close(&r.samples, &want, 1e-4, 0.0).unwrap_or_else(|e| panic!("chunked waveform: {e}"));
}

/// Unknown voices are a typed error listing what is available; speakers
/// and OpenAI names resolve.
fn voices_by_name<B: Backend>(device: &B::Device) {
    let s = session::<B>(device, StreamMode::REFERENCE);
    let reference = Reference::open(NAME).unwrap();
    let err = s.generate(&request(&reference, "Morgan", 4)).unwrap_err();
    let SpeechError::Voice(VoiceError::Unknown { voice, available }) = err else {
        panic!("{err}")
    };
    assert_eq!(voice, "Morgan");
    for name in [
        "aiden", "chelsie", "ethan", "alloy", "verse", "marin", "cedar",
    ] {
        assert!(
            available.iter().any(|a| a == name),
            "{name} missing from {available:?}"
        );
    }
    let table = s.speech().voices();
    assert_eq!(table.resolve("shimmer").unwrap().id, 1040);
    assert_eq!(table.resolve("Echo").unwrap().id, 1041);
    assert_eq!(table.resolve("ash").unwrap().id, 1042);
}

/// Thinker prefill with the captures the talker needs, then a fresh talker
/// state (bypassing the thinker's sampling, to script the reply).
fn start<B: Backend>(
    s: &SpeechSession<B>,
    voice: &str,
    filter: &mut SpokenFilter,
) -> TalkerState<B> {
    let reference = Reference::open(NAME).unwrap();
    let prompt = reference.ids("input_ids").unwrap();
    let thinker = s.thinker().thinker();
    let audio: Vec<Vec<f32>> = (0..2)
        .map(|i| reference.f32(&format!("clip.{i}")).unwrap().0)
        .collect();
    let clips: Vec<&[f32]> = audio.iter().map(Vec::as_slice).collect();
    let text = std::fs::read_to_string(fixture_dir(NAME).join("cases.json")).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    let messages = cases["messages"].as_array().unwrap().clone();
    let input = omnivox_tokenizer::ChatInput {
        messages: &messages,
        tools: None,
        documents: None,
        add_generation_prompt: true,
        kwargs: None,
        sanitize_control_tokens: false,
    };
    let p = s.thinker().processor().process(&input, &clips).unwrap();
    assert_eq!(p.input_ids, prompt);
    let mels: Vec<_> = (p.audio.iter())
        .map(|a| omnivox_model::qwen3_omni::MelFeatures {
            data: &a.features.data,
            n_mels: a.features.n_mels,
            frames: a.features.n_frames,
        })
        .collect();
    let frames: Vec<usize> = mels.iter().map(|m| m.frames).collect();
    let spans = thinker
        .audio_spans(&prompt, 0, &thinker.encode_audio(&mels).unwrap())
        .unwrap();
    let mut cache = thinker.new_cache();
    let positions = thinker
        .rope_index(&prompt, &frames)
        .unwrap()
        .to_positions()
        .unwrap();
    let mut seqs = [BatchSeq {
        positions,
        cache: &mut cache,
    }];
    let capture = [0, s.speech().accept_hidden_layer()];
    let out = thinker
        .forward(
            ThinkerInput {
                ids: prompt.clone(),
                audio: spans,
            },
            &mut seqs,
            &capture,
        )
        .unwrap();
    assert_eq!(cache.seq_len(), prompt.len());
    let mut c = out.captured.into_iter();
    let (embeds, hidden) = (c.next().unwrap(), c.next().unwrap());
    let voice = s.speech().voices().resolve(voice).unwrap();
    let sampling = SpeechSampling {
        max_new_tokens: 40,
        ..SpeechSampling::greedy()
    };
    s.speech()
        .start(&prompt, embeds, hidden, &voice, &sampling, filter)
        .unwrap()
}

/// Feeds a scripted reply (all but its last token, then the end) and
/// steps the talker to the end; returns its frames and the transcript.
fn speak<B: Backend>(
    s: &SpeechSession<B>,
    reply: &[u32],
) -> (Vec<Vec<u32>>, String, Option<SpeechFinish>) {
    let tok = s.thinker().processor().tokenizer();
    let mut transcript = Transcript::new(s.filter().clone(), tok);
    let mut state = start(s, "ethan", transcript.filter_mut());
    let mut text = String::new();
    let mut frames = Vec::new();
    for &id in &reply[..reply.len() - 1] {
        let spoken = transcript.push(id).unwrap();
        text.push_str(&spoken.delta);
        if let Some(t) = spoken.token {
            state.push_text(t);
        }
    }
    state.end_text();
    text.push_str(&transcript.finish().unwrap());
    let mut finish = None;
    while state.is_ready() {
        let step = s.speech().step(&mut [&mut state]).unwrap().pop().unwrap();
        frames.extend(step.frame);
        finish = finish.or(step.finished);
    }
    (frames, text, finish)
}

/// Tool-call spans, think blocks and special tokens never reach the talker:
/// a reply with them speaks exactly like the same reply without them, and
/// the transcript is exactly the spoken text. A reply that is only a tool
/// call is not spoken at all.
fn tool_calls_and_special_tokens_are_never_spoken<B: Backend>(device: &B::Device) {
    let s = session::<B>(device, StreamMode::REFERENCE);
    let tok = s.thinker().processor().tokenizer();
    let id = |t: &str| tok.token_to_id(t).unwrap();
    let words = tok.encode("Sunny and warm", false).unwrap();
    let more = tok.encode(" in Paris.", false).unwrap();
    let call = tok
        .encode(
            "\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n",
            false,
        )
        .unwrap();
    let think = tok.encode("\nLet me check.\n", false).unwrap();
    let end = id("<|im_end|>");
    let with: Vec<u32> = [
        vec![id("<think>")],
        think,
        vec![id("</think>")],
        words.clone(),
        vec![id("<tool_call>")],
        call.clone(),
        vec![id("</tool_call>"), id("<|audio_pad|>")],
        more.clone(),
        vec![end],
    ]
    .concat();
    let without: Vec<u32> = [words, more, vec![end]].concat();
    let (frames_with, text_with, finish_with) = speak(&s, &with);
    let (frames_without, text_without, _) = speak(&s, &without);
    assert_eq!(text_with, "Sunny and warm in Paris.");
    assert_eq!(text_with, text_without);
    assert!(!frames_with.is_empty());
    assert_eq!(
        frames_with, frames_without,
        "the talker heard something that is never spoken"
    );
    assert!(finish_with.is_some());
    // Only a tool call: nothing to say.
    let only: Vec<u32> = [vec![id("<tool_call>")], call, vec![id("</tool_call>"), end]].concat();
    let (frames, text, finish) = speak(&s, &only);
    assert!(frames.is_empty() && text.is_empty());
    assert_eq!(finish, Some(SpeechFinish::NoText));
}

/// Two sequences (different voices, different lengths of text) stepped in
/// one batch produce exactly the frames each produces alone.
fn a_batch_of_talkers_equals_each_alone<B: Backend>(device: &B::Device) {
    let s = session::<B>(device, StreamMode::REFERENCE);
    let reference = Reference::open(NAME).unwrap();
    let prompt = reference.ids("input_ids").unwrap().len();
    let reply = reference.ids("main.sequences").unwrap()[prompt..].to_vec();
    let mut filters: Vec<SpokenFilter> = (0..2)
        .map(|_| SpokenFilter::new(s.filter().clone()))
        .collect();
    let feed = |state: &mut TalkerState<B>, n: usize| {
        reply[..n].iter().for_each(|&t| state.push_text(t));
        state.end_text();
    };
    let alone = |voice: &str, n: usize, f: &mut SpokenFilter| {
        let mut st = start(&s, voice, f);
        feed(&mut st, n);
        let mut frames = Vec::new();
        while st.is_ready() {
            frames.extend(
                s.speech()
                    .step(&mut [&mut st])
                    .unwrap()
                    .pop()
                    .unwrap()
                    .frame,
            );
        }
        frames
    };
    let want = [
        alone("ethan", 9, &mut filters[0]),
        alone("chelsie", 4, &mut filters[1]),
    ];
    let mut a = start(&s, "ethan", &mut filters[0]);
    let mut b = start(&s, "chelsie", &mut filters[1]);
    feed(&mut a, 9);
    // b gets its text late: a steps alone until then.
    let mut got = [Vec::new(), Vec::new()];
    for round in 0.. {
        if round == 3 {
            feed(&mut b, 4);
        }
        if !a.is_ready() && !b.is_ready() && round > 3 {
            break;
        }
        let steps = s.speech().step(&mut [&mut a, &mut b]).unwrap();
        for (g, step) in got.iter_mut().zip(steps) {
            g.extend(step.frame);
        }
    }
    assert_eq!(got, want);
    assert!(want[0].len() > 3 && want[1].len() > 3);
}

omnivox_model::backend_tests!(
    greedy_speech_equals_generate,
    first_audio_after_one_thinker_token,
    chunked_stream_equals_reference_chunked_decode,
    voices_by_name,
    tool_calls_and_special_tokens_are_never_spoken,
    a_batch_of_talkers_equals_each_alone,
);
