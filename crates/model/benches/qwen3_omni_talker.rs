//! Talker + code predictor frames per second for Qwen3-Omni-30B-A3B's
//! `talker_config` (random weights, a stated number of talker layers), on
//! CPU.
//!
//! One frame is what `generate` does per talker token: one talker decode
//! step (the previous frame's summed code embeddings plus a text row),
//! `codec_head`, code 0 chosen greedily after the always-suppressed ids and
//! the 1.05 repetition penalty, then the code predictor's 15 residual codes
//! (a 2-row prefill and 14 single-token steps, greedy) and the next input
//! row. The talker's prompt (64 rows) is prefilled once, untimed. Measured
//! for one sequence and for a batch of 8 stepped together (one talker
//! forward and one code-predictor run for all 8 frames), as the engine
//! batches.
//!
//! `cargo xtask bench talker` runs this next to transformers on the same
//! weights (`tools/reference/bench_talker.py`) and prints the ratio. Alone:
//! `cargo bench -p omnivox-model --bench qwen3_omni_talker`.
//!
//! Environment:
//! - `OMNIVOX_BENCH_CHECKPOINT=DIR`: load the weights from `DIR`, writing
//!   them there first (random, stored BF16, per-expert tensors as the Hub
//!   stores them; `config.json` is the `talker_config`) if absent. Unset:
//!   random weights straight from `RandomWeights`.
//! - `OMNIVOX_BENCH_TALKER_LAYERS=N`: talker layers (default 4 of the
//!   released 20, a quick look; 20 holds about 13 GB of f32 weights; the
//!   code predictor always has all 5).
//! - `OMNIVOX_BENCH_BACKENDS=flex,ndarray`: backends to run (default flex).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use omnivox_model::loader::{Checkpoint, RandomWeights, StoredDtype, VarBuilder};
use omnivox_model::qwen3_omni::talker::suppressed_ids;
use omnivox_model::qwen3_omni::{Qwen3OmniTalker, TalkerConfig};
use omnivox_model::{BatchSeq, ContiguousKvCache};
use std::path::Path;
use std::time::{Duration, Instant};

/// Rows of the talker prompt prefilled before the timed frames.
const CONTEXT: usize = 64;
/// Sequences stepped together: one stream, and a batch as the engine runs.
const BATCH: &[usize] = &[1, 8];

/// `talker_config` of Qwen/Qwen3-Omni-30B-A3B-Instruct (shapes and ids;
/// the weights are random), with `layers` talker layers.
fn config_json(layers: usize) -> serde_json::Value {
    serde_json::json!({
        "text_config": {
            "model_type": "qwen3_omni_moe_talker_text",
            "vocab_size": 3072, "hidden_size": 1024, "intermediate_size": 2048,
            "num_hidden_layers": layers, "num_attention_heads": 16, "num_key_value_heads": 2,
            "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 65536,
            "rms_norm_eps": 1e-6, "attention_bias": false, "sliding_window": null,
            "decoder_sparse_step": 1, "mlp_only_layers": [], "moe_intermediate_size": 384,
            "num_experts": 128, "num_experts_per_tok": 6, "norm_topk_prob": true,
            "shared_expert_intermediate_size": 768, "tie_word_embeddings": false,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000,
                                "mrope_section": [24, 20, 20], "interleaved": true}
        },
        "code_predictor_config": {
            "model_type": "qwen3_omni_moe_talker_code_predictor",
            "vocab_size": 2048, "hidden_size": 1024, "intermediate_size": 3072,
            "num_hidden_layers": 5, "num_attention_heads": 16, "num_key_value_heads": 8,
            "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 32768,
            "rms_norm_eps": 1e-6, "attention_bias": false, "sliding_window": null,
            "use_sliding_window": false, "num_code_groups": 16, "tie_word_embeddings": false,
            "layer_types": ["full_attention", "full_attention", "full_attention", "full_attention", "full_attention"],
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000}
        },
        "num_code_groups": 16, "thinker_hidden_size": 2048, "accept_hidden_layer": 24,
        "codec_bos_id": 2149, "codec_eos_token_id": 2150, "codec_pad_id": 2148,
        "codec_nothink_id": 2155, "codec_think_bos_id": 2156, "codec_think_eos_id": 2157,
        "speaker_id": {"chelsie": 2301, "ethan": 2302, "aiden": 2303},
        "audio_token_id": 151675, "audio_start_token_id": 151669, "image_token_id": 151655,
        "video_token_id": 151656, "vision_start_token_id": 151652,
        "position_id_per_seconds": 13, "seconds_per_chunk": 2, "spatial_merge_size": 2
    })
}

fn layers() -> usize {
    std::env::var("OMNIVOX_BENCH_TALKER_LAYERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

fn build<B: Backend>(device: &B::Device) -> Qwen3OmniTalker<B> {
    let json = config_json(layers());
    let cfg: TalkerConfig =
        serde_json::from_value(json.clone()).expect("the bench config is valid");
    let random = RandomWeights::new(0, 0.02);
    let Some(dir) = std::env::var_os("OMNIVOX_BENCH_CHECKPOINT") else {
        let vb = VarBuilder::<B>::new(&random, device);
        return Qwen3OmniTalker::load(&vb, &cfg).expect("building the talker");
    };
    let dir = Path::new(&dir);
    if !dir.join("model.safetensors").exists() {
        let vb = VarBuilder::<B>::new(&random, device);
        drop(Qwen3OmniTalker::load(&vb, &cfg).expect("building the talker"));
        random
            .write_checkpoint(dir, StoredDtype::BF16, &json)
            .expect("writing the bench checkpoint");
    }
    let ckpt = Checkpoint::open(dir).expect("opening the bench checkpoint");
    let vb = VarBuilder::<B>::new(&ckpt, device);
    let talker = Qwen3OmniTalker::load(&vb, &cfg).expect("loading the bench checkpoint");
    vb.finish().expect("the bench checkpoint has every tensor");
    talker
}

/// Deterministic rows standing in for the talker's input.
fn rows<B: Backend>(n: usize, hidden: usize, seed: usize, device: &B::Device) -> Tensor<B, 2> {
    let v: Vec<f32> = (0..n * hidden)
        .map(|i| (((i + seed * 7919) as f32) * 0.618).sin() * 0.5)
        .collect();
    Tensor::from_data(TensorData::new(v, [n, hidden]), device)
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

/// One frame for each of a batch of sequences: one talker step over all of
/// them, code 0 per sequence, the residual codes of all frames in one
/// code-predictor run, the next input rows.
fn frame<B: Backend>(
    talker: &Qwen3OmniTalker<B>,
    caches: &mut [ContiguousKvCache<B>],
    input: Tensor<B, 2>,
    text: &Tensor<B, 2>,
    suppressed: &[u32],
    seen: &mut [Vec<bool>],
) -> Tensor<B, 2> {
    let mut seqs: Vec<BatchSeq<'_, B>> = caches.iter_mut().map(|c| BatchSeq::text(c, 1)).collect();
    let hidden = talker.forward(input, &mut seqs).expect("talker step");
    let data = talker
        .codec_logits(hidden.clone())
        .into_data()
        .convert::<f32>();
    let mut logits = data.into_vec::<f32>().expect("f32 logits");
    let vocab = talker.vocab_size();
    let mut code0 = Vec::with_capacity(caches.len());
    for (row, seen) in logits.chunks_exact_mut(vocab).zip(seen.iter_mut()) {
        for (l, &s) in row.iter_mut().zip(seen.iter()) {
            if s {
                *l = if *l < 0.0 { *l * 1.05 } else { *l / 1.05 };
            }
        }
        for &id in suppressed {
            row[id as usize] = f32::NEG_INFINITY;
        }
        let code = argmax(row);
        seen[code as usize] = true;
        code0.push(code);
    }
    let embeds = talker.codec_embed(&code0).expect("code 0 embedding");
    let greedy = |_: usize, row: &mut [f32]| -> omnivox_model::Result<u32> { Ok(argmax(row)) };
    let residual = talker
        .code_predictor
        .predict(hidden, embeds, greedy)
        .expect("code predictor");
    let frames: Vec<Vec<u32>> = (code0.into_iter().zip(residual))
        .map(|(c, r)| std::iter::once(c).chain(r).collect())
        .collect();
    let n = frames.len();
    talker.frame_embeds(&frames).expect("frame embeddings") + text.clone().repeat_dim(0, n)
}

fn run<B: Backend>(c: &mut Criterion, backend: &str) {
    let device = B::Device::default();
    let talker = build::<B>(&device);
    let hidden = talker.hidden_size();
    let suppressed = suppressed_ids(&talker.config);
    let text = rows::<B>(1, hidden, 1, &device);
    let mut group = c.benchmark_group(format!("talker_{backend}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(3));
    group.measurement_time(Duration::from_secs(20));
    for &batch in BATCH {
        // Every sequence's 64-row prompt, prefilled in one step.
        let mut caches: Vec<ContiguousKvCache<B>> =
            (0..batch).map(|_| talker.new_cache()).collect();
        {
            let mut seqs: Vec<BatchSeq<'_, B>> = caches
                .iter_mut()
                .map(|c| BatchSeq::text(c, CONTEXT))
                .collect();
            let prompt = rows(batch * CONTEXT, hidden, 0, &device);
            talker.forward(prompt, &mut seqs).expect("prefill");
        }
        group.throughput(Throughput::Elements(batch as u64));
        let id = BenchmarkId::new("frame", format!("{}_layers_batch{batch}", layers()));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                // One untimed frame makes the cloned caches' buffers their
                // own; then `iters` frames in a row, as in generation.
                let mut caches = caches.clone();
                let mut seen = vec![vec![false; talker.vocab_size()]; batch];
                let first = text.clone().repeat_dim(0, batch);
                let mut input = frame(&talker, &mut caches, first, &text, &suppressed, &mut seen);
                let t = Instant::now();
                for _ in 0..iters {
                    input = frame(&talker, &mut caches, input, &text, &suppressed, &mut seen);
                }
                input.into_data();
                t.elapsed()
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let backends = std::env::var("OMNIVOX_BENCH_BACKENDS").unwrap_or_else(|_| "flex".into());
    for backend in backends.split(',') {
        match backend.trim() {
            "flex" => run::<omnivox_model::testing::Flex>(c, "flex"),
            "ndarray" => run::<omnivox_model::testing::NdArray>(c, "ndarray"),
            other => panic!("unknown backend `{other}` in OMNIVOX_BENCH_BACKENDS"),
        }
    }
}

criterion_group!(talker, benches);
criterion_main!(talker);
