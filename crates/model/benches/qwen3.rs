//! Decode-step latency and prefill throughput of a Qwen3-0.6B-shaped model
//! (all 28 layers, tied embeddings) with random weights, on CPU.
//!
//! `cargo xtask bench model` runs this next to transformers on the same
//! weights (`tools/reference/bench_qwen3.py`) and prints the ratio. Alone:
//! `cargo bench -p omnivox-model --bench qwen3`.
//!
//! Environment:
//! - `OMNIVOX_BENCH_CHECKPOINT=DIR`: load the weights from `DIR` (Hub
//!   layout), writing them there first (random, stored BF16) if absent —
//!   the checkpoint transformers loads for the comparison. Unset: random
//!   weights straight from `RandomWeights`, same constructors.
//! - `OMNIVOX_BENCH_LAYERS=N`: fewer layers, for a quick look.
//! - `OMNIVOX_BENCH_BACKENDS=flex,ndarray`: backends to run (default flex;
//!   ndarray has no GEMV path and takes seconds per token at this size).

use burn::tensor::backend::Backend;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use omnivox_model::loader::{RandomWeights, StoredDtype, VarBuilder};
use omnivox_model::{DecoderConfig, QwenForCausalLM};
use std::path::Path;
use std::time::{Duration, Instant};

/// Context lengths for the decode step, prompt lengths for prefill.
const DECODE_CONTEXT: &[usize] = &[128];
const PREFILL: &[usize] = &[128, 512];

/// Qwen/Qwen3-0.6B's `config.json` (shapes only; weights are random).
fn config_json(layers: usize) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "vocab_size": 151936,
        "hidden_size": 1024,
        "intermediate_size": 3072,
        "num_hidden_layers": layers,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "hidden_act": "silu",
        "max_position_embeddings": 40960,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": true,
        "attention_bias": false,
        "use_sliding_window": false,
        "sliding_window": null,
        "max_window_layers": 28,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "torch_dtype": "bfloat16"
    })
}

fn build<B: Backend>(device: &B::Device) -> QwenForCausalLM<B> {
    let layers = std::env::var("OMNIVOX_BENCH_LAYERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(28);
    let json = config_json(layers);
    let cfg = DecoderConfig::from_value(json.clone()).expect("the bench config is valid");
    let random = RandomWeights::new(0, 0.02);
    let Some(dir) = std::env::var_os("OMNIVOX_BENCH_CHECKPOINT") else {
        let vb = VarBuilder::<B>::new(&random, device);
        return QwenForCausalLM::load(&vb, &cfg);
    };
    let dir = Path::new(&dir);
    if !dir.join("model.safetensors").exists() {
        // Record the tensor names and shapes by building once, then stream
        // the checkpoint out.
        let vb = VarBuilder::<B>::new(&random, device);
        drop(QwenForCausalLM::load(&vb, &cfg));
        random
            .write_checkpoint(dir, StoredDtype::BF16, &json)
            .expect("writing the bench checkpoint");
    }
    QwenForCausalLM::from_pretrained(dir, device).expect("loading the bench checkpoint")
}

fn prompt(n: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + 13) % 151_000) as u32).collect()
}

fn run<B: Backend>(c: &mut Criterion, backend: &str) {
    let device = B::Device::default();
    let model = build::<B>(&device);
    let mut group = c.benchmark_group(format!("qwen3_0_6b_{backend}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(10));
    for &ctx in DECODE_CONTEXT {
        let mut cache = model.new_cache();
        model
            .forward_last(&prompt(ctx), &mut cache)
            .expect("prefill");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("decode_step", ctx), |b| {
            b.iter_custom(|iters| {
                // One untimed step makes the cloned cache's buffers its own
                // (copy-on-write); then `iters` steps in a row, as in
                // generation (context ctx + 1 ..= ctx + iters + 1).
                let mut cache = cache.clone();
                model.forward_last(&[42], &mut cache).expect("decode");
                let t = Instant::now();
                for _ in 0..iters {
                    let logits = model.forward_last(&[42], &mut cache).expect("decode");
                    logits.into_data();
                }
                t.elapsed()
            })
        });
    }
    for &n in PREFILL {
        let tokens = prompt(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("prefill", n), |b| {
            b.iter(|| {
                let mut cache = model.new_cache();
                model
                    .forward_last(&tokens, &mut cache)
                    .expect("prefill")
                    .into_data()
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

criterion_group!(qwen3, benches);
criterion_main!(qwen3);
