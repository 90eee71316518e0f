//! The Qwen3-Omni talker and code predictor against transformers
//! (`tools/reference/qwen3_omni_talker.py`): the talker's prompt built from
//! the thinker's (user turns only, the assistant priming block, the speaker
//! code), the text rows it consumes step by step, its logits over that
//! prompt, and the code predictor's first frame (logits and greedy codes),
//! on a tiny Qwen3-Omni checkpoint with every weight re-drawn.

#![allow(clippy::unwrap_used)]

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use omnivox_model::BatchSeq;
use omnivox_model::qwen3_omni::talker::{TalkerPromptLayout, TtsSpecialIds, suppressed_ids};
use omnivox_model::qwen3_omni::{Qwen3OmniCheckpoint, Qwen3OmniTalker, Qwen3OmniThinker};
use omnivox_model::testing::{Reference, assert_close, check_close, fixture_dir, to_vec};

const NAME: &str = "qwen3_omni_talker";

struct Fixture<B: Backend> {
    ckpt: Qwen3OmniCheckpoint,
    thinker: Qwen3OmniThinker<B>,
    talker: Qwen3OmniTalker<B>,
    reference: Reference,
}

fn load<B: Backend>(device: &B::Device) -> Fixture<B> {
    let ckpt = Qwen3OmniCheckpoint::open(fixture_dir(NAME)).unwrap();
    let thinker = ckpt.load_thinker::<B>(device).unwrap();
    let talker = Qwen3OmniTalker::from_checkpoint(&ckpt, device).unwrap();
    Fixture {
        ckpt,
        thinker,
        talker,
        reference: Reference::open(NAME).unwrap(),
    }
}

fn embed<B: Backend>(f: &Fixture<B>, ids: &[u32]) -> Tensor<B, 2> {
    f.thinker.model.embed(ids, &f.talker.device()).unwrap()
}

/// The talker's whole prompt (user turns, assistant block, first text row)
/// and the text rows it consumes afterwards, for both speakers.
fn prompt_and_text_rows_equal_generate<B: Backend>(device: &B::Device) {
    let f = load::<B>(device);
    let ids = TtsSpecialIds::from(f.ckpt.config());
    let prompt = f.reference.ids("input_ids").unwrap();
    let layout = TalkerPromptLayout::new(&prompt, &ids).unwrap();
    let hidden_accept = f
        .reference
        .tensor::<B, 2>("thinker_hidden_accept", device)
        .unwrap();
    let text = f
        .talker
        .text_embeds(embed(&f, &[ids.tts_bos, ids.tts_eos, ids.tts_pad]))
        .unwrap();
    let (pad, _) = f.reference.f32("tts_pad_embed").unwrap();
    assert_close(text.pad.clone(), &pad, 1e-5, 1e-5, "tts_pad row");
    for case in ["main", "limit"] {
        let want_ids = f
            .reference
            .ids(&format!("{case}.talker_input_ids"))
            .unwrap();
        let user_ids: Vec<u32> = layout.user_positions.iter().map(|&p| prompt[p]).collect();
        assert_eq!(
            user_ids,
            want_ids[..user_ids.len()],
            "{case}: the user turns the talker sees"
        );
        assert!(
            want_ids[user_ids.len()..].iter().all(|&t| t == ids.tts_pad),
            "{case}: assistant ids are tts_pad"
        );
        let speaker = if case == "main" { "ethan" } else { "chelsie" };
        let speaker = f.talker.config.speaker_id[speaker];
        let user = f
            .talker
            .user_rows(&layout, embed(&f, &prompt), hidden_accept.clone())
            .unwrap();
        let block = f
            .talker
            .assistant_rows(embed(&f, layout.assistant_head(&prompt)), &text, speaker)
            .unwrap();
        // The text stream: the prompt after the assistant head, then the reply.
        let sequences = f.reference.ids(&format!("{case}.sequences")).unwrap();
        let stream = &sequences[layout.assistant_start + 3..];
        let first = f
            .talker
            .first_text_row(f.talker.project_text(embed(&f, &stream[..1])))
            .unwrap();
        let got = Tensor::cat(vec![user, block, first], 0);
        let (want, shape) = f
            .reference
            .f32(&format!("{case}.talker_input_embeds"))
            .unwrap();
        assert_eq!(
            got.dims(),
            [shape[0], shape[1]],
            "{case}: talker prompt rows"
        );
        assert_close(got, &want, 1e-5, 1e-4, &format!("{case}: talker prompt"));
        // Step k >= 1 reads stream token k; the last generated token is replaced by tts_eos.
        let consumed = &stream[1..stream.len() - 1];
        let rows = Tensor::cat(
            vec![f.talker.project_text(embed(&f, consumed)), text.eos.clone()],
            0,
        );
        let (want, _) = f
            .reference
            .f32(&format!("{case}.trailing_text_hidden"))
            .unwrap();
        assert_close(
            rows,
            &want,
            1e-5,
            1e-4,
            &format!("{case}: trailing text rows"),
        );
    }
}

/// The talker's logits over the end of its prompt (last 12 rows), and the
/// argmax of the last row after the always-suppressed ids.
fn talker_logits_equal_reference<B: Backend>(device: &B::Device) {
    let f = load::<B>(device);
    for case in ["main", "limit"] {
        let x = f
            .reference
            .tensor::<B, 2>(&format!("{case}.talker_input_embeds"), device)
            .unwrap();
        let n = x.dims()[0];
        let mut cache = f.talker.new_cache();
        let mut seqs = [BatchSeq::text(&mut cache, n)];
        let hidden = f.talker.forward(x, &mut seqs).unwrap();
        let (want, shape) = f.reference.f32(&format!("{case}.prefill_logits")).unwrap();
        let logits = f
            .talker
            .codec_logits(hidden.narrow(0, n - shape[0], shape[0]));
        let got = to_vec(logits);
        check_close(&got, &want, 1e-4, 1e-4)
            .unwrap_or_else(|e| panic!("{case}: talker logits: {e}"));
        let vocab = shape[1];
        let mut last = got[got.len() - vocab..].to_vec();
        for id in suppressed_ids(&f.talker.config) {
            last[id as usize] = f32::NEG_INFINITY;
        }
        let first = f.reference.ids(&format!("{case}.talker_tokens")).unwrap()[0];
        assert_eq!(argmax(&last), first, "{case}: first talker token");
    }
}

/// The code predictor's first frame: its logits at each residual group and
/// its greedy codes.
fn code_predictor_first_frame_equals_reference<B: Backend>(device: &B::Device) {
    let f = load::<B>(device);
    for case in ["main", "limit"] {
        let x = f
            .reference
            .tensor::<B, 2>(&format!("{case}.cp_inputs_embeds"), device)
            .unwrap();
        let hidden = x.clone().narrow(0, 0, 1);
        let code0 = x.narrow(0, 1, 1);
        let mut rows = Vec::new();
        let codes = f
            .talker
            .code_predictor
            .predict::<omnivox_model::Error>(hidden, code0, |_, row| {
                rows.extend_from_slice(row);
                Ok(argmax(row))
            })
            .unwrap();
        let (want, _) = f.reference.f32(&format!("{case}.cp_scores")).unwrap();
        check_close(&rows, &want, 1e-4, 1e-4)
            .unwrap_or_else(|e| panic!("{case}: code predictor logits: {e}"));
        assert_eq!(
            codes,
            vec![f.reference.ids(&format!("{case}.cp_codes")).unwrap()],
            "{case}: residual codes"
        );
        // The first frame's code 0 is the first talker token; its embedding is the second prefill row.
        let first = f.reference.ids(&format!("{case}.talker_tokens")).unwrap()[0];
        let (want, _) = f
            .reference
            .f32(&format!("{case}.cp_inputs_embeds"))
            .unwrap();
        assert_close(
            f.talker.codec_embed(&[first]).unwrap(),
            &want[16..],
            1e-6,
            0.0,
            "code 0 embedding",
        );
    }
}

/// A batch of frames predicts exactly what each frame predicts alone.
fn code_predictor_batch_equals_single<B: Backend>(device: &B::Device) {
    let f = load::<B>(device);
    let h = f.talker.hidden_size();
    let values = |seed: f32| -> Vec<f32> {
        (0..3 * h)
            .map(|i| ((i as f32 + seed) * 0.71).sin())
            .collect()
    };
    let hidden = Tensor::<B, 2>::from_data(TensorData::new(values(0.3), [3, h]), device);
    let code0 = f.talker.codec_embed(&[3, 17, 30]).unwrap();
    let greedy =
        |_: usize, row: &mut [f32]| -> Result<u32, omnivox_model::Error> { Ok(argmax(row)) };
    let batch = f
        .talker
        .code_predictor
        .predict(hidden.clone(), code0.clone(), greedy)
        .unwrap();
    for (i, frame) in batch.iter().enumerate() {
        let one = f
            .talker
            .code_predictor
            .predict(
                hidden.clone().narrow(0, i, 1),
                code0.clone().narrow(0, i, 1),
                greedy,
            )
            .unwrap();
        assert_eq!(&one[0], frame, "frame {i}");
    }
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

omnivox_model::backend_tests!(
    prompt_and_text_rows_equal_generate,
    talker_logits_equal_reference,
    code_predictor_first_frame_equals_reference,
    code_predictor_batch_equals_single,
);
