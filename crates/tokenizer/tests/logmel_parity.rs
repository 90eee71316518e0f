//! Log-mel features equal to transformers' `WhisperFeatureExtractor` as
//! Qwen3-Omni's processor calls it (fixtures/logmel, made by
//! tools/reference/logmel.py), within 1e-4, on espeak-ng speech of 1 s,
//! 29 s, 31 s and 5 minutes: no chunking, one log floor per clip; plus a
//! two-clip batch (padding to the longest, ceil-length masks).

mod common;

use anyhow::Result;
use omnivox_tokenizer::{Error, LogMel, LogMelExtractor, WhisperConfig};

const FIXTURE: &str = "logmel";
const TOL: f32 = 1e-4;
const GAINS: [f32; 5] = [1.0, 0.8, 0.6, 0.9, 0.7];

/// The signal construction of logmel.py: `clip[i % L] * GAINS[(i / L) % 5]`.
fn build(clip: &[f32], n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| clip[i % clip.len()] * GAINS[(i / clip.len()) % GAINS.len()])
        .collect()
}

fn extractor() -> LogMelExtractor {
    LogMelExtractor::new(WhisperConfig::qwen3_omni()).expect("valid config")
}

/// Largest difference between our frames and the reference's `[128, k]`
/// matrix at the given frame indices.
fn max_diff(got: &LogMel, want: &[f32], frames: &[i64]) -> f32 {
    let k = frames.len();
    let mut worst = 0f32;
    for mel in 0..got.n_mels {
        for (col, &f) in frames.iter().enumerate() {
            let d = (got.get(mel, f as usize).expect("frame in range") - want[mel * k + col]).abs();
            worst = worst.max(d);
        }
    }
    worst
}

#[test]
fn mel_filter_bank_matches_the_reference() -> Result<()> {
    let t = common::Tensors::open(FIXTURE, "reference.safetensors")?;
    let (want, shape) = t.f64("mel_filters")?;
    assert_eq!(shape, [201, 128]);
    let got = extractor().filter_bank();
    for (k, row) in got.iter().enumerate() {
        for (m, &v) in row.iter().enumerate() {
            let w = want[k * 128 + m];
            assert!(
                (v - w).abs() <= 1e-12 * w.abs().max(1.0),
                "bin {k} mel {m}: {v} vs {w}"
            );
        }
    }
    Ok(())
}

#[test]
fn speech_of_every_length_matches_the_reference() -> Result<()> {
    let t = common::Tensors::open(FIXTURE, "reference.safetensors")?;
    let cases = common::json(FIXTURE, "cases.json")?;
    let (clip, _) = t.f32("clip")?;
    let fe = extractor();
    for (name, case) in cases["signals"].as_object().unwrap() {
        let samples = build(&clip, case["samples"].as_u64().unwrap() as usize);
        let got = fe.extract(&samples)?;
        assert_eq!(got.n_mels, 128);
        assert_eq!(
            got.n_frames as u64,
            case["mask"].as_u64().unwrap(),
            "{name}"
        );
        let (want, _) = t.f32(&format!("feat_{name}"))?;
        let (frames, _) = t.i64(&format!("frames_{name}"))?;
        let d = max_diff(&got, &want, &frames);
        eprintln!(
            "{name}: {} frames, {} compared, max |diff| {d:.2e}",
            got.n_frames,
            frames.len()
        );
        assert!(d <= TOL, "{name}: max |diff| {d}");
    }
    Ok(())
}

#[test]
fn a_batch_is_padded_to_its_longest_clip() -> Result<()> {
    let t = common::Tensors::open(FIXTURE, "reference.safetensors")?;
    let cases = common::json(FIXTURE, "cases.json")?;
    let (clip, _) = t.f32("clip")?;
    let lens: Vec<usize> = cases["batch"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let clips: Vec<Vec<f32>> = lens.iter().map(|&n| build(&clip, n)).collect();
    let refs: Vec<&[f32]> = clips.iter().map(Vec::as_slice).collect();
    let got = extractor().extract_batch(&refs)?;
    for (i, key) in ["batch_a", "batch_b"].iter().enumerate() {
        let (want, shape) = t.f32(key)?;
        assert_eq!(got[i].n_frames, shape[1], "{key}");
        assert_eq!(
            got[i].n_frames as u64,
            cases["batch"]["mask"][i].as_u64().unwrap()
        );
        let frames: Vec<i64> = (0..shape[1] as i64).collect();
        let d = max_diff(&got[i], &want, &frames);
        eprintln!("{key}: {} frames, max |diff| {d:.2e}", got[i].n_frames);
        assert!(d <= TOL, "{key}: max |diff| {d}");
    }
    Ok(())
}

#[test]
fn too_short_or_non_finite_audio_is_a_typed_error() -> Result<()> {
    let cases = common::json(FIXTURE, "cases.json")?;
    // The reference fails on this length too (torch's reflect padding).
    let n = cases["too_short"]["samples"].as_u64().unwrap() as usize;
    let fe = extractor();
    assert!(matches!(
        fe.extract(&vec![0.1; n]),
        Err(Error::AudioTooShort { samples, min: 201 }) if samples == n
    ));
    let mut bad = vec![0.0f32; 1000];
    bad[7] = f32::NAN;
    assert!(matches!(
        fe.extract_batch(&[&[0.0; 500], &bad]),
        Err(Error::NonFiniteSample { clip: 1, index: 7 })
    ));
    assert!(fe.extract_batch(&[]).unwrap().is_empty());
    Ok(())
}

#[test]
fn frame_major_is_the_transpose() -> Result<()> {
    let samples: Vec<f32> = (0..4000).map(|i| ((i as f32) * 0.01).sin()).collect();
    let m = extractor().extract(&samples)?;
    let t = m.to_frame_major();
    assert_eq!(m.n_frames, 25);
    assert_eq!(t[3 * m.n_mels + 7], m.get(7, 3).unwrap());
    assert_eq!(m.get(m.n_mels, 0), None);
    Ok(())
}
