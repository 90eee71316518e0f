//! Audio-encoder throughput (seconds of audio per second) of a
//! Qwen3-Omni-30B-A3B-shaped audio tower (`thinker_config.audio_config` of
//! the Hub checkpoint: 32 layers, d_model 1280, 20 heads, FFN 5120, 480 conv
//! channels, 128 mel bins, output 2048; read from
//! `tests/data/qwen3-omni-30b-a3b-instruct.config.json`) with random
//! weights, on CPU.
//!
//! `cargo xtask bench audio-encoder` runs this next to transformers
//! (`tools/reference/bench_audio_encoder.py`) and prints the ratio. Alone:
//! `cargo bench -p omnivox-model --bench qwen3_omni_audio_encoder`.
//!
//! Environment:
//! - `OMNIVOX_BENCH_SECONDS=10,30`: clip lengths (one clip per call).
//! - `OMNIVOX_BENCH_LAYERS=N`: fewer layers, for a quick look.
//! - `OMNIVOX_BENCH_BACKENDS=flex,ndarray`: backends (default flex).

use burn::tensor::backend::Backend;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use omnivox_model::loader::{RandomWeights, VarBuilder};
use omnivox_model::qwen3_omni::{MelFeatures, Qwen3OmniAudioEncoder, Qwen3OmniMoeConfig};
use std::path::Path;
use std::time::Duration;

/// Frames per second of audio (hop 160 at 16 kHz).
const FRAMES_PER_SECOND: usize = 100;

fn seconds() -> Vec<usize> {
    std::env::var("OMNIVOX_BENCH_SECONDS")
        .unwrap_or_else(|_| "10,30".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("OMNIVOX_BENCH_SECONDS: comma-separated integers")
        })
        .collect()
}

/// Log-mel-like input: values in [-1, 1], the same formula in the Python
/// side of the comparison.
pub fn features(mels: usize, frames: usize) -> Vec<f32> {
    (0..mels * frames)
        .map(|i| ((i as f32) * 0.001 + (i % 7) as f32).sin())
        .collect()
}

fn build<B: Backend>(device: &B::Device) -> Qwen3OmniAudioEncoder<B> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/qwen3-omni-30b-a3b-instruct.config.json");
    let cfg = Qwen3OmniMoeConfig::from_file(path).expect("the Hub config parses");
    let mut audio = cfg.thinker_config.audio_config;
    if let Some(n) = std::env::var("OMNIVOX_BENCH_LAYERS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        audio.encoder_layers = n;
    }
    let random = RandomWeights::new(0, 0.02);
    let vb = VarBuilder::<B>::new(&random, device);
    Qwen3OmniAudioEncoder::load(&vb, &audio).expect("a valid config")
}

fn run<B: Backend>(c: &mut Criterion, backend: &str) {
    let device = B::Device::default();
    let encoder = build::<B>(&device);
    let mels = encoder.config.num_mel_bins;
    let mut group = c.benchmark_group(format!("qwen3_omni_audio_encoder_{backend}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    for s in seconds() {
        let frames = s * FRAMES_PER_SECOND;
        let data = features(mels, frames);
        let clip = [MelFeatures {
            data: &data,
            n_mels: mels,
            frames,
        }];
        group.bench_function(BenchmarkId::new("encode", s), |b| {
            b.iter(|| encoder.forward(&clip).expect("encode").embeds.into_data())
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

criterion_group!(audio_encoder, benches);
criterion_main!(audio_encoder);
