//! Shared by every target: tight limits (so a tiny input cannot ask for an
//! hour of audio and stall the fuzzer) and the invariants every decode must
//! keep whatever the bytes.

use omnivox_audio::{DecodeOptions, Decoded, Error, Limits};

pub fn opts() -> DecodeOptions {
    DecodeOptions {
        target_rate: 16_000,
        hint: None,
        raw_rate: None,
        limits: Limits { max_bytes: 1 << 20, max_duration_secs: 30.0, max_channels: 16, max_sample_rate: 192_000 },
    }
}

/// Anything decoded is mono, finite, in [-1, 1] and within the limits.
pub fn check(result: Result<Decoded, Error>) {
    if let Ok(d) = result {
        assert!(d.samples.len() <= 16_000 * 31, "{} samples beyond the 30 s limit", d.samples.len());
        assert!(d.samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
        assert_eq!(d.sample_rate, 16_000);
    }
}
