//! Time-stretch (`speed`) at 0.25, 0.5, 1.25, 2 and 4, streamed chunk by
//! chunk: duration within 1% of input/speed, the fundamental of a voiced
//! signal within 2%, no clicks at chunk joins, streamed equal to whole.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // Helpers outside #[test] fns unwrap and report.

mod common;

use omnivox_audio::{Error, TimeStretch, time_stretch};

const RATE: u32 = 24_000;
const F0: f64 = 150.0;
const SPEEDS: [f32; 5] = [0.25, 0.5, 1.25, 2.0, 4.0];

/// A voiced, speech-like signal: 12 harmonics of 150 Hz with a falling
/// spectrum and a slow amplitude envelope, 2 seconds.
fn voiced() -> Vec<f32> {
    let n = 2 * RATE as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            let env = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            let s: f64 = (1..=12)
                .map(|h| {
                    (2.0 * std::f64::consts::PI * F0 * h as f64 * t + 0.3 * h as f64).sin()
                        / h as f64
                })
                .sum();
            (0.25 * env * s) as f32
        })
        .collect()
}

/// The fundamental by autocorrelation (60-400 Hz) with parabolic
/// interpolation, over a 200 ms window in the middle of `x`.
fn f0(x: &[f32]) -> f64 {
    let w = RATE as usize / 5;
    let mid = x.len() / 2 - w / 2;
    let seg = &x[mid..mid + w];
    let ac = |lag: usize| -> f64 {
        (0..w - lag)
            .map(|i| f64::from(seg[i]) * f64::from(seg[i + lag]))
            .sum::<f64>()
            / (w - lag) as f64
    };
    let (lo, hi) = (RATE as usize / 400, RATE as usize / 60);
    let best = (lo..=hi).max_by(|&a, &b| ac(a).total_cmp(&ac(b))).unwrap();
    let (a, b, c) = (ac(best - 1), ac(best), ac(best + 1));
    let offset = 0.5 * (a - c) / (a - 2.0 * b + c);
    f64::from(RATE) / (best as f64 + offset)
}

fn max_jump(x: &[f32]) -> f32 {
    x.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

/// Streams `x` through a stretcher in uneven chunks (1 to 2000 samples),
/// returning the output and where each chunk's output began.
fn streamed(x: &[f32], speed: f32) -> (Vec<f32>, Vec<usize>) {
    let mut ts = TimeStretch::new(RATE, speed).unwrap();
    let (mut out, mut joins) = (Vec::new(), Vec::new());
    let mut at = 0;
    let mut step = 13;
    while at < x.len() {
        let n = step.min(x.len() - at);
        joins.push(out.len());
        out.extend(ts.push(&x[at..at + n]));
        at += n;
        step = step * 31 % 1999 + 1;
    }
    joins.push(out.len());
    out.extend(ts.finish());
    (out, joins)
}

#[test]
fn the_f0_measure_sees_a_pitch_change() {
    // The test can fail: plain resampling (speed by pitch shift) moves the
    // fundamental, and the estimator catches it.
    let x = voiced();
    assert!((f0(&x) / F0 - 1.0).abs() < 0.005, "estimator: {}", f0(&x));
    let chipmunk: Vec<f32> = (0..x.len() / 2).map(|i| x[2 * i]).collect();
    assert!((f0(&chipmunk) / F0 - 1.0).abs() > 0.5);
}

#[test]
fn duration_pitch_and_continuity_at_every_speed() {
    let x = voiced();
    let input_jump = max_jump(&x);
    for speed in SPEEDS {
        let (out, joins) = streamed(&x, speed);
        let want = x.len() as f64 / f64::from(speed);
        let dur_err = (out.len() as f64 / want - 1.0).abs();
        let pitch = f0(&out);
        let pitch_err = (pitch / F0 - 1.0).abs();
        let jump = max_jump(&out);
        let join_jump = joins
            .iter()
            .filter(|&&j| j > 0 && j < out.len())
            .map(|&j| (out[j] - out[j - 1]).abs())
            .fold(0.0, f32::max);
        println!(
            "speed {speed}: {} samples for {want:.0} ({:.3}%), f0 {pitch:.2} Hz ({:.2}%), max jump {jump:.4} (input {input_jump:.4}), at joins {join_jump:.4}",
            out.len(),
            dur_err * 100.0,
            pitch_err * 100.0
        );
        assert!(
            dur_err <= 0.01,
            "speed {speed}: duration off by {:.2}%",
            dur_err * 100.0
        );
        assert!(pitch_err <= 0.02, "speed {speed}: f0 {pitch:.2} Hz");
        // No clicks: no sample step larger than the input's largest (plus
        // 10% for overlap-add of near-aligned periods), at joins or anywhere.
        assert!(
            jump <= 1.1 * input_jump,
            "speed {speed}: jump {jump} vs input {input_jump}"
        );
        assert!(
            join_jump <= 1.1 * input_jump,
            "speed {speed}: jump at a chunk join {join_jump}"
        );
        // Streaming is exact: the same as stretching the whole clip.
        assert_eq!(
            out,
            time_stretch(&x, RATE, speed).unwrap(),
            "speed {speed}: streamed != whole"
        );
    }
}

#[test]
fn speech_keeps_its_length_and_has_no_clicks() {
    let x = common::speech(RATE);
    let input_jump = max_jump(&x);
    for speed in SPEEDS {
        let (out, _) = streamed(&x, speed);
        let want = (x.len() as f64 / f64::from(speed)).round() as usize;
        assert_eq!(out.len(), want, "speed {speed}");
        assert!(
            max_jump(&out) <= 1.5 * input_jump,
            "speed {speed}: {} vs {input_jump}",
            max_jump(&out)
        );
    }
}

#[test]
fn latency_is_bounded_and_speed_one_passes_through() {
    let x = voiced();
    for speed in SPEEDS {
        let mut ts = TimeStretch::new(RATE, speed).unwrap();
        let latency = ts.latency_samples();
        assert!(
            latency <= RATE as usize * 60 / 1000,
            "{latency} samples of look-ahead"
        );
        // After pushing 1 s, the output covers all but the look-ahead.
        let out = ts.push(&x[..RATE as usize]);
        let covered = out.len() as f64 * f64::from(speed);
        assert!(
            covered + latency as f64 + 1.0 >= f64::from(RATE) - f64::from(speed) * 360.0,
            "speed {speed}: {covered}"
        );
    }
    let mut one = TimeStretch::new(RATE, 1.0).unwrap();
    assert_eq!(one.push(&x[..1000]), x[..1000].to_vec());
    assert!(one.finish().is_empty());
}

#[test]
fn speeds_outside_quarter_to_four_are_refused() {
    for bad in [0.0, 0.249, 4.01, -1.0, f32::NAN, f32::INFINITY] {
        match TimeStretch::new(RATE, bad) {
            Err(Error::InvalidSpeed(s)) => assert!(s.is_nan() || s == bad),
            other => panic!("speed {bad}: {other:?}"),
        }
    }
    assert!(TimeStretch::new(RATE, 0.25).is_ok() && TimeStretch::new(RATE, 4.0).is_ok());
    assert!(time_stretch(&[], RATE, 2.0).unwrap().is_empty());
    assert_eq!(time_stretch(&[0.1; 10], RATE, 0.5).unwrap().len(), 20);
}
