//! The Qwen3-Omni thinker against transformers'
//! `Qwen3OmniMoeThinkerForConditionalGeneration`
//! (`tools/reference/qwen3_omni_thinker.py`), loaded from a complete tiny
//! Qwen3-Omni checkpoint (sharded, all three prefixes, a vision tower):
//! audio tower output, merged embeddings, every hidden state, logits of a
//! conversation with system text, two audio clips and user text; 32 greedy
//! tokens equal to `generate`; chunked prefill and a two-sequence batch
//! equal to one whole pass; the vision tower never read.

#![allow(clippy::unwrap_used)]

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use omnivox_model::qwen3_omni::{MelFeatures, Qwen3OmniCheckpoint, Qwen3OmniThinker, ThinkerInput};
use omnivox_model::testing::{Reference, assert_close, check_close, fixture_dir, to_vec};
use omnivox_model::{BatchSeq, KvCache};

const NAME: &str = "qwen3_omni_thinker";

struct Case {
    ids: Vec<u32>,
    features: Vec<(Vec<f32>, usize)>,
    reference: Reference,
}

fn case() -> Case {
    let reference = Reference::open(NAME).unwrap();
    let ids = reference.ids("input_ids").unwrap();
    let features = (0..2)
        .map(|i| {
            let (f, shape) = reference.f32(&format!("features.{i}")).unwrap();
            (f, shape[1])
        })
        .collect();
    Case {
        ids,
        features,
        reference,
    }
}

impl Case {
    fn mels(&self) -> Vec<MelFeatures<'_>> {
        self.features
            .iter()
            .map(|(d, n)| MelFeatures {
                data: d,
                n_mels: 128,
                frames: *n,
            })
            .collect()
    }

    fn frames(&self) -> Vec<usize> {
        self.features.iter().map(|(_, n)| *n).collect()
    }
}

fn load<B: Backend>(device: &B::Device) -> (Qwen3OmniCheckpoint, Qwen3OmniThinker<B>) {
    let ckpt = Qwen3OmniCheckpoint::open(fixture_dir(NAME)).unwrap();
    let thinker = ckpt.load_thinker::<B>(device).unwrap();
    (ckpt, thinker)
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// Audio tower, every hidden state (0 = merged embeddings) and the logits
/// of the whole prompt.
fn logits_of_a_conversation_with_audio<B: Backend>(device: &B::Device) {
    let (_, thinker) = load::<B>(device);
    let c = case();
    let audio = thinker.encode_audio(&c.mels()).unwrap();
    let (want, _) = c.reference.f32("audio_embeds").unwrap();
    assert_close(audio.embeds.clone(), &want, 2e-5, 1e-4, "audio tower");
    let spans = thinker.audio_spans(&c.ids, 0, &audio).unwrap();
    let rope = thinker.rope_index(&c.ids, &c.frames()).unwrap();
    let mut cache = thinker.new_cache();
    let mut seqs = [BatchSeq {
        positions: rope.to_positions().unwrap(),
        cache: &mut cache,
    }];
    let layers = thinker.num_layers();
    let capture: Vec<usize> = (0..=layers).collect();
    let input = ThinkerInput {
        ids: c.ids.clone(),
        audio: spans,
    };
    let out = thinker.forward(input, &mut seqs, &capture).unwrap();
    for (i, h) in out.captured.into_iter().enumerate() {
        let (want, _) = c.reference.f32(&format!("hidden_states.{i}")).unwrap();
        assert_close(h, &want, 1e-4, 1e-4, &format!("hidden_states.{i}"));
    }
    let (want, _) = c.reference.f32("logits").unwrap();
    assert_close(thinker.logits(out.hidden), &want, 1e-4, 1e-4, "logits");
}

/// Prefill, then one token at a time through the cache: 32 argmax tokens,
/// as `generate` with greedy search and no logits processors.
fn greedy_matches_generate<B: Backend>(device: &B::Device) {
    let (ckpt, thinker) = load::<B>(device);
    let c = case();
    let eos = &ckpt.generation_config().eos_token_id;
    let audio = thinker.encode_audio(&c.mels()).unwrap();
    let rope = thinker.rope_index(&c.ids, &c.frames()).unwrap();
    let mut cache = thinker.new_cache();
    let mut input = ThinkerInput {
        ids: c.ids.clone(),
        audio: thinker.audio_spans(&c.ids, 0, &audio).unwrap(),
    };
    let mut positions = rope.to_positions().unwrap();
    let mut out = Vec::new();
    while out.len() < 32 {
        let n = input.ids.len();
        let mut seqs = [BatchSeq {
            positions,
            cache: &mut cache,
        }];
        let hidden = thinker.forward(input, &mut seqs, &[]).unwrap().hidden;
        let token = argmax(&to_vec(thinker.last_logits(hidden, &[n]).unwrap()));
        out.push(token);
        if eos.contains(&token) {
            break;
        }
        positions = rope.continuation(cache.seq_len(), 1).unwrap();
        input = ThinkerInput::text(vec![token]);
    }
    assert_eq!(out, c.reference.ids("greedy_plain").unwrap());
}

/// The prompt in three chunks (the cut falls inside the first audio run)
/// gives the same last logits as one pass.
fn chunked_prefill_matches_one_pass<B: Backend>(device: &B::Device) {
    let (_, thinker) = load::<B>(device);
    let c = case();
    let audio = thinker.encode_audio(&c.mels()).unwrap();
    let spans = thinker.audio_spans(&c.ids, 0, &audio).unwrap();
    let rope = thinker.rope_index(&c.ids, &c.frames()).unwrap();
    let first = spans[0].start + 5;
    let cuts = [0, first, first + 40, c.ids.len()];
    let mut cache = thinker.new_cache();
    let mut last = None;
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        // Audio embeddings of the tokens a..b, re-based to the chunk.
        let mut chunk_spans = Vec::new();
        for s in &spans {
            let len = s.embeds.dims()[0];
            let (lo, hi) = (s.start.max(a), (s.start + len).min(b));
            if lo < hi {
                chunk_spans.push(omnivox_model::qwen3_omni::AudioSpan {
                    start: lo - a,
                    embeds: s.embeds.clone().narrow(0, lo - s.start, hi - lo),
                });
            }
        }
        let mut seqs = [BatchSeq {
            positions: rope.slice(a, b - a).unwrap(),
            cache: &mut cache,
        }];
        let input = ThinkerInput {
            ids: c.ids[a..b].to_vec(),
            audio: chunk_spans,
        };
        let hidden = thinker.forward(input, &mut seqs, &[]).unwrap().hidden;
        last = Some(thinker.last_logits(hidden, &[b - a]).unwrap());
    }
    let (want, shape) = c.reference.f32("logits").unwrap();
    let vocab = shape[1];
    let want_last = &want[want.len() - vocab..];
    assert_close(
        last.unwrap(),
        want_last,
        1e-4,
        1e-4,
        "last logits after chunked prefill",
    );
}

/// Two sequences in one step (a text-only one first, so the audio spans sit
/// at an offset): each gets the logits it gets alone.
fn two_sequences_in_one_step<B: Backend>(device: &B::Device) {
    let (_, thinker) = load::<B>(device);
    let c = case();
    let audio = thinker.encode_audio(&c.mels()).unwrap();
    let text: Vec<u32> = vec![1209, 977, 297, 198, 400, 401, 402];
    let spans = thinker.audio_spans(&c.ids, text.len(), &audio).unwrap();
    let rope = thinker.rope_index(&c.ids, &c.frames()).unwrap();
    let text_rope = thinker.rope_index(&text, &[]).unwrap();
    let (mut c1, mut c2) = (thinker.new_cache(), thinker.new_cache());
    let mut seqs = [
        BatchSeq {
            positions: text_rope.to_positions().unwrap(),
            cache: &mut c1,
        },
        BatchSeq {
            positions: rope.to_positions().unwrap(),
            cache: &mut c2,
        },
    ];
    let ids: Vec<u32> = text.iter().chain(&c.ids).copied().collect();
    let hidden = thinker
        .forward(ThinkerInput { ids, audio: spans }, &mut seqs, &[])
        .unwrap()
        .hidden;
    let logits = to_vec(
        thinker
            .last_logits(hidden, &[text.len(), c.ids.len()])
            .unwrap(),
    );
    let (want, shape) = c.reference.f32("logits").unwrap();
    let vocab = shape[1];
    check_close(&logits[vocab..], &want[want.len() - vocab..], 1e-4, 1e-4).unwrap();
    // The text sequence alone.
    let mut cache = thinker.new_cache();
    let mut seqs = [BatchSeq {
        positions: text_rope.to_positions().unwrap(),
        cache: &mut cache,
    }];
    let hidden = thinker
        .forward(ThinkerInput::text(text.clone()), &mut seqs, &[])
        .unwrap()
        .hidden;
    let alone = to_vec(thinker.last_logits(hidden, &[text.len()]).unwrap());
    check_close(&logits[..vocab], &alone, 1e-5, 1e-5).unwrap();
}

/// Loading the thinker reads exactly the bytes of `thinker.*` minus
/// `thinker.visual.*`: the vision tower, talker and code2wav stay on disk.
fn only_thinker_tensors_are_read<B: Backend>(device: &B::Device) {
    let (ckpt, _thinker) = load::<B>(device);
    let size = |pred: &dyn Fn(&str) -> bool| -> u64 {
        ckpt.weights()
            .tensors()
            .iter()
            .filter(|(k, _)| pred(k))
            .map(|(_, i)| i.range.end - i.range.start)
            .sum()
    };
    let visual = size(&|k| k.starts_with("thinker.visual."));
    assert!(visual > 0, "the fixture must have a vision tower to skip");
    let want = size(&|k| k.starts_with("thinker.") && !k.starts_with("thinker.visual."));
    assert_eq!(ckpt.weights().bytes_read(), want);
    assert!(ckpt.has_prefix("talker") && ckpt.has_prefix("code2wav") && !ckpt.has_prefix("talk"));
}

/// Spans that do not sit on placeholders, or placeholder counts that do not
/// match the audio, are errors.
fn misplaced_audio_is_refused<B: Backend>(device: &B::Device) {
    let (_, thinker) = load::<B>(device);
    let c = case();
    let audio = thinker.encode_audio(&c.mels()).unwrap();
    let err = thinker
        .audio_spans(&c.ids[..c.ids.len() - 60], 0, &audio)
        .unwrap_err()
        .to_string();
    assert!(err.contains("do not match"), "{err}");
    let embeds = Tensor::<B, 2>::from_data(TensorData::new(vec![0f32; 32], [1, 32]), device);
    let input = ThinkerInput {
        ids: vec![5, 6, 7],
        audio: vec![omnivox_model::qwen3_omni::AudioSpan { start: 1, embeds }],
    };
    let err = thinker.embed(input).unwrap_err().to_string();
    assert!(err.contains("not an audio placeholder"), "{err}");
}

omnivox_model::backend_tests!(
    logits_of_a_conversation_with_audio,
    greedy_matches_generate,
    chunked_prefill_matches_one_pass,
    two_sequences_in_one_step,
    only_thinker_tensors_are_read,
    misplaced_audio_is_refused
);
