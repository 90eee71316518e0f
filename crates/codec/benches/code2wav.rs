//! Code2Wav real-time factor at the released Qwen3-Omni-30B-A3B shape
//! (random weights) on CPU: a whole-utterance decode and streamed decodes
//! with pushes of 1 and 5 frames.
//!
//! `cargo xtask bench code2wav` runs this next to transformers on the same
//! weights (`tools/reference/bench_code2wav.py`) and prints the ratio. Alone:
//! `cargo bench -p omnivox-codec --bench code2wav`.
//!
//! Environment:
//! - `OMNIVOX_BENCH_CHECKPOINT=DIR`: load the weights from `DIR` (standalone
//!   Code2Wav layout), writing them there first (random, stored BF16) if
//!   absent — the checkpoint transformers loads for the comparison. Unset:
//!   random weights straight from `RandomWeights`, same constructors.
//! - `OMNIVOX_BENCH_FRAMES=N`: utterance length in frames (default 125 =
//!   10 s of audio).

use burn::tensor::backend::Backend;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use omnivox_codec::{Code2Wav, SAMPLE_RATE, StreamMode, config};
use omnivox_model::loader::{RandomWeights, StoredDtype, VarBuilder};
use std::path::Path;
use std::time::Duration;

/// Frames per push in the streamed cases.
const PUSHES: &[usize] = &[1, 5];

/// The released `code2wav_config`, as `config.json` of a standalone
/// Code2Wav (what `Qwen3OmniMoeCode2Wav.save_pretrained` writes).
fn config_json() -> serde_json::Value {
    serde_json::json!({
        "architectures": ["Qwen3OmniMoeCode2Wav"],
        "attention_bias": false,
        "attention_dropout": 0.0,
        "codebook_size": 2048,
        "decoder_dim": 1536,
        "hidden_act": "silu",
        "hidden_size": 1024,
        "intermediate_size": 3072,
        "layer_scale_initial_scale": 0.01,
        "max_position_embeddings": 8000,
        "num_attention_heads": 16,
        "num_hidden_layers": 8,
        "num_key_value_heads": 16,
        "num_quantizers": 16,
        "rms_norm_eps": 1e-5,
        "rope_parameters": {"rope_theta": 10000, "rope_type": "default"},
        "sliding_window": 72,
        "upsample_rates": [8, 5, 4, 3],
        "upsampling_ratios": [2, 2],
        "dtype": "bfloat16"
    })
}

fn build<B: Backend>(device: &B::Device) -> Code2Wav<B> {
    let json = config_json();
    let cfg = config::from_value(json.clone()).expect("the bench config is valid");
    assert_eq!(cfg, config::released(), "the released shape");
    let random = RandomWeights::new(0, 0.02);
    let Some(dir) = std::env::var_os("OMNIVOX_BENCH_CHECKPOINT") else {
        let vb = VarBuilder::<B>::new(&random, device);
        return Code2Wav::load(&vb, &cfg).expect("random weights");
    };
    let dir = Path::new(&dir);
    if !dir.join("model.safetensors").exists() {
        let vb = VarBuilder::<B>::new(&random, device);
        drop(Code2Wav::load(&vb, &cfg).expect("random weights"));
        random
            .write_checkpoint(dir, StoredDtype::BF16, &json)
            .expect("writing the bench checkpoint");
    }
    Code2Wav::from_pretrained(dir, device).expect("loading the bench checkpoint")
}

/// Frame-major codes, the same as `bench_code2wav.py` makes.
fn codes(frames: usize, q: usize) -> Vec<u32> {
    (0..frames * q)
        .map(|i| ((i / q * 7919 + i % q * 131 + 13) % 2048) as u32)
        .collect()
}

fn run<B: Backend>(c: &mut Criterion, backend: &str) {
    let device = B::Device::default();
    let model = build::<B>(&device);
    let frames = std::env::var("OMNIVOX_BENCH_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(125usize);
    let q = model.num_quantizers();
    let codes = codes(frames, q);
    let tensor = model.codes_tensor(&codes, &device).expect("valid codes");
    let samples = model.output_len(frames);
    eprintln!(
        "code2wav bench: {frames} frames -> {samples} samples ({:.2} s of audio)",
        samples as f64 / f64::from(SAMPLE_RATE)
    );
    let mut group = c.benchmark_group(format!("code2wav_{backend}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(samples as u64));
    group.bench_function(BenchmarkId::new("whole", frames), |b| {
        b.iter(|| model.forward(tensor.clone()).expect("decode").into_data())
    });
    for &push in PUSHES {
        group.bench_function(
            BenchmarkId::new(format!("stream_push{push}"), frames),
            |b| {
                b.iter(|| {
                    let mut dec = model.stream(StreamMode::Exact, &device).expect("stream");
                    let mut n = 0;
                    for chunk in codes.chunks(push * q) {
                        n += dec.push(&model, chunk).expect("push").len();
                    }
                    assert_eq!(n, samples);
                })
            },
        );
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    run::<burn_flex::Flex>(c, "flex");
}

criterion_group!(code2wav, benches);
criterion_main!(code2wav);
