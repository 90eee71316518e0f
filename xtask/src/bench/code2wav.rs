//! `cargo xtask bench code2wav`: omnivox-codec's Code2Wav against
//! transformers on the same random weights at the released
//! Qwen3-Omni-30B-A3B shape, in one run on one machine.
//!
//! 1. `cargo bench -p omnivox-codec --bench code2wav` with
//!    `OMNIVOX_BENCH_CHECKPOINT` set: the bench writes the random checkpoint
//!    (BF16, standalone Code2Wav layout) on first use, loads it, and times a
//!    whole-utterance decode and streamed decodes (pushes of 1 and 5
//!    frames) on flex.
//! 2. `tools/reference/bench_code2wav.py` loads the same checkpoint in
//!    transformers (f32, CPU) and times `forward` and `chunked_decode` on
//!    the same codes.
//!
//! Prints a markdown table of real-time factors (seconds of audio per wall
//! second) for docs/benchmarks.md. `--frames N` sets the utterance length
//! (default 50 frames = 4 s of audio); write it `--frames=N`.

use crate::fixtures::python;
use crate::{run_cmd, workspace_root};
use anyhow::{Context, Result};
use std::process::Command;

const GROUP: &str = "code2wav_flex";
/// The released model's output rate and its loss per decode: `forward` on
/// `n` frames returns `1920 n - 555` samples.
const SAMPLE_RATE: f64 = 24_000.0;

pub fn run(args: &[String]) -> Result<()> {
    let frames = args
        .iter()
        .find_map(|a| a.strip_prefix("--frames="))
        .map(str::parse::<usize>)
        .transpose()
        .context("--frames=N takes a number")?
        .unwrap_or(50);
    let root = workspace_root();
    let dir = root.join("target/omnivox-bench/code2wav-random-bf16");
    std::fs::create_dir_all(&dir)?;
    run_cmd(
        Command::new(env!("CARGO"))
            .current_dir(&root)
            .args([
                "bench",
                "-p",
                "omnivox-codec",
                "--bench",
                "code2wav",
                "--",
                GROUP,
            ])
            .env("OMNIVOX_BENCH_CHECKPOINT", &dir)
            .env("OMNIVOX_BENCH_FRAMES", frames.to_string()),
    )?;
    let py = python(&root)?;
    eprintln!(
        "$ {} tools/reference/bench_code2wav.py {} --frames {frames}",
        py.display(),
        dir.display()
    );
    let out = Command::new(&py)
        .current_dir(&root)
        .arg("tools/reference/bench_code2wav.py")
        .arg(&dir)
        .args(["--frames", &frames.to_string()])
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "bench_code2wav.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let torch: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("bench_code2wav.py printed no JSON")?;
    let samples = torch["samples"].as_f64().context("no sample count")?;
    let audio_s = samples / SAMPLE_RATE;
    let theirs = torch["forward"].as_f64().context("missing torch figure")?;
    let theirs_chunked = torch["chunked_decode"]
        .as_f64()
        .context("missing torch figure")?;
    println!("{}", super::machine());
    println!(
        "utterance: {frames} frames = {samples} samples = {audio_s:.2} s of audio; RTF = seconds of audio per wall second"
    );
    println!(
        "| case | omnivox (flex) | transformers (torch {}, {} threads) | omnivox / transformers |",
        torch["versions"]["torch"].as_str().unwrap_or("?"),
        torch["threads"]
    );
    println!("|---|---|---|---|");
    let cases = [
        ("whole utterance (`forward`)", "whole", theirs),
        ("streamed, 1 frame per push", "stream_push1", theirs),
        ("streamed, 5 frames per push", "stream_push5", theirs),
    ];
    for (label, case, reference) in cases {
        let ours = super::criterion_median_s(&root, &format!("{GROUP}/{case}/{frames}"))?;
        println!(
            "| {label} | RTF {:.2} ({:.2} s) | RTF {:.2} ({:.2} s) | {:.2}× |",
            audio_s / ours,
            ours,
            audio_s / reference,
            reference,
            reference / ours
        );
    }
    println!(
        "transformers `chunked_decode` (300/25): RTF {:.2} ({theirs_chunked:.2} s)",
        audio_s / theirs_chunked
    );
    Ok(())
}
