//! Throughput of omnivox-audio on one core, as multiples of real time.
//!
//! Every benchmark's throughput is set to the milliseconds of audio it
//! processes, so criterion's "Kelem/s" reads directly as seconds of audio per
//! second: the real-time multiple. `cargo bench -p omnivox-audio --bench audio`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use omnivox_audio::{
    DecodeOptions, EncodeOptions, Format, StreamEncoder, decode, encode, resample, time_stretch,
};
use std::hint::black_box;
use std::time::Duration;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The speech test signal at `rate`.
fn speech(rate: u32) -> Vec<f32> {
    decode(&data("speech_22k.wav"), &DecodeOptions::with_rate(rate))
        .expect("speech")
        .samples
}

fn audio_ms(samples: usize, rate: u32) -> u64 {
    samples as u64 * 1000 / u64::from(rate)
}

fn decoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_to_16k");
    for (name, hint) in [
        ("speech_22k.wav", None),
        ("speech.mp3", None),
        ("speech.flac", None),
        ("speech.opus", None),
        ("speech.webm", None),
        ("speech_vorbis.ogg", None),
        ("speech.aac", None),
        ("speech_24k.pcm16", Some(Format::Pcm16)),
        ("speech_8k.ulaw", Some(Format::Mulaw)),
    ] {
        let bytes = data(name);
        let opts = DecodeOptions {
            hint,
            ..DecodeOptions::with_rate(16_000)
        };
        let ms = decode(&bytes, &opts).expect(name).duration_ms;
        g.throughput(Throughput::Elements(ms));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| decode(black_box(&bytes), &opts))
        });
    }
    g.finish();
}

fn encoding(c: &mut Criterion) {
    let x = speech(24_000);
    let mut g = c.benchmark_group("encode_24k");
    g.throughput(Throughput::Elements(audio_ms(x.len(), 24_000)));
    for f in [
        Format::Wav,
        Format::Pcm16,
        Format::Mulaw,
        Format::Opus,
        Format::Flac,
        Format::Mp3,
    ] {
        g.bench_function(BenchmarkId::new("whole", f), |b| {
            b.iter(|| encode(black_box(&x), 24_000, f, &EncodeOptions::default()))
        });
        // Streamed in 40 ms pushes, as the runtime would.
        g.bench_function(BenchmarkId::new("stream_40ms", f), |b| {
            b.iter(|| {
                let mut enc =
                    StreamEncoder::new(f, 24_000, &EncodeOptions::default()).expect("encoder");
                let mut n = 0;
                for chunk in x.chunks(960) {
                    n += enc.push(chunk).expect("push").len();
                }
                n + enc.finish().expect("finish").len()
            })
        });
    }
    g.finish();
}

fn resampling(c: &mut Criterion) {
    let mut g = c.benchmark_group("resample");
    for (from, to) in [
        (44_100u32, 16_000u32),
        (48_000, 16_000),
        (24_000, 16_000),
        (16_000, 24_000),
        (22_050, 16_000),
    ] {
        let x = speech(from);
        g.throughput(Throughput::Elements(audio_ms(x.len(), from)));
        g.bench_function(
            BenchmarkId::from_parameter(format!("{from}_to_{to}")),
            |b| b.iter(|| resample(black_box(&x), from, to)),
        );
    }
    g.finish();
}

fn stretching(c: &mut Criterion) {
    let x = speech(24_000);
    let mut g = c.benchmark_group("stretch_24k");
    g.throughput(Throughput::Elements(audio_ms(x.len(), 24_000)));
    for speed in [0.5f32, 1.25, 2.0, 4.0] {
        g.bench_function(BenchmarkId::from_parameter(speed), |b| {
            b.iter(|| time_stretch(black_box(&x), 24_000, speed))
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = decoding, encoding, resampling, stretching }
criterion_main!(benches);
