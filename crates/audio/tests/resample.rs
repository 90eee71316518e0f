//! Resampling against the mathematics: a sine resampled must be the same
//! sine at the new rate, tones above the new Nyquist must vanish, lengths
//! are exact, and streaming equals whole.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // Helpers outside #[test] fns unwrap and report.

use omnivox_audio::{DecodeOptions, Resampler, decode, resample};

fn sine(freq: f64, rate: u32, n: usize) -> Vec<f32> {
    shifted_sine(freq, rate, n, 0.0)
}

/// A sine delayed by `shift` samples.
fn shifted_sine(freq: f64, rate: u32, n: usize, shift: f64) -> Vec<f32> {
    (0..n)
        .map(|i| {
            (0.5 * (2.0 * std::f64::consts::PI * freq * (i as f64 - shift) / f64::from(rate)).sin())
                as f32
        })
        .collect()
}

fn snr(reference: &[f32], test: &[f32]) -> f64 {
    let (mut s, mut e) = (0.0f64, 0.0f64);
    for (r, t) in reference.iter().zip(test) {
        s += f64::from(*r).powi(2);
        e += f64::from(r - t).powi(2);
    }
    10.0 * (s / e.max(1e-30)).log10()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn sines_come_out_as_the_same_sine_at_the_new_rate() {
    // Common pairs (FFT resampler) and a prime input rate (sinc resampler).
    for (from, to, freq) in [
        (44_100u32, 16_000u32, 1_000.0),
        (48_000, 16_000, 3_000.0),
        (22_050, 24_000, 440.0),
        (8_000, 24_000, 1_200.0),
        (24_000, 16_000, 5_000.0),
        (7_919, 16_000, 700.0),
    ] {
        let n = from as usize; // one second
        let out = resample(&sine(freq, from, n), from, to).unwrap();
        assert_eq!(out.len(), to as usize, "{from}->{to}: length");
        // Skip the filter's edge transients at both ends. rubato compensates
        // its delay in whole output samples, so a constant delay of less
        // than one output sample may remain: search it in 0.01 steps.
        let edge = to as usize / 50;
        let (shift, s) = (-100..=100)
            .map(|k| {
                let shift = f64::from(k) / 100.0;
                let want = shifted_sine(freq, to, to as usize, shift);
                (
                    shift,
                    snr(&want[edge..out.len() - edge], &out[edge..out.len() - edge]),
                )
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        println!("{from} -> {to} Hz, {freq} Hz tone: {s:.1} dB at a delay of {shift:+.2} samples");
        assert!(s >= 55.0, "{from}->{to}: {s:.1} dB");
        assert!(shift.abs() < 1.0, "{from}->{to}: delayed {shift} samples");
    }
}

#[test]
fn tones_above_the_new_nyquist_are_removed() {
    let out = resample(&sine(7_000.0, 44_100, 44_100), 44_100, 8_000).unwrap();
    let level = 20.0 * (rms(&out[400..7600]) / (0.5 / 2f64.sqrt())).log10();
    println!("7 kHz tone after 44.1k -> 8k: {level:.1} dB");
    assert!(level < -60.0, "{level:.1} dB left of a tone above 4 kHz");
}

#[test]
fn streaming_equals_whole_for_any_chunking() {
    for (from, to) in [
        (44_100u32, 16_000u32),
        (24_000, 48_000),
        (7_919, 16_000),
        (16_000, 16_000),
    ] {
        let x = sine(523.0, from, from as usize * 3 / 2);
        let whole = resample(&x, from, to).unwrap();
        let mut r = Resampler::new(from, to).unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        let mut step = 1;
        while at < x.len() {
            let n = step.min(x.len() - at);
            out.extend(r.push(&x[at..at + n]).unwrap());
            at += n;
            step = step * 7 % 3001 + 1;
        }
        out.extend(r.finish().unwrap());
        assert_eq!(out, whole, "{from}->{to}");
    }
}

#[test]
fn lengths_are_exact_for_short_inputs() {
    for n in [0usize, 1, 2, 3, 100, 441, 1023, 1024, 1025] {
        let out = resample(&vec![0.1; n], 44_100, 16_000).unwrap();
        assert_eq!(out.len(), (n * 16_000 + 22_050) / 44_100, "{n} samples");
    }
    assert!(Resampler::new(0, 16_000).is_err());
}

#[test]
fn decoding_at_the_model_rate_matches_decoding_then_resampling() {
    // `decode` resamples as it goes; the result equals resampling the
    // native-rate decode in one piece.
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/speech_22k.wav"
    ))
    .unwrap();
    let native = decode(&bytes, &DecodeOptions::with_rate(22_050)).unwrap();
    let at16 = decode(&bytes, &DecodeOptions::with_rate(16_000)).unwrap();
    assert_eq!(
        at16.samples,
        resample(&native.samples, 22_050, 16_000).unwrap()
    );
    assert_eq!(at16.duration_ms, 1600);
}
