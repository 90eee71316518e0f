//! Shared test helpers: the committed peer-made files, ffmpeg as the
//! reference decoder, and signal measures. A test that needs ffmpeg fails
//! (it does not skip) when ffmpeg is missing: CI installs it.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// `crates/audio/tests/data/<name>`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap_or_else(|e| {
        panic!("reading tests/data/{name}: {e} (run `cargo xtask audio-files`)")
    })
}

fn tool(name: &str) -> Command {
    let probe = Command::new(name)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "`{name}` is required by this test and was not found on PATH: install ffmpeg (apt-get install ffmpeg)"
    );
    Command::new(name)
}

/// Runs ffmpeg with `args`, feeding `stdin`, returning stdout; panics with
/// ffmpeg's message when it fails.
pub fn ffmpeg(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = tool("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning ffmpeg");
    let mut input = child.stdin.take().expect("ffmpeg stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("running ffmpeg");
    let _ = writer.join();
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// ffmpeg's decoding of a file (or of `bytes` on stdin when `file` is "-"),
/// as interleaved f32 at the stream's own rate, with the channel count.
pub fn ffmpeg_decode(input_args: &[&str], file: &str, bytes: &[u8]) -> (Vec<f32>, usize) {
    let channels = if file == "-" {
        1
    } else {
        ffprobe_channels(file)
    };
    let mut args: Vec<&str> = input_args.to_vec();
    args.extend(["-i", file, "-f", "f32le", "-c:a", "pcm_f32le", "-"]);
    let raw = ffmpeg(&args, bytes);
    (f32le(&raw), channels)
}

/// A file in the temp dir holding `bytes`, removed on drop. ffmpeg reads
/// files, not a pipe, because some of its demuxers (MP3's end trimming)
/// only work on seekable input, as a browser's would.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(bytes: &[u8]) -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("omnivox-audio-test-{}-{n}", std::process::id()));
        std::fs::write(&path, bytes).expect("writing a temp file");
        TempFile(path)
    }
    pub fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// ffmpeg's decoding of `bytes` (as a file) to mono f32 (`out_args` may
/// add e.g. `-ar 24000`).
pub fn ffmpeg_decode_bytes(input_args: &[&str], bytes: &[u8], out_args: &[&str]) -> Vec<f32> {
    let file = TempFile::new(bytes);
    let mut args: Vec<&str> = input_args.to_vec();
    args.extend(["-i", file.path(), "-ac", "1"]);
    args.extend(out_args);
    args.extend(["-f", "f32le", "-c:a", "pcm_f32le", "-"]);
    f32le(&ffmpeg(&args, &[]))
}

pub fn ffprobe_channels(file: &str) -> usize {
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=channels",
            "-of",
            "csv=p=0",
            file,
        ])
        .output()
        .expect("running ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe gave no channel count for {file}"))
}

pub fn ffprobe_rate(file: &str) -> u32 {
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=sample_rate",
            "-of",
            "csv=p=0",
            file,
        ])
        .output()
        .expect("running ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe gave no rate for {file}"))
}

pub fn f32le(raw: &[u8]) -> Vec<f32> {
    raw.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub fn s16le(raw: &[u8]) -> Vec<i16> {
    raw.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// The mean of each interleaved frame (the mixdown we promise).
pub fn average(interleaved: &[f32], channels: usize) -> Vec<f32> {
    interleaved
        .chunks_exact(channels)
        .map(|f| f.iter().sum::<f32>() * (1.0 / channels as f32))
        .collect()
}

/// Signal-to-noise ratio of `test` against `reference` over their common length, in dB.
pub fn snr_db(reference: &[f32], test: &[f32]) -> f64 {
    let n = reference.len().min(test.len());
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for i in 0..n {
        let r = f64::from(reference[i]);
        sig += r * r;
        err += (r - f64::from(test[i])).powi(2);
    }
    10.0 * (sig / err.max(1e-20)).log10()
}

/// The shift of `test` against `reference` (within ±max_lag) that maximises
/// the SNR, and that SNR.
pub fn best_lag_snr(reference: &[f32], test: &[f32], max_lag: usize) -> (isize, f64) {
    let mut best = (0isize, f64::NEG_INFINITY);
    for lag in -(max_lag as isize)..=max_lag as isize {
        let (r, t) = if lag >= 0 {
            (reference, &test[(lag as usize).min(test.len())..])
        } else {
            (&reference[(-lag) as usize..], test)
        };
        let s = snr_db(r, t);
        if s > best.1 {
            best = (lag, s);
        }
    }
    best
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A speech-like test signal: the committed espeak-ng recording, decoded by
/// our WAV reader (16-bit PCM, checked bit-exact against ffmpeg elsewhere).
pub fn speech(rate: u32) -> Vec<f32> {
    let opts = omnivox_audio::DecodeOptions::with_rate(rate);
    omnivox_audio::decode(&read("speech_22k.wav"), &opts)
        .expect("decoding speech_22k.wav")
        .samples
}
