//! Log-mel front end throughput in seconds of audio per second
//! (criterion's `elem/s`, one element = one second of 16 kHz audio), on
//! speech built from the espeak-ng clip of fixtures/logmel.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use omnivox_tokenizer::{LogMelExtractor, WhisperConfig};
use std::hint::black_box;

const GAINS: [f32; 5] = [1.0, 0.8, 0.6, 0.9, 0.7];

fn clip() -> Vec<f32> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/logmel/reference.safetensors"
    );
    let bytes = std::fs::read(path).expect("fixtures/logmel/reference.safetensors");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let t = st.tensor("clip").expect("clip tensor");
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn logmel(c: &mut Criterion) {
    let base = clip();
    let fe = LogMelExtractor::new(WhisperConfig::qwen3_omni()).expect("config");
    let mut group = c.benchmark_group("logmel");
    for seconds in [1usize, 30, 300] {
        let n = seconds * 16_000;
        let audio: Vec<f32> = (0..n)
            .map(|i| base[i % base.len()] * GAINS[(i / base.len()) % GAINS.len()])
            .collect();
        group.throughput(Throughput::Elements(seconds as u64));
        if seconds == 300 {
            group.sample_size(10);
        }
        group.bench_with_input(
            BenchmarkId::new("extract", format!("{seconds}s")),
            &audio,
            |b, a| b.iter(|| fe.extract(black_box(a)).expect("features")),
        );
    }
    group.finish();
}

criterion_group!(benches, logmel);
criterion_main!(benches);
