//! Quantized weights against bitsandbytes 0.50 (fixture written by
//! `tools/reference/quantization.py`), quality against the f32 model on the
//! same random weights, and memory for the Qwen3-Omni 30B-A3B shapes.
//!
//! - bitsandbytes NF4 layers (nested and plain absmax, a partial last block,
//!   an odd value count, a bf16 source) and an LLM.int8 layer, read from the
//!   state-dict keys transformers writes: dequantized weights bit-exact,
//!   products within 1e-5 relative;
//! - our quantizer on the same source weights: NF4 codes and absmax equal to
//!   bitsandbytes', nested codes at least as near as its CPU kernel's;
//!   int8 codes and scales equal to `int8_vectorwise_quant`;
//! - a tiny Qwen3 quantized by transformers + bitsandbytes and written by
//!   `save_pretrained`: logits within 1e-4 of that quantized model;
//! - f32 vs int8 vs NF4 on `qwen3_tiny` / `qwen3_moe_tiny`: relative logit
//!   error and greedy agreement over 256 steps, printed and bounded;
//! - bytes of the 30B-A3B thinker at bf16, int8, NF4 (± double quant).
//!
//! Run with `--nocapture` to see the figures.

// Test bodies are generic functions instantiated by `backend_tests!`, not
// `#[test]` items themselves, so clippy's allow-unwrap-in-tests misses them.
#![allow(clippy::unwrap_used)]

use burn::tensor::{Tensor, TensorData, backend::Backend};
use omnivox_model::loader::{Checkpoint, StoredDtype, TensorSpec, VarBuilder};
use omnivox_model::nn::Linear;
use omnivox_model::quant::memory::{DenseDtype, decoder_bytes};
use omnivox_model::quant::nf4::{HostAbsmax, NF4_CODE, Nf4Host, dynamic_code, quantize_blocks};
use omnivox_model::quant::{LinearWeight, Nf4Weight, QuantConfig, Quantization, bnb, int8};
use omnivox_model::qwen3_omni::config::Qwen3OmniMoeConfig;
use omnivox_model::testing::{Reference, assert_close, check_close, fixture_dir, to_vec};
use omnivox_model::{DecoderConfig, QwenForCausalLM};
use std::path::PathBuf;

const FIXTURE: &str = "quantization";
/// `(prefix, out, in, double quant)` of the NF4 layers in the fixture.
const NF4_LAYERS: [(&str, usize, usize, bool); 4] = [
    ("nf4_nested", 96, 320, true),
    ("nf4_plain", 24, 20, false),
    ("nf4_odd", 7, 9, true),
    ("nf4_bf16", 48, 128, true),
];
const INT8_LAYER: (&str, usize, usize) = ("int8", 24, 20);
/// Products: f32 sums in another order than torch's.
const PRODUCT_ATOL: f32 = 1e-6;
const PRODUCT_RTOL: f32 = 1e-5;

fn file(name: &str) -> PathBuf {
    fixture_dir(FIXTURE).join(name)
}

fn reference() -> Reference {
    Reference::open(FIXTURE).unwrap()
}

/// A quantization config whose chunks are as small as alignment allows, so
/// the fixture's small layers still take the multi-chunk path.
fn tiny_chunks(method: Quantization, double_quant: bool) -> QuantConfig {
    QuantConfig {
        chunk_bytes: 1,
        double_quant,
        ..QuantConfig::new(method)
    }
}

fn nf4_of<B: Backend>(w: &LinearWeight<B>) -> &Nf4Weight<B> {
    match w {
        LinearWeight::Nf4(w) => w,
        other => panic!("expected an NF4 weight, got {:?}", other.quantization()),
    }
}

/// Every bitsandbytes layer, read through `Linear::load`: dequantized
/// weights bit-exact, forward within 1e-5 relative, nothing left unread.
fn bnb_layers_load_exactly<B: Backend>(device: &B::Device) {
    let ckpt = Checkpoint::open_file(file("bnb.safetensors")).unwrap();
    let reference = reference();
    for chunk_bytes in [QuantConfig::default().chunk_bytes, 1] {
        let config = QuantConfig {
            chunk_bytes,
            ..QuantConfig::default()
        };
        let vb = VarBuilder::<B>::new(&ckpt, device)
            .with_quantization(config)
            .unwrap();
        let layers = NF4_LAYERS.iter().map(|&(p, o, i, _)| (p, o, i));
        for (p, out, inp) in layers.chain([INT8_LAYER]) {
            let lin = Linear::load(&vb.pp(p), inp, out, true);
            let want = if p == "int8" {
                Quantization::Int8
            } else {
                Quantization::Nf4
            };
            assert_eq!(lin.weight.quantization(), want, "{p}");
            let (deq, _) = reference.f32(&format!("{p}.dequantized")).unwrap();
            let ours = to_vec(lin.weight.to_dense().transpose());
            check_close(&ours, &deq, 0.0, 0.0)
                .unwrap_or_else(|e| panic!("{p} dequantized (chunk {chunk_bytes} B): {e}"));
            let x: Tensor<B, 2> = reference.tensor(&format!("{p}.x"), device).unwrap();
            let (y, _) = reference.f32(&format!("{p}.y")).unwrap();
            let what = format!("{p} forward (chunk {chunk_bytes} B)");
            assert_close(lin.forward(x), &y, PRODUCT_ATOL, PRODUCT_RTOL, &what);
        }
        vb.finish().unwrap();
    }
}

/// The code tables: NF4 bit-exact; the dynamic map (nested absmax) within
/// one f32 step of 1.0 — torch builds it with vectorised `linspace`, whose
/// last bit depends on the CPU's vector width.
#[test]
fn code_tables_match_bitsandbytes() {
    let ckpt = Checkpoint::open_file(file("bnb.safetensors")).unwrap();
    let vb = VarBuilder::<omnivox_model::testing::Flex>::new(&ckpt, &Default::default());
    for (p, out, inp, nested) in NF4_LAYERS {
        let host = bnb::load_4bit(&vb.pp(p), [out, inp]).unwrap();
        assert_eq!(host.code, NF4_CODE, "{p} quant_map");
        if let HostAbsmax::Nested { code, .. } = &host.absmax {
            assert!(nested, "{p} is nested");
            check_close(&dynamic_code(), code, f32::EPSILON, 0.0)
                .unwrap_or_else(|e| panic!("{p} nested_quant_map: {e}"));
        }
        // The host statement of the format against bitsandbytes' own.
        let (deq, _) = reference().f32(&format!("{p}.dequantized")).unwrap();
        check_close(&host.dequantize(), &deq, 0.0, 0.0).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

/// Our NF4 quantizer on the fixture's source weights (f32 and bf16) against
/// what bitsandbytes produced from the same values.
fn nf4_quantizer_matches_bitsandbytes<B: Backend>(device: &B::Device) {
    let src = Checkpoint::open_file(file("source.safetensors")).unwrap();
    let packed = Checkpoint::open_file(file("bnb.safetensors")).unwrap();
    let theirs_vb = VarBuilder::<B>::new(&packed, device);
    let reference = reference();
    let (mut same, mut total) = (0usize, 0usize);
    for (p, out, inp, nested) in NF4_LAYERS {
        let name = format!("{p}.weight");
        let bf16 = src.dtype(&name) == Some(StoredDtype::BF16);
        assert_eq!(bf16, p == "nf4_bf16", "{p} source dtype");
        let w = src
            .read_f32(&name, false)
            .unwrap()
            .into_vec::<f32>()
            .unwrap();
        let ours = Nf4Host::quantize(&w, [out, inp], 64, nested);
        let theirs = bnb::load_4bit(&theirs_vb.pp(p), [out, inp]).unwrap();
        assert_eq!(ours.packed, theirs.packed, "{p}: packed NF4 codes");
        let (unnested, _) = reference.f32(&format!("{p}.absmax_unnested")).unwrap();
        assert_eq!(
            quantize_blocks(&w, 64, &NF4_CODE).1,
            unnested,
            "{p}: block absmax"
        );
        match (&ours.absmax, &theirs.absmax) {
            (HostAbsmax::Plain(a), HostAbsmax::Plain(b)) => assert_eq!(a, b, "{p}: absmax"),
            (
                HostAbsmax::Nested {
                    codes: qa,
                    code: ca,
                    absmax: aa,
                    offset: oa,
                    ..
                },
                HostAbsmax::Nested {
                    codes: qb,
                    code: cb,
                    absmax: ab,
                    offset: ob,
                    ..
                },
            ) => {
                check_close(&[*oa], &[*ob], 0.0, 2.0 * f32::EPSILON)
                    .unwrap_or_else(|e| panic!("{p}: nested offset: {e}"));
                check_close(aa, ab, 0.0, 4.0 * f32::EPSILON)
                    .unwrap_or_else(|e| panic!("{p}: nested absmax: {e}"));
                for (b, (&x, (&a, &bq))) in unnested.iter().zip(qa.iter().zip(qb)).enumerate() {
                    if aa[b / 256] == 0.0 {
                        // A group of equal absmax (e.g. one block): every
                        // code dequantizes to 0 · 0 + offset.
                        continue;
                    }
                    // Compare where each code puts the scaled value.
                    let s = (x - oa) / aa[b / 256];
                    let (da, db) = ((s - ca[a as usize]).abs(), (s - cb[bq as usize]).abs());
                    assert!(
                        da <= db + 1e-6,
                        "{p} block {b}: our code {a} farther than {bq}"
                    );
                    same += usize::from(a == bq);
                    total += 1;
                }
            }
            _ => panic!("{p}: nested on one side only"),
        }
        // The same through the loader, from the stored f32/bf16 tensor.
        let vb = VarBuilder::<B>::new(&src, device)
            .with_quantization(tiny_chunks(Quantization::Nf4, nested))
            .unwrap();
        let lin = Linear::load(&vb.pp(p), inp, out, true);
        let deq = to_vec(nf4_of(&lin.weight).dequantize());
        check_close(&deq, &ours.dequantize(), 0.0, 0.0).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    eprintln!("nested absmax codes equal to bitsandbytes' CPU kernel: {same}/{total}");
    assert!(
        same * 100 >= total * 97,
        "only {same} of {total} nested codes agree"
    );
}

/// int8: codes and scales equal bitsandbytes' `int8_vectorwise_quant` of
/// the f32 weight; the loader quantizes to the same thing.
fn int8_quantizer_matches_bitsandbytes<B: Backend>(device: &B::Device) {
    let src = Checkpoint::open_file(file("source.safetensors")).unwrap();
    let reference = reference();
    let (p, out, inp) = INT8_LAYER;
    let w = src.read_f32(&format!("{p}.weight"), false).unwrap();
    let w = w.into_vec::<f32>().unwrap();
    let (q, absmax) = int8::quantize_rows(&w, inp);
    let (cb, _) = reference.i64(&format!("{p}.cb_f32")).unwrap();
    let (scb, _) = reference.f32(&format!("{p}.scb_f32")).unwrap();
    assert_eq!(
        q.iter().map(|&v| i64::from(v)).collect::<Vec<_>>(),
        cb,
        "int8 codes"
    );
    assert_eq!(absmax, scb, "int8 row absmax");
    let vb = VarBuilder::<B>::new(&src, device)
        .with_quantization(tiny_chunks(Quantization::Int8, false))
        .unwrap();
    let lin = Linear::load(&vb.pp(p), inp, out, true);
    assert_eq!(lin.weight.quantization(), Quantization::Int8);
    let x: Tensor<B, 2> = reference.tensor(&format!("{p}.x"), device).unwrap();
    let dense = Tensor::<B, 2>::from_data(TensorData::new(w, [out, inp]), device);
    let b: Tensor<B, 1> = vb.pp(p).get([out], "bias");
    let want = to_vec(x.clone().matmul(dense.transpose()) + b.unsqueeze_dim(0));
    // The dequantized weight differs from w by at most half a step per row.
    let y = to_vec(lin.forward(x));
    let err = rel_err(&y, &want);
    eprintln!("int8 layer [{out}, {inp}]: relative error of the product {err:.2e}");
    assert!(err < 1e-2, "int8 product relative error {err}");
}

/// A larger nested layer through several chunks (two nested groups): the
/// device dequantization equals the host statement of the format, and the
/// product equals `x · Wᵀ` with that weight.
fn nf4_chunks_cover_nested_groups<B: Backend>(device: &B::Device) {
    let (out, inp) = (64usize, 512usize);
    let w: Vec<f32> = (0..out * inp)
        .map(|i| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * (1.0 + (i / inp) as f32 / 8.0))
        .collect();
    let host = Nf4Host::quantize(&w, [out, inp], 64, true);
    let weight = Nf4Weight::<B>::from_host(&host, 1, device).unwrap();
    assert_eq!(
        weight.chunk_rows, 32,
        "one nested group of 256 blocks per chunk"
    );
    let deq = host.dequantize();
    check_close(&to_vec(weight.dequantize()), &deq, 0.0, 0.0).unwrap();
    let x = Tensor::<B, 2>::from_data(
        TensorData::new(
            (0..3 * inp).map(|i| (i % 13) as f32 / 13.0).collect(),
            [3, inp],
        ),
        device,
    );
    let dense = Tensor::<B, 2>::from_data(TensorData::new(deq, [out, inp]), device);
    let want = to_vec(x.clone().matmul(dense.transpose()));
    assert_close(weight.forward(x.clone()), &want, 1e-5, 1e-5, "chunked NF4");
    assert_close(
        weight.forward(x.narrow(0, 1, 1)),
        &want[out..2 * out],
        1e-5,
        1e-5,
        "decode",
    );
}

/// A tiny Qwen3 quantized by transformers + bitsandbytes and saved with
/// `save_pretrained`: our logits equal the quantized model's.
fn bnb_checkpoint_logits<B: Backend>(device: &B::Device) {
    let model = QwenForCausalLM::<B>::from_pretrained(file("qwen3_bnb_nf4"), device).unwrap();
    let layer = &model.model.layers[0];
    assert_eq!(
        layer.self_attn.q_proj.weight.quantization(),
        Quantization::Nf4
    );
    let head = model.lm_head.as_ref().unwrap();
    assert_eq!(
        head.weight.quantization(),
        Quantization::None,
        "lm_head stays dense"
    );
    let reference = reference();
    let ids = reference.ids("bnb_model.input_ids").unwrap();
    let (want, _) = reference.f32("bnb_model.logits").unwrap();
    let logits = model.forward(&ids, &mut model.new_cache()).unwrap();
    assert_close(
        logits,
        &want,
        1e-4,
        0.0,
        "bitsandbytes NF4 checkpoint logits",
    );
}

/// A bitsandbytes layer with a broken quant state is reported by name, not
/// a panic.
fn broken_bnb_state_is_reported<B: Backend>(device: &B::Device) {
    let ckpt = Checkpoint::open_file(file("bnb.safetensors")).unwrap();
    let dir = std::env::temp_dir().join(format!("omnivox-quant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.safetensors");
    let keep: Vec<String> = ckpt
        .tensors()
        .keys()
        .filter(|k| k.starts_with("nf4_plain.") && !k.ends_with("quant_map"))
        .cloned()
        .collect();
    let specs: Vec<TensorSpec> = keep
        .iter()
        .map(|k| {
            let info = ckpt.info(k).unwrap();
            TensorSpec {
                name: k.clone(),
                shape: info.shape.clone(),
                dtype: info.dtype,
            }
        })
        .collect();
    omnivox_model::loader::safetensors::write_safetensors(&path, &specs, |s, w| {
        w.write_all(&ckpt.with_bytes(&s.name, |_, b| b.to_vec()).unwrap())
    })
    .unwrap();
    let broken = Checkpoint::open_file(&path).unwrap();
    let vb = VarBuilder::<B>::new(&broken, device);
    let lin = Linear::load(&vb.pp("nf4_plain"), 20, 24, true);
    assert_eq!(
        lin.weight.quantization(),
        Quantization::None,
        "zeros stand in"
    );
    let err = vb.finish().unwrap_err().to_string();
    assert!(err.contains("nf4_plain.weight.quant_map"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `‖a - b‖ / ‖b‖`.
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        num += f64::from(x - y).powi(2);
        den += f64::from(y).powi(2);
    }
    (num / den).sqrt()
}

/// Greedy steps compared against the f32 model.
const STEPS: usize = 256;

/// What one quantized model keeps of the f32 model's behaviour.
struct Quality {
    /// `‖Δ‖ / ‖ref‖` of the prompt's logits (one prefill).
    prompt_err: f64,
    /// The same over the 256 decode steps (teacher-forced on the f32 path).
    decode_err: f64,
    /// Decode steps whose argmax equals the f32 model's greedy token, fed
    /// the f32 model's tokens (so one flip does not decide the rest).
    kept: usize,
    /// Free-running greedy: tokens before the first divergence.
    prefix: usize,
}

fn argmax(row: &[f32]) -> u32 {
    let (mut best, mut arg) = (f32::NEG_INFINITY, 0);
    for (i, &v) in row.iter().enumerate() {
        if v > best {
            (best, arg) = (v, i as u32);
        }
    }
    arg
}

fn measure<B: Backend>(
    f32_model: &QwenForCausalLM<B>,
    model: &QwenForCausalLM<B>,
    prompt: &[u32],
    greedy: &[u32],
) -> Quality {
    let full = |m: &QwenForCausalLM<B>| to_vec(m.forward(prompt, &mut m.new_cache()).unwrap());
    let prompt_err = rel_err(&full(model), &full(f32_model));
    let (mut qc, mut fc) = (model.new_cache(), f32_model.new_cache());
    let (mut q_all, mut f_all) = (Vec::new(), Vec::new());
    let mut kept = 0;
    let mut input = prompt.to_vec();
    for &want in greedy {
        let q = to_vec(model.forward_last(&input, &mut qc).unwrap());
        let f = to_vec(f32_model.forward_last(&input, &mut fc).unwrap());
        kept += usize::from(argmax(&q) == want);
        q_all.extend(q);
        f_all.extend(f);
        input = vec![want];
    }
    let free = model.generate_greedy(prompt, greedy.len(), &[]).unwrap();
    let prefix = free.iter().zip(greedy).take_while(|(a, b)| a == b).count();
    Quality {
        prompt_err,
        decode_err: rel_err(&q_all, &f_all),
        kept,
        prefix,
    }
}

/// f32 vs int8 vs NF4 on the same random weights (`qwen3_tiny`: dense;
/// `qwen3_moe_tiny`: experts and a dense layer), loaded three ways from one
/// checkpoint.
///
/// Tiny random models are a harsh case: widths of 32 give each output a
/// handful of terms, so rounding errors average out far less than at 2048,
/// and random logits have small top-1/top-2 margins (the f32 fixtures'
/// smallest margins are ~0.01), so greedy agreement here understates what a
/// trained model keeps; MoE routing flips on top of that.
///
/// Measured (ndarray and flex alike): prompt error int8 2.1e-2 / 2.0e-2,
/// NF4 0.42 / 0.42 (tiny / MoE); decode error int8 2.0e-2 / 3.5e-2, NF4
/// 0.34 / 0.49; greedy tokens kept int8 253 / 248, NF4 185 / 119 of 256.
/// The same weights quantized and dequantized by bitsandbytes in Python
/// (its portable path, f32) give the same prompt errors to three digits, so
/// NF4's 0.42 is the format on this model, not this implementation: each
/// NF4 weight carries ~9 % relative error (int8 ~0.5 %), and a 3-layer
/// random model has no redundancy to absorb it. Bounds keep ~1.2–1.5×
/// margin on the errors and ~15 % on the kept tokens.
fn quality_against_f32<B: Backend>(device: &B::Device) {
    // (fixture, method, max prompt error, max decode error, min kept of 256)
    let bounds = [
        ("qwen3_tiny", Quantization::Int8, 3e-2, 5e-2, 235),
        ("qwen3_tiny", Quantization::Nf4, 0.5, 0.6, 100),
        ("qwen3_moe_tiny", Quantization::Int8, 3e-2, 5e-2, 235),
        ("qwen3_moe_tiny", Quantization::Nf4, 0.5, 0.6, 100),
    ];
    for name in ["qwen3_tiny", "qwen3_moe_tiny"] {
        let dir = fixture_dir(name);
        let cfg = DecoderConfig::from_file(dir.join("config.json")).unwrap();
        let ckpt = Checkpoint::open(&dir).unwrap();
        let load = |method| {
            let vb = VarBuilder::<B>::new(&ckpt, device)
                .with_quantization(QuantConfig::new(method))
                .unwrap();
            let model = QwenForCausalLM::load(&vb, &cfg);
            vb.finish().unwrap();
            model
        };
        let f32_model = load(Quantization::None);
        let prompt = Reference::open(name).unwrap().ids("input_ids").unwrap();
        let greedy = f32_model.generate_greedy(&prompt, STEPS, &[]).unwrap();
        for &(_, method, max_prompt, max_decode, min_kept) in bounds.iter().filter(|b| b.0 == name)
        {
            let model = load(method);
            let q_proj = &model.model.layers[0].self_attn.q_proj.weight;
            assert_eq!(q_proj.quantization(), method, "{name}: q_proj");
            let q = measure(&f32_model, &model, &prompt, &greedy);
            eprintln!(
                "{name} {method}: relative logit error prompt {:.2e}, decode {:.2e}; \
                 greedy tokens kept {}/{STEPS} ({:.1}%), free-running prefix {}",
                q.prompt_err,
                q.decode_err,
                q.kept,
                100.0 * q.kept as f64 / STEPS as f64,
                q.prefix
            );
            assert!(
                q.prompt_err < max_prompt,
                "{name} {method}: prompt error {}",
                q.prompt_err
            );
            assert!(
                q.decode_err < max_decode,
                "{name} {method}: decode error {}",
                q.decode_err
            );
            assert!(
                q.kept >= min_kept,
                "{name} {method}: kept {} of {STEPS}",
                q.kept
            );
        }
    }
}

/// Random weights at any shape (the benchmarks' source) quantize through
/// the same path: every decoder linear but the router is NF4.
fn random_weights_quantize<B: Backend>(device: &B::Device) {
    let cfg = DecoderConfig::from_file(fixture_dir("qwen3_moe_tiny").join("config.json")).unwrap();
    let source = omnivox_model::loader::RandomWeights::new(7, 0.02);
    let vb = VarBuilder::<B>::new(&source, device)
        .with_quantization(QuantConfig::new(Quantization::Nf4))
        .unwrap();
    let model = QwenForCausalLM::load(&vb, &cfg);
    vb.finish().unwrap();
    let layer = &model.model.layers[0];
    let omnivox_model::decoder::FeedForward::Sparse(moe) = &layer.mlp else {
        panic!("layer 0 of qwen3_moe_tiny is sparse");
    };
    assert_eq!(moe.gate.weight.quantization(), Quantization::None, "router");
    assert_eq!(
        moe.experts[1].down_proj.weight.quantization(),
        Quantization::Nf4
    );
    let logits = model.forward(&[1, 2, 3], &mut model.new_cache()).unwrap();
    assert!(to_vec(logits).iter().all(|v| v.is_finite()));
}

omnivox_model::backend_tests!(
    random_weights_quantize,
    bnb_layers_load_exactly,
    nf4_quantizer_matches_bitsandbytes,
    int8_quantizer_matches_bitsandbytes,
    nf4_chunks_cover_nested_groups,
    bnb_checkpoint_logits,
    broken_bnb_state_is_reported,
    quality_against_f32,
);

/// Values in the Qwen3-Omni audio tower, as `Qwen3OmniAudioEncoder::load`
/// reads them: three 3×3 convs, `conv_out`, the encoder layers (four biased
/// projections, two layer norms, `fc1`/`fc2`), `ln_post`, `proj1`, `proj2`.
fn audio_tower_values(a: &omnivox_model::qwen3_omni::AudioEncoderConfig) -> u64 {
    let (d, c, ffn, out) = (
        a.d_model,
        a.downsample_hidden_size,
        a.encoder_ffn_dim,
        a.output_dim,
    );
    let freq = (0..3).fold(a.num_mel_bins, |n, _| (n - 1) / 2 + 1);
    let convs = (9 * c + c) + 2 * (9 * c * c + c) + c * freq * d;
    let layer = 4 * (d * d + d) + 4 * d + (d * ffn + ffn) + (ffn * d + d);
    (convs + a.encoder_layers * layer + 2 * d + (d * d + d) + (d * out + out)) as u64
}

/// Weight bytes of the Qwen3-Omni 30B-A3B thinker (its real config), bf16
/// vs int8 vs NF4 with and without double quant. The text decoder is
/// quantized but for embeddings, norms, routers and `lm_head`; the audio
/// tower stays bf16. The target: NF4 at most 30 % of bf16.
#[test]
fn memory_of_the_30b_a3b_thinker() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/qwen3-omni-30b-a3b-instruct.config.json");
    let cfg = Qwen3OmniMoeConfig::from_file(path).unwrap();
    let text = &cfg.thinker_config.text_config;
    let audio = 2 * audio_tower_values(&cfg.thinker_config.audio_config);
    let count = |q: QuantConfig| decoder_bytes(text, "thinker", &q, DenseDtype::Bf16);
    let bf16 = count(QuantConfig::default());
    let params = bf16.values();
    assert!(
        (30_000_000_000..31_000_000_000).contains(&params),
        "{params} text parameters"
    );
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    eprintln!(
        "30B-A3B thinker: {:.3} B text parameters ({:.3} B quantizable), audio tower {:.3} B",
        params as f64 / 1e9,
        count(QuantConfig::new(Quantization::Nf4)).quantized_values as f64 / 1e9,
        audio as f64 / 2e9
    );
    let rows = [
        ("bf16", bf16),
        ("int8", count(QuantConfig::new(Quantization::Int8))),
        (
            "nf4",
            count(QuantConfig {
                double_quant: false,
                ..QuantConfig::new(Quantization::Nf4)
            }),
        ),
        (
            "nf4 + double quant",
            count(QuantConfig::new(Quantization::Nf4)),
        ),
    ];
    for (label, b) in rows {
        eprintln!(
            "  {label:>18}: text decoder {:7.2} GiB ({:5.1}% of bf16), with the bf16 audio tower {:7.2} GiB ({:5.1}%)",
            gib(b.total()),
            100.0 * b.total() as f64 / bf16.total() as f64,
            gib(b.total() + audio),
            100.0 * (b.total() + audio) as f64 / (bf16.total() + audio) as f64,
        );
    }
    let nf4 = rows[3].1.total();
    assert!(
        nf4 * 100 <= bf16.total() * 30,
        "NF4 text decoder over 30% of bf16"
    );
    assert!(
        (nf4 + audio) * 100 <= (bf16.total() + audio) * 30,
        "NF4 thinker over 30% of bf16"
    );
}
