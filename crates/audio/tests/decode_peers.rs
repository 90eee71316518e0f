//! Our decoders against ffmpeg, on files made by ffmpeg, lame, flac and
//! opusenc (`cargo xtask audio-files`). Each file is decoded at its own rate
//! (no resampling) by us and by ffmpeg; ffmpeg's channels are averaged (our
//! documented mixdown) and the two compared.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // Helpers outside #[test] fns unwrap and report.

mod common;

use common::*;
use omnivox_audio::{DecodeOptions, Format, decode};

/// How close our decoding must be to ffmpeg's.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Identical samples (lossless; mixdown rounding allowed for > 1 channel).
    Exact,
    /// A lossy codec decoded by a different implementation: same length
    /// (within `len_tol` samples) and at least `snr` dB against ffmpeg.
    Close { snr: f64, len_tol: usize },
}

fn check(name: &str, format: Format, expect: Expect) {
    check_with(name, format, expect, &[]);
}

/// `decoder`: ffmpeg input options, e.g. `-c:a libopus` to make the
/// reference libopus itself rather than ffmpeg's own Opus decoder (which is
/// not bit-exact with libopus: about 11 dB apart on SILK speech).
fn check_with(name: &str, format: Format, expect: Expect, decoder: &[&str]) {
    let path = data(name);
    let file = path.to_str().unwrap();
    let rate = ffprobe_rate(file);
    let bytes = read(name);
    let ours =
        decode(&bytes, &DecodeOptions::with_rate(rate)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(ours.source_format, format, "{name}: sniffed format");
    assert_eq!(ours.sample_rate, rate);
    let (theirs, channels) = ffmpeg_decode(decoder, file, &[]);
    assert_eq!(
        usize::from(ours.source_channels),
        channels,
        "{name}: channel count"
    );
    let reference = average(&theirs, channels);
    let got = &ours.samples;
    match expect {
        Expect::Exact => {
            assert_eq!(got.len(), reference.len(), "{name}: length");
            let tol = if channels == 1 { 0.0 } else { 1e-6 };
            let diff = max_abs_diff(got, &reference);
            assert!(diff <= tol, "{name}: max difference {diff} from ffmpeg");
        }
        Expect::Close { snr, len_tol } => {
            let len_diff = got.len().abs_diff(reference.len());
            assert!(
                len_diff <= len_tol,
                "{name}: {} samples vs ffmpeg's {}",
                got.len(),
                reference.len()
            );
            let s = snr_db(&reference, got);
            println!(
                "{name}: {s:.1} dB against ffmpeg, {} vs {} samples",
                got.len(),
                reference.len()
            );
            assert!(s >= snr, "{name}: {s:.1} dB against ffmpeg (want >= {snr})");
        }
    }
    assert_eq!(
        ours.duration_ms,
        (got.len() as u64 * 1000 + u64::from(rate) / 2) / u64::from(rate)
    );
}

#[test]
fn wav_every_sample_format_matches_ffmpeg_exactly() {
    for name in [
        "speech_22k.wav",
        "wav_u8_8k.wav",
        "wav_s16_44k_stereo.wav",
        "wav_s24_48k.wav",
        "wav_s32_16k.wav",
        "wav_f32_24k.wav",
        "wav_f64_16k.wav",
        "wav_ext_6ch.wav",
        "wav_mulaw_8k.wav",
        "wav_alaw_8k.wav",
        "wav_streamed.wav",
    ] {
        check(name, Format::Wav, Expect::Exact);
    }
}

#[test]
fn flac_native_and_ogg_match_ffmpeg_exactly() {
    check("speech.flac", Format::Flac, Expect::Exact);
    check("speech_ogg.oga", Format::Flac, Expect::Exact);
}

#[test]
fn mp3_from_lame_and_ffmpeg_match_ffmpeg() {
    // Both carry LAME's gapless info, which symphonia and ffmpeg apply.
    check(
        "speech.mp3",
        Format::Mp3,
        Expect::Close {
            snr: 60.0,
            len_tol: 0,
        },
    );
    check(
        "speech_id3.mp3",
        Format::Mp3,
        Expect::Close {
            snr: 60.0,
            len_tol: 0,
        },
    );
}

#[test]
fn ogg_opus_from_opusenc_matches_ffmpeg() {
    // libopus against libopus (through ffmpeg): pre-skip, gain and the
    // end-of-stream granule trim must agree to the sample.
    let libopus = ["-c:a", "libopus"];
    check_with(
        "speech.opus",
        Format::Opus,
        Expect::Close {
            snr: 50.0,
            len_tol: 0,
        },
        &libopus,
    );
    check_with(
        "speech_stereo.opus",
        Format::Opus,
        Expect::Close {
            snr: 50.0,
            len_tol: 0,
        },
        &libopus,
    );
}

#[test]
fn webm_opus_seekable_and_piped_match_ffmpeg() {
    // ffmpeg trims the last frame's padding (DiscardPadding), which
    // symphonia does not expose: at most one 20 ms frame longer.
    let libopus = ["-c:a", "libopus"];
    check_with(
        "speech.webm",
        Format::WebM,
        Expect::Close {
            snr: 50.0,
            len_tol: 960,
        },
        &libopus,
    );
    check_with(
        "speech_piped.webm",
        Format::WebM,
        Expect::Close {
            snr: 50.0,
            len_tol: 960,
        },
        &libopus,
    );
}

#[test]
fn vorbis_matches_ffmpeg() {
    check(
        "speech_vorbis.ogg",
        Format::Vorbis,
        Expect::Close {
            snr: 60.0,
            len_tol: 0,
        },
    );
}

#[test]
fn aac_adts_and_m4a_match_ffmpeg() {
    // Neither applies the encoder's 1024 priming samples here: ADTS has no
    // field for them, and symphonia's MP4 reader ignores edit lists, so
    // ffmpeg is told to ignore the M4A's edit list too (docs/audio.md).
    check(
        "speech.aac",
        Format::Aac,
        Expect::Close {
            snr: 60.0,
            len_tol: 0,
        },
    );
    check_with(
        "speech.m4a",
        Format::Mp4,
        Expect::Close {
            snr: 60.0,
            len_tol: 0,
        },
        &["-ignore_editlist", "1"],
    );
}

#[test]
fn headerless_pcm16_mulaw_alaw_match_ffmpeg_exactly() {
    for (name, format, fmt_arg, rate) in [
        ("speech_24k.pcm16", Format::Pcm16, "s16le", 24_000u32),
        ("speech_8k.ulaw", Format::Mulaw, "mulaw", 8_000),
        ("speech_8k.alaw", Format::Alaw, "alaw", 8_000),
    ] {
        let bytes = read(name);
        let opts = DecodeOptions {
            hint: Some(format),
            ..DecodeOptions::with_rate(rate)
        };
        let ours = decode(&bytes, &opts).unwrap();
        assert_eq!(ours.source_format, format);
        let rate_s = rate.to_string();
        let theirs = ffmpeg_decode_bytes(&["-f", fmt_arg, "-ar", &rate_s, "-ac", "1"], &bytes, &[]);
        assert_eq!(ours.samples, theirs, "{name}");
    }
}
