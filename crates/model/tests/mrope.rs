//! Interleaved multimodal RoPE against transformers' Qwen3-Omni thinker text
//! decoder (`tools/reference/qwen3_omni_mrope.py`): the rotary tables for
//! 3-D positions, and the whole decoder run on them, whole and token by
//! token through the KV cache.

// Test bodies are generic functions instantiated by `backend_tests!`, not
// `#[test]` items themselves, so clippy's allow-unwrap-in-tests misses them.
#![allow(clippy::unwrap_used)]

use burn::tensor::backend::Backend;
use omnivox_model::config::DecoderConfig;
use omnivox_model::loader::{Checkpoint, VarBuilder};
use omnivox_model::nn::{Positions, Rotary};
use omnivox_model::testing::{Reference, assert_close, fixture_dir, to_vec};
use omnivox_model::{BatchSeq, ContiguousKvCache, DecoderInput, QwenModel};

const NAME: &str = "qwen3_omni_text_mrope";

fn positions(reference: &Reference) -> Positions {
    let (p, shape) = reference.i64("position_ids").unwrap();
    let n = shape[1];
    Positions::Multimodal([p[..n].to_vec(), p[n..2 * n].to_vec(), p[2 * n..].to_vec()])
}

fn config() -> DecoderConfig {
    DecoderConfig::from_file(fixture_dir(NAME).join("config.json")).unwrap()
}

fn rotary_tables<B: Backend>(device: &B::Device) {
    let cfg = config();
    assert_eq!(cfg.rope.mrope_section, Some(vec![4, 2, 2]));
    let reference = Reference::open(NAME).unwrap();
    let pos = positions(&reference);
    let rotary = Rotary::new(&cfg.rope, cfg.head_dim);
    let (cos, sin) = rotary.cos_sin(&[&pos]);
    let tables = rotary.tables::<B>(
        &[&pos],
        cfg.num_attention_heads,
        cfg.num_key_value_heads,
        device,
    );
    let (want_cos, shape) = reference.f32("rope.cos").unwrap();
    let (want_sin, _) = reference.f32("rope.sin").unwrap();
    let (n, d) = (shape[0], shape[1]);
    // transformers stores [cos, cos] per token; ours keeps one half on the
    // host and folds rotate-half's sign into the device table's sin.
    for i in 0..n {
        for j in 0..d {
            let (c, s) = (cos[i * d / 2 + j % (d / 2)], sin[i * d / 2 + j % (d / 2)]);
            assert!(
                (c - want_cos[i * d + j]).abs() < 1e-6,
                "cos token {i} dim {j}"
            );
            assert!(
                (s - want_sin[i * d + j]).abs() < 1e-6,
                "sin token {i} dim {j}"
            );
        }
    }
    let signed: Vec<f32> = (0..n * d)
        .map(|e| {
            if e % d < d / 2 {
                -want_sin[e]
            } else {
                want_sin[e]
            }
        })
        .collect();
    let k_cos = to_vec(tables.k.cos.narrow(1, 0, d));
    let k_sin = to_vec(tables.k.sin.narrow(1, 0, d));
    omnivox_model::testing::check_close(&k_cos, &want_cos, 1e-6, 0.0).unwrap();
    omnivox_model::testing::check_close(&k_sin, &signed, 1e-6, 0.0).unwrap();
}

fn load<B: Backend>(device: &B::Device) -> QwenModel<B> {
    let ckpt = Checkpoint::open(fixture_dir(NAME)).unwrap();
    let vb = VarBuilder::<B>::new(&ckpt, device);
    let model = QwenModel::load(&vb, &config());
    vb.finish().unwrap();
    model
}

fn decoder_on_3d_positions<B: Backend>(device: &B::Device) {
    let model = load::<B>(device);
    let reference = Reference::open(NAME).unwrap();
    let ids = reference.ids("input_ids").unwrap();
    let layers = model.num_layers();
    let mut cache = ContiguousKvCache::<B>::new(vec![None; layers]);
    let mut seqs = [BatchSeq {
        positions: positions(&reference),
        cache: &mut cache,
    }];
    let capture: Vec<usize> = (0..=layers).collect();
    let out = model
        .forward(DecoderInput::Ids(ids), &mut seqs, &capture)
        .unwrap();
    for (i, h) in out.captured.into_iter().enumerate() {
        let (want, _) = reference.f32(&format!("hidden_states.{i}")).unwrap();
        assert_close(h, &want, 1e-4, 0.0, &format!("hidden_states.{i}"));
    }
}

/// Token by token through the cache, each step with its own 3-D position,
/// from input embeddings rather than ids.
fn decoder_streamed_from_embeddings<B: Backend>(device: &B::Device) {
    let model = load::<B>(device);
    let reference = Reference::open(NAME).unwrap();
    let ids = reference.ids("input_ids").unwrap();
    let Positions::Multimodal([t, h, w]) = positions(&reference) else {
        unreachable!()
    };
    let (want, _) = reference
        .f32(&format!("hidden_states.{}", model.num_layers()))
        .unwrap();
    let hidden = want.len() / ids.len();
    let mut cache = ContiguousKvCache::<B>::new(vec![None; model.num_layers()]);
    for (i, &id) in ids.iter().enumerate() {
        let embeds = model.embed(&[id], device).unwrap();
        let mut seqs = [BatchSeq {
            positions: Positions::Multimodal([vec![t[i]], vec![h[i]], vec![w[i]]]),
            cache: &mut cache,
        }];
        let out = model
            .forward(DecoderInput::Embeds(embeds), &mut seqs, &[])
            .unwrap();
        let got = to_vec(out.hidden);
        omnivox_model::testing::check_close(&got, &want[i * hidden..(i + 1) * hidden], 1e-4, 0.0)
            .unwrap_or_else(|e| panic!("step {i}: {e}"));
    }
}

omnivox_model::backend_tests!(
    rotary_tables,
    decoder_on_3d_positions,
    decoder_streamed_from_embeddings
);
