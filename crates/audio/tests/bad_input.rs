//! Bad input: empty, oversized, truncated, corrupt, absurd headers and
//! unsupported codecs all end in a typed error naming the problem; nothing
//! panics and nothing allocates what a header claims.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // Helpers outside #[test] fns unwrap and report.

mod common;

use common::*;
use omnivox_audio::{DecodeOptions, Error, Format, Limits, decode, decode_as};

fn opts() -> DecodeOptions {
    DecodeOptions::with_rate(16_000)
}

/// A canonical 16-bit PCM WAV header with the given fields, then `body`.
fn wav(tag: u16, channels: u16, rate: u32, bits: u16, data_len: u32, body: &[u8]) -> Vec<u8> {
    let block = u32::from(channels) * u32::from(bits / 8);
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + body.len() as u32).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&tag.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate.wrapping_mul(block)).to_le_bytes());
    h.extend_from_slice(&(block as u16).to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h.extend_from_slice(body);
    h
}

#[test]
fn empty_and_oversized_input() {
    assert!(matches!(decode(&[], &opts()), Err(Error::Empty)));
    let small = DecodeOptions {
        limits: Limits {
            max_bytes: 100,
            ..Limits::default()
        },
        ..opts()
    };
    assert!(matches!(
        decode(&read("speech.mp3"), &small),
        Err(Error::TooLarge { limit: 100, .. })
    ));
}

#[test]
fn duration_limit_stops_every_decoder() {
    let short = DecodeOptions {
        limits: Limits {
            max_duration_secs: 0.5,
            ..Limits::default()
        },
        ..opts()
    };
    for name in [
        "speech_22k.wav",
        "speech.mp3",
        "speech.flac",
        "speech.opus",
        "speech.webm",
        "speech_vorbis.ogg",
        "speech.aac",
    ] {
        match decode(&read(name), &short) {
            Err(Error::TooLong { limit_secs }) => assert_eq!(limit_secs, 0.5),
            other => panic!("{name}: {other:?}"),
        }
    }
    let raw = DecodeOptions {
        hint: Some(Format::Pcm16),
        ..short
    };
    assert!(matches!(
        decode(&read("speech_24k.pcm16"), &raw),
        Err(Error::TooLong { .. })
    ));
}

#[test]
fn absurd_wav_headers() {
    let pcm = vec![0u8; 64];
    // A data chunk claiming 4 GB in a 100-byte file.
    match decode(&wav(1, 1, 16_000, 16, 0xFFFF_FFF0, &pcm), &opts()) {
        Err(Error::Truncated {
            format: Format::Wav,
            what,
        }) => assert!(what.contains("4294967280"), "{what}"),
        other => panic!("4 GB claim: {other:?}"),
    }
    assert!(matches!(
        decode(&wav(1, 1, 0, 16, 64, &pcm), &opts()),
        Err(Error::InvalidHeader { .. })
    ));
    match decode(&wav(1, 65_535, 16_000, 16, 64, &pcm), &opts()) {
        Err(Error::TooManyChannels {
            channels: 65_535,
            limit: 64,
        }) => {}
        other => panic!("65535 channels: {other:?}"),
    }
    assert!(matches!(
        decode(&wav(1, 0, 16_000, 16, 64, &pcm), &opts()),
        Err(Error::InvalidHeader { .. })
    ));
    assert!(matches!(
        decode(&wav(1, 1, 4_000_000_000, 16, 64, &pcm), &opts()),
        Err(Error::InvalidSampleRate {
            rate: 4_000_000_000,
            ..
        })
    ));
    // 12-bit float and a block align that does not fit the channels.
    assert!(matches!(
        decode(&wav(3, 1, 16_000, 12, 64, &pcm), &opts()),
        Err(Error::Unsupported { .. })
    ));
    let mut bad_align = wav(1, 2, 16_000, 16, 64, &pcm);
    bad_align[32] = 3;
    assert!(matches!(
        decode(&bad_align, &opts()),
        Err(Error::InvalidHeader { .. })
    ));
    // A sample frame cut in half.
    assert!(matches!(
        decode(&wav(1, 2, 16_000, 16, 63, &pcm[..63]), &opts()),
        Err(Error::Truncated { .. })
    ));
    // Unsupported codecs are named.
    match decode(&wav(0x55, 1, 16_000, 16, 64, &pcm), &opts()) {
        Err(Error::Unsupported {
            format: Format::Wav,
            what,
        }) => assert!(what.contains("0x0055"), "{what}"),
        other => panic!("MP3-in-WAV: {other:?}"),
    }
    // A chunk whose size runs past the end, and no data chunk at all.
    let mut no_data = wav(1, 1, 16_000, 16, 64, &pcm);
    no_data.truncate(36);
    assert!(matches!(
        decode(&no_data, &opts()),
        Err(Error::Corrupt { .. })
    ));
    let mut rf64 = wav(1, 1, 16_000, 16, 64, &pcm);
    rf64[0..4].copy_from_slice(b"RF64");
    assert!(matches!(
        decode(&rf64, &opts()),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn truncated_files_are_reported_as_truncated() {
    // WebM is read to its last whole block (live recordings have no
    // length); headerless formats cannot know. Everything else says so.
    for name in [
        "speech_22k.wav",
        "wav_f64_16k.wav",
        "speech.mp3",
        "speech_id3.mp3",
        "speech.flac",
        "speech_ogg.oga",
        "speech.opus",
        "speech_stereo.opus",
        "speech_vorbis.ogg",
        "speech.m4a",
    ] {
        let b = read(name);
        for frac in [0.05, 0.3, 0.77, 0.999] {
            let cut = ((b.len() as f64 * frac) as usize).max(1);
            match decode(&b[..cut], &opts()) {
                Err(
                    Error::Truncated { .. } | Error::Corrupt { .. } | Error::InvalidHeader { .. },
                ) => {}
                other => panic!("{name} cut to {cut} of {} bytes: {other:?}", b.len()),
            }
        }
    }
    // An odd byte count cannot be 16-bit PCM.
    let odd = DecodeOptions {
        hint: Some(Format::Pcm16),
        ..opts()
    };
    assert!(matches!(
        decode(&[0, 0, 0], &odd),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn truncated_and_corrupted_files_never_panic() {
    let names = [
        "speech_22k.wav",
        "wav_ext_6ch.wav",
        "wav_streamed.wav",
        "speech.mp3",
        "speech_id3.mp3",
        "speech.flac",
        "speech_ogg.oga",
        "speech.opus",
        "speech_stereo.opus",
        "speech.webm",
        "speech_piped.webm",
        "speech_vorbis.ogg",
        "speech.aac",
        "speech.m4a",
    ];
    let mut state = 7u64;
    for name in names {
        let b = read(name);
        let full = decode(&b, &opts()).unwrap().samples.len();
        for i in 0..40 {
            let mut m = b.clone();
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let at = (state >> 33) as usize % m.len();
            match i % 4 {
                0 => m.truncate(at),
                1 => m[at..].iter_mut().take(64).for_each(|x| *x ^= 0xA5),
                2 => m[at] = m[at].wrapping_add((state >> 13) as u8 | 1),
                _ => m
                    .splice(at..at, std::iter::repeat_n(0xFF, 40))
                    .for_each(drop),
            }
            if let Ok(d) = decode(&m, &opts()) {
                // Whatever decodes is bounded by the limits, never by a claim.
                assert!(
                    d.samples.len() <= 16_000 * 600,
                    "{name}: {} samples",
                    d.samples.len()
                );
                assert!(
                    d.samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0),
                    "{name}"
                );
                let _ = full;
            }
        }
    }
}

#[test]
fn random_bytes_and_magic_prefixes_are_errors() {
    let mut state = 99u64;
    let mut noise = vec![0u8; 4096];
    for x in noise.iter_mut() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        *x = (state >> 56) as u8;
    }
    assert!(matches!(
        decode(&noise, &opts()),
        Err(Error::UnknownFormat { hint: None })
    ));
    for magic in [
        &b"RIFF\0\0\0\0WAVE"[..],
        b"fLaC",
        b"OggS",
        b"\x1aE\xdf\xa3",
        b"ID3\x04\0\0\0\0\0\x10",
        b"\0\0\0\x20ftypM4A ",
    ] {
        let b = [magic, &noise[..]].concat();
        let r = decode(&b, &opts());
        assert!(r.is_err(), "{:?}: {r:?}", String::from_utf8_lossy(magic));
    }
    // Every format's reader, forced onto noise.
    for f in Format::ALL {
        let r = decode_as(&noise, f, &opts());
        if !f.is_headerless() {
            assert!(r.is_err(), "{f}: {r:?}");
        }
    }
}

#[test]
fn the_bytes_decide_not_the_label() {
    let wav = read("speech_22k.wav");
    for hint in [Format::Mp3, Format::Pcm16, Format::Opus] {
        let d = decode(
            &wav,
            &DecodeOptions {
                hint: Some(hint),
                ..opts()
            },
        )
        .unwrap();
        assert_eq!(d.source_format, Format::Wav, "hint {hint}");
    }
    // Headerless bytes need their label...
    assert!(matches!(
        decode(&read("speech_8k.ulaw"), &opts()),
        Err(Error::UnknownFormat { hint: None })
    ));
    // ... and a container label on bytes that are not that container is named.
    match decode(
        &read("speech_8k.ulaw"),
        &DecodeOptions {
            hint: Some(Format::Flac),
            ..opts()
        },
    ) {
        Err(Error::UnknownFormat {
            hint: Some(Format::Flac),
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsupported_codecs_are_named() {
    // AC-3 in Matroska and IMA ADPCM in WAV, made by ffmpeg.
    let src = data("speech_22k.wav");
    let src = src.to_str().unwrap();
    let ac3 = ffmpeg(&["-i", src, "-c:a", "ac3", "-f", "matroska", "-"], &[]);
    match decode(&ac3, &opts()) {
        Err(Error::Unsupported {
            format: Format::WebM,
            what,
        }) => assert!(what.contains("AC-3"), "{what}"),
        other => panic!("AC-3: {other:?}"),
    }
    let adpcm = ffmpeg(&["-i", src, "-c:a", "adpcm_ima_wav", "-f", "wav", "-"], &[]);
    match decode(&adpcm, &opts()) {
        Err(Error::Unsupported {
            format: Format::Wav,
            what,
        }) => assert!(what.contains("0x0011"), "{what}"),
        other => panic!("ADPCM: {other:?}"),
    }
    // Speex in Ogg: the first packet names the codec.
    let mut page = b"OggS\0\x02".to_vec();
    page.extend_from_slice(&[0; 8]); // granule
    page.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // serial, sequence, crc
    page.push(1);
    page.push(80);
    page.extend_from_slice(b"Speex   ");
    page.extend_from_slice(&[0; 72]);
    assert!(matches!(
        decode(&page, &opts()),
        Err(Error::Unsupported {
            format: Format::Opus,
            ..
        }) | Err(Error::Corrupt { .. })
    ));
}

#[test]
fn absurd_opus_and_flac_headers() {
    // OpusHead with 0 channels, and with 8 channels in 5 streams.
    let opus = read("speech.opus");
    let head_at = opus.windows(8).position(|w| w == b"OpusHead").unwrap();
    let mut zero = opus.clone();
    zero[head_at + 9] = 0;
    let r = decode_as(&zero, Format::Opus, &opts());
    assert!(
        matches!(
            r,
            Err(Error::InvalidHeader { .. }) | Err(Error::Corrupt { .. })
        ),
        "{r:?}"
    );
    // FLAC STREAMINFO claiming 0 Hz.
    let mut flac = read("speech.flac");
    flac[18] = 0;
    flac[19] = 0;
    flac[20] &= 0x0F;
    let r = decode(&flac, &opts());
    assert!(r.is_err(), "0 Hz FLAC: {r:?}");
}

#[test]
fn non_finite_and_huge_float_samples_are_tamed() {
    // Fuzzing found this: float WAV samples of 1e38, infinity or NaN made
    // rubato's FFT panic while resampling. They are now clamped on the way in.
    let mut body = Vec::new();
    for i in 0..4410 {
        let v = match i % 5 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => 1e38,
            3 => -3.0e38,
            _ => 0.25,
        };
        body.extend_from_slice(&v.to_le_bytes());
    }
    let d = decode(&wav(3, 1, 44_100, 32, body.len() as u32, &body), &opts()).unwrap();
    assert_eq!(d.samples.len(), 1600);
    assert!(d.samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    let out = omnivox_audio::resample(&[f32::NAN, f32::INFINITY, 1e38, -1e38, 0.5], 44_100, 16_000)
        .unwrap();
    assert!(out.iter().all(|x| x.is_finite()));
    let enc = omnivox_audio::encode(
        &[f32::NAN, 1e38, -1e38],
        44_100,
        Format::Opus,
        &Default::default(),
    );
    assert!(enc.is_ok());
}

#[test]
fn sample_rates_below_1000_hz_are_absurd_headers() {
    // Fuzzing showed a 1 Hz header asking for 16,000-fold upsampling.
    let pcm = vec![0u8; 64];
    for rate in [1u32, 999] {
        match decode(&wav(1, 1, rate, 16, 64, &pcm), &opts()) {
            Err(Error::InvalidSampleRate {
                rate: r, min: 1000, ..
            }) => assert_eq!(r, rate),
            other => panic!("{rate} Hz: {other:?}"),
        }
    }
    let raw = DecodeOptions {
        hint: Some(Format::Pcm16),
        raw_rate: Some(1),
        ..opts()
    };
    assert!(matches!(
        decode(&pcm, &raw),
        Err(Error::InvalidSampleRate { .. })
    ));
    assert!(decode(&wav(1, 1, 1000, 16, 64, &pcm), &opts()).is_ok());
}
