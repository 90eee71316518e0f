//! The Qwen3-Omni audio encoder against transformers'
//! `Qwen3OmniMoeAudioEncoder` (`tools/reference/qwen3_omni_audio_encoder.py`):
//! several clips per call with lengths that are not multiples of the
//! 100-frame chunk or of the attention window, a lone short clip, whole
//! chunks, and two window sizes.

// Test bodies are generic functions instantiated by `backend_tests!`, not
// `#[test]` items themselves, so clippy's allow-unwrap-in-tests misses them.
#![allow(clippy::unwrap_used)]

use burn::tensor::backend::Backend;
use omnivox_model::loader::{Checkpoint, VarBuilder};
use omnivox_model::qwen3_omni::{AudioEncoderConfig, MelFeatures, Qwen3OmniAudioEncoder};
use omnivox_model::testing::{Reference, check_close, fixture_dir, to_vec};

const NAME: &str = "qwen3_omni_audio_encoder";

fn load<B: Backend>(device: &B::Device, n_window_infer: Option<usize>) -> Qwen3OmniAudioEncoder<B> {
    let text = std::fs::read_to_string(fixture_dir(NAME).join("config.json")).unwrap();
    let mut cfg: AudioEncoderConfig = serde_json::from_str(&text).unwrap();
    if let Some(n) = n_window_infer {
        cfg.n_window_infer = n;
    }
    let ckpt = Checkpoint::open(fixture_dir(NAME)).unwrap();
    let vb = VarBuilder::<B>::new(&ckpt, device);
    let enc = Qwen3OmniAudioEncoder::load(&vb, &cfg).unwrap();
    vb.finish().unwrap();
    enc
}

/// Runs case `case`; returns our output and the reference's.
fn run_case<B: Backend>(
    device: &B::Device,
    case: &str,
    n_window_infer: Option<usize>,
) -> (Vec<f32>, Vec<f32>) {
    let enc = load::<B>(device, n_window_infer);
    let reference = Reference::open(NAME).unwrap();
    let (feats, shape) = reference.f32(&format!("{case}.features")).unwrap();
    let (lens, _) = reference.i64(&format!("{case}.lengths")).unwrap();
    let (mels, total) = (shape[0], shape[1]);
    // The reference concatenates clips along time; split them back into
    // mel-major matrices.
    let mut clips_data = Vec::new();
    let mut start = 0usize;
    for &n in &lens {
        let n = n as usize;
        let mut d = Vec::with_capacity(mels * n);
        for m in 0..mels {
            d.extend_from_slice(&feats[m * total + start..m * total + start + n]);
        }
        clips_data.push((d, n));
        start += n;
    }
    let clips: Vec<MelFeatures<'_>> = clips_data
        .iter()
        .map(|(d, n)| MelFeatures {
            data: d,
            n_mels: mels,
            frames: *n,
        })
        .collect();
    let out = enc.forward(&clips).unwrap();
    let (want, want_shape) = reference.f32(&format!("{case}.output")).unwrap();
    assert_eq!(
        out.embeds.dims().to_vec(),
        want_shape,
        "{case}: output shape"
    );
    assert_eq!(out.clip_tokens.iter().sum::<usize>(), want_shape[0]);
    (to_vec(out.embeds), want)
}

fn check_case<B: Backend>(device: &B::Device, case: &str, n_window_infer: Option<usize>) {
    let (got, want) = run_case::<B>(device, case, n_window_infer);
    check_close(&got, &want, 2e-5, 1e-4).unwrap_or_else(|e| panic!("{case}: {e}"));
}

/// The windows matter: with windows 8 chunks wide instead of 2 the output
/// is not the reference's (attention really is block-diagonal).
fn other_windows_give_other_output<B: Backend>(device: &B::Device) {
    let (got, want) = run_case::<B>(device, "multi", Some(800));
    assert!(check_close(&got, &want, 2e-5, 1e-4).is_err());
}

fn several_clips_with_ragged_windows<B: Backend>(device: &B::Device) {
    check_case::<B>(device, "multi", None);
}

fn one_window_per_chunk<B: Backend>(device: &B::Device) {
    check_case::<B>(device, "multi_infer100", Some(100));
}

fn a_lone_short_clip<B: Backend>(device: &B::Device) {
    check_case::<B>(device, "short", None);
}

fn whole_chunks_and_a_one_frame_clip<B: Backend>(device: &B::Device) {
    check_case::<B>(device, "exact", None);
}

/// Bad input is an error, not a panic.
fn mismatched_clips_are_refused<B: Backend>(device: &B::Device) {
    let enc = load::<B>(device, None);
    let data = vec![0f32; 10];
    let err = enc
        .forward(&[MelFeatures {
            data: &data,
            n_mels: 2,
            frames: 5,
        }])
        .unwrap_err()
        .to_string();
    assert!(err.contains("mel bins"), "{err}");
    assert!(enc.forward(&[]).is_err());
    let empty: [f32; 0] = [];
    assert!(
        enc.forward(&[MelFeatures {
            data: &empty,
            n_mels: 32,
            frames: 0
        }])
        .is_err()
    );
}

omnivox_model::backend_tests!(
    several_clips_with_ragged_windows,
    one_window_per_chunk,
    a_lone_short_clip,
    whole_chunks_and_a_one_frame_clip,
    other_windows_give_other_output,
    mismatched_clips_are_refused
);
