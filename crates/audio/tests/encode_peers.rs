//! Our encoders, whole and streamed, decoded by ffmpeg: lossless formats
//! bit-exact, Opus at 64 kbit/s >= 15 dB SNR and MP3 >= 12 dB on speech,
//! streamed chunks contiguous in time and playable as they arrive.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // Helpers outside #[test] fns unwrap and report.

mod common;

use common::*;
use omnivox_audio::{Chunk, EncodeOptions, Error, Format, StreamEncoder, encode, pcm::f32_to_i16};

const RATE: u32 = 24_000;

/// The speech test signal at 24 kHz, plus a full-scale and over-range tail so
/// that clipping and rounding at the extremes are exercised.
fn input() -> Vec<f32> {
    let mut x = speech(RATE);
    x.extend((0..480).map(|i| 1.2 * (i as f32 * 0.07).sin()));
    x.extend([
        1.0,
        -1.0,
        0.999_99,
        -0.999_99,
        0.5 / 32768.0,
        -0.5 / 32768.0,
        1.5 / 32768.0,
    ]);
    x
}

/// Deterministic uneven chunk sizes (1 ..= 3000 samples).
fn chunk_sizes(total: usize) -> Vec<usize> {
    let mut state = 0x2545_f491_u32;
    let mut sizes = Vec::new();
    let mut left = total;
    while left > 0 {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let n = ((state >> 8) as usize % 3000 + 1).min(left);
        sizes.push(n);
        left -= n;
    }
    sizes
}

fn stream(format: Format, samples: &[f32], rate: u32, opts: &EncodeOptions) -> Vec<Chunk> {
    let mut enc = StreamEncoder::new(format, rate, opts).unwrap();
    let mut chunks = Vec::new();
    let mut at = 0;
    for n in chunk_sizes(samples.len()) {
        chunks.extend(enc.push(&samples[at..at + n]).unwrap());
        at += n;
    }
    chunks.extend(enc.finish().unwrap());
    chunks
}

fn concat(chunks: &[Chunk]) -> Vec<u8> {
    chunks
        .iter()
        .flat_map(|c| c.bytes.iter().copied())
        .collect()
}

/// Chunks tile the timeline from 0 to the input's duration without gaps.
fn check_timeline(format: Format, chunks: &[Chunk], samples: usize, rate: u32) {
    assert!(!chunks.is_empty(), "{format}: no chunks");
    let mut t = 0;
    for c in chunks {
        assert!(!c.bytes.is_empty(), "{format}: empty chunk");
        assert_eq!(
            c.start_ms, t,
            "{format}: chunk starts at {} ms, previous ended at {t} ms",
            c.start_ms
        );
        t = c.start_ms + c.duration_ms;
    }
    let expect = (samples as u64 * 1000 + u64::from(rate) / 2) / u64::from(rate);
    assert_eq!(
        t, expect,
        "{format}: the chunks end at {t} ms, the input lasts {expect} ms"
    );
}

fn expected_i16(x: &[f32]) -> Vec<i16> {
    // The promised quantisation: round(x * 32768), clamped to 16 bits.
    x.iter()
        .map(|&v| (f64::from(v) * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

fn ffmpeg_s16(input_args: &[&str], bytes: &[u8]) -> Vec<i16> {
    let file = TempFile::new(bytes);
    let mut args = input_args.to_vec();
    args.extend(["-i", file.path(), "-f", "s16le", "-c:a", "pcm_s16le", "-"]);
    s16le(&ffmpeg(&args, &[]))
}

#[test]
fn lossless_formats_are_bit_exact_through_ffmpeg() {
    let x = input();
    let want = expected_i16(&x);
    for (format, args) in [
        (Format::Wav, vec![]),
        (Format::Flac, vec![]),
        (
            Format::Pcm16,
            vec!["-f", "s16le", "-ar", "24000", "-ac", "1"],
        ),
    ] {
        let whole = encode(&x, RATE, format, &EncodeOptions::default()).unwrap();
        assert_eq!(ffmpeg_s16(&args, &whole), want, "{format}: whole file");
        let chunks = stream(format, &x, RATE, &EncodeOptions::default());
        check_timeline(format, &chunks, x.len(), RATE);
        assert_eq!(
            ffmpeg_s16(&args, &concat(&chunks)),
            want,
            "{format}: streamed"
        );
    }
    assert!(f32_to_i16(1.2) == 32767 && f32_to_i16(-1.2) == -32768);
}

#[test]
fn g711_decodes_in_ffmpeg_within_one_level_and_mostly_matches_its_encoder() {
    // We quantise as the ITU-T G.191 reference (g711.c) does; ffmpeg's
    // encoder works from a 14-bit table and picks the neighbouring level
    // near some decision boundaries. Decoded by ffmpeg, our bytes must lie
    // within G.711's step size of the input (under |x|/16 + 16), and agree
    // with ffmpeg's own encoding almost everywhere.
    let x = speech(8_000);
    let pcm16 = expected_i16(&x);
    let pcm: Vec<u8> = pcm16.iter().flat_map(|v| v.to_le_bytes()).collect();
    for (format, name) in [(Format::Mulaw, "mulaw"), (Format::Alaw, "alaw")] {
        let ours = encode(&x, 8_000, format, &EncodeOptions::default()).unwrap();
        let theirs = ffmpeg(
            &[
                "-f", "s16le", "-ar", "8000", "-ac", "1", "-i", "-", "-f", name, "-",
            ],
            &pcm,
        );
        assert_eq!(ours.len(), theirs.len(), "{format}");
        let decoded = ffmpeg_s16(&["-f", name, "-ar", "8000", "-ac", "1"], &ours);
        for (i, (&x, &y)) in pcm16.iter().zip(&decoded).enumerate() {
            let (x, y) = (i32::from(x), i32::from(y));
            assert!(
                (y - x).abs() <= x.abs() / 16 + 16,
                "{format} sample {i}: {x} decodes to {y}"
            );
        }
        let same = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
        println!(
            "{format}: {same} of {} bytes identical to ffmpeg's",
            ours.len()
        );
        assert!(
            same * 100 >= ours.len() * 90,
            "{format}: only {same} of {} bytes match ffmpeg",
            ours.len()
        );
        let chunks = stream(format, &x, 8_000, &EncodeOptions::default());
        check_timeline(format, &chunks, x.len(), 8_000);
        assert_eq!(concat(&chunks), ours, "{format}: streamed");
    }
}

#[test]
fn opus_64k_whole_and_streamed_decode_in_ffmpeg_at_15_db() {
    let x = input();
    let opts = EncodeOptions {
        bitrate: Some(64_000),
    };
    let whole = encode(&x, RATE, Format::Opus, &opts).unwrap();
    let chunks = stream(Format::Opus, &x, RATE, &opts);
    check_timeline(Format::Opus, &chunks, x.len(), RATE);
    for c in &chunks {
        assert!(
            c.bytes.starts_with(b"OggS"),
            "every Opus chunk is whole Ogg pages"
        );
    }
    for (what, bytes) in [("whole", whole), ("streamed", concat(&chunks))] {
        // libopus as the reference decoder, resampled by ffmpeg to 24 kHz.
        let got = ffmpeg_decode_bytes(&["-c:a", "libopus"], &bytes, &["-ar", "24000"]);
        // Pre-skip and the final granule position make the length exact.
        assert!(
            got.len().abs_diff(x.len()) <= 1,
            "opus {what}: {} samples for {}",
            got.len(),
            x.len()
        );
        let s = snr_db(&x, &got);
        println!("opus {what}: {s:.1} dB");
        assert!(s >= 15.0, "opus {what}: {s:.1} dB SNR");
    }
}

#[test]
fn mp3_64k_whole_is_gapless_and_streamed_decodes_at_12_db() {
    let x = input();
    let opts = EncodeOptions {
        bitrate: Some(64_000),
    };
    let whole = encode(&x, RATE, Format::Mp3, &opts).unwrap();
    let got = ffmpeg_decode_bytes(&[], &whole, &[]);
    // The LAME tag tells ffmpeg the encoder delay and padding.
    assert_eq!(got.len(), x.len(), "mp3 whole: length");
    let s = snr_db(&x, &got);
    println!("mp3 whole: {s:.1} dB");
    assert!(s >= 12.0, "mp3 whole: {s:.1} dB SNR");

    let chunks = stream(Format::Mp3, &x, RATE, &opts);
    check_timeline(Format::Mp3, &chunks, x.len(), RATE);
    for c in &chunks {
        assert_eq!(
            c.bytes[0], 0xFF,
            "every MP3 chunk starts with a frame header"
        );
    }
    let got = ffmpeg_decode_bytes(&[], &concat(&chunks), &[]);
    // No tag in a stream: the decoder's output lags by LAME's delay.
    let (lag, s) = best_lag_snr(&x, &got, 1500);
    println!("mp3 streamed: {s:.1} dB at lag {lag}");
    assert!(s >= 12.0, "mp3 streamed: {s:.1} dB SNR");
    assert!((1000..=1200).contains(&lag), "mp3 streamed: delay {lag}");
}

#[test]
fn every_streamed_prefix_plays_in_ffmpeg() {
    // A client that has only the first k chunks can already decode them.
    let x = speech(RATE);
    for format in [Format::Wav, Format::Opus, Format::Flac, Format::Mp3] {
        let chunks = stream(format, &x, RATE, &EncodeOptions::default());
        let decoder: &[&str] = if format == Format::Opus {
            &["-c:a", "libopus"]
        } else {
            &[]
        };
        for k in [1, 2, chunks.len() / 2, chunks.len() - 1] {
            let prefix = concat(&chunks[..k.max(1)]);
            let end_ms = chunks[k.max(1) - 1].start_ms + chunks[k.max(1) - 1].duration_ms;
            let got = ffmpeg_decode_bytes(decoder, &prefix, &["-ar", "24000"]);
            let got_ms = got.len() as u64 * 1000 / u64::from(RATE);
            assert!(
                got_ms + 45 >= end_ms,
                "{format}: first {k} chunks promise {end_ms} ms, ffmpeg decodes {got_ms} ms"
            );
        }
    }
}

#[test]
fn input_at_other_rates_is_resampled_for_the_codec() {
    let x = speech(44_100);
    let secs = x.len() as f64 / 44_100.0;
    for (format, rate, args) in [
        (Format::Opus, 48_000u32, vec!["-c:a", "libopus"]),
        (Format::Mp3, 44_100, vec![]),
        (
            Format::Pcm16,
            24_000,
            vec!["-f", "s16le", "-ar", "24000", "-ac", "1"],
        ),
        (
            Format::Mulaw,
            8_000,
            vec!["-f", "mulaw", "-ar", "8000", "-ac", "1"],
        ),
        (Format::Wav, 44_100, vec![]),
        (Format::Flac, 44_100, vec![]),
    ] {
        let enc = StreamEncoder::new(format, 44_100, &EncodeOptions::default()).unwrap();
        assert_eq!(enc.output_rate(), rate, "{format}");
        let bytes = encode(&x, 44_100, format, &EncodeOptions::default()).unwrap();
        let got = ffmpeg_decode_bytes(&args, &bytes, &[]);
        let got_secs = got.len() as f64 / f64::from(rate);
        assert!(
            (got_secs - secs).abs() < 0.002,
            "{format}: {got_secs} s for {secs} s"
        );
    }
}

#[test]
fn aac_and_decode_only_formats_are_refused_by_name() {
    for f in [Format::Aac, Format::WebM, Format::Vorbis, Format::Mp4] {
        match StreamEncoder::new(f, RATE, &EncodeOptions::default()) {
            Err(Error::Unsupported { format, what }) => {
                assert_eq!(format, f);
                println!("{f}: {what}");
            }
            other => panic!("{f}: {other:?}"),
        }
        assert!(!f.can_encode());
    }
    assert!(matches!(
        encode(&[0.0], 0, Format::Wav, &EncodeOptions::default()),
        Err(Error::InvalidSampleRate { rate: 0, .. })
    ));
    assert!(matches!(
        encode(
            &[0.0],
            RATE,
            Format::Opus,
            &EncodeOptions {
                bitrate: Some(1_000_000)
            }
        ),
        Err(Error::InvalidOption { .. })
    ));
}

#[test]
fn empty_and_tiny_inputs_make_valid_files() {
    for format in [Format::Wav, Format::Opus, Format::Flac, Format::Mp3] {
        for x in [vec![], vec![0.25f32; 5]] {
            let bytes = encode(&x, RATE, format, &EncodeOptions::default()).unwrap();
            let decoder: &[&str] = if format == Format::Opus {
                &["-c:a", "libopus"]
            } else {
                &[]
            };
            let got = ffmpeg_decode_bytes(decoder, &bytes, &["-ar", "24000"]);
            assert!(
                got.len() <= 1152,
                "{format}: {} samples from {}",
                got.len(),
                x.len()
            );
            let back =
                omnivox_audio::decode(&bytes, &omnivox_audio::DecodeOptions::with_rate(RATE));
            assert!(
                back.is_ok(),
                "{format} of {} samples: our decoder says {back:?}",
                x.len()
            );
        }
    }
}

#[test]
fn our_decoder_reads_our_streams() {
    // Round trip through our own decoder, streamed (unknown-length headers)
    // and whole: lossless formats exact, lossy ones close.
    let x = input();
    let want: Vec<f32> = expected_i16(&x)
        .iter()
        .map(|&v| f32::from(v) / 32768.0)
        .collect();
    for format in [
        Format::Wav,
        Format::Flac,
        Format::Opus,
        Format::Mp3,
        Format::Pcm16,
    ] {
        let opts = omnivox_audio::DecodeOptions {
            hint: Some(format),
            ..omnivox_audio::DecodeOptions::with_rate(RATE)
        };
        let streamed = concat(&stream(format, &x, RATE, &EncodeOptions::default()));
        let whole = encode(&x, RATE, format, &EncodeOptions::default()).unwrap();
        for (what, bytes) in [("streamed", streamed), ("whole", whole)] {
            let d = omnivox_audio::decode(&bytes, &opts)
                .unwrap_or_else(|e| panic!("{format} {what}: {e}"));
            assert_eq!(d.source_format, format);
            match format {
                Format::Wav | Format::Flac | Format::Pcm16 => {
                    assert_eq!(d.samples, want, "{format} {what}")
                }
                Format::Opus => {
                    assert_eq!(d.samples.len(), x.len(), "{format} {what}");
                    assert!(snr_db(&x, &d.samples) >= 15.0, "{format} {what}");
                }
                _ => {
                    let (_, s) = best_lag_snr(&x, &d.samples, 1200);
                    assert!(s >= 12.0, "{format} {what}: {s:.1} dB");
                }
            }
        }
    }
}
