//! `cargo xtask bench audio-encoder`: the Qwen3-Omni audio encoder against
//! transformers at the Hub checkpoint's shape (Qwen3-Omni-30B-A3B's
//! `audio_config`: 32 layers, d_model 1280, 20 heads, FFN 5120, 480 conv
//! channels, 128 mel bins), random weights, one run on one machine.
//!
//! 1. `cargo bench -p omnivox-model --bench qwen3_omni_audio_encoder` (flex):
//!    one call on one clip of 10 s and of 30 s.
//! 2. `tools/reference/bench_audio_encoder.py` builds
//!    `Qwen3OmniMoeAudioEncoder` from the same config (f32, CPU, default
//!    SDPA attention) and times the same calls.
//!
//! Prints a markdown table (seconds of audio per second) for
//! docs/benchmarks.md. `--quick` runs the 10 s clip only.

use crate::fixtures::python;
use crate::{run_cmd, workspace_root};
use anyhow::{Context, Result};
use std::process::Command;

const GROUP: &str = "qwen3_omni_audio_encoder_flex";
const CONFIG: &str = "crates/model/tests/data/qwen3-omni-30b-a3b-instruct.config.json";

pub fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let seconds = if args.iter().any(|a| a == "--quick") {
        "10"
    } else {
        "10,30"
    };
    run_cmd(
        Command::new(env!("CARGO"))
            .current_dir(&root)
            .args([
                "bench",
                "-p",
                "omnivox-model",
                "--bench",
                "qwen3_omni_audio_encoder",
                "--",
                GROUP,
            ])
            .env("OMNIVOX_BENCH_SECONDS", seconds),
    )?;
    let py = python(&root)?;
    eprintln!(
        "$ {} tools/reference/bench_audio_encoder.py {CONFIG} --seconds {seconds}",
        py.display()
    );
    let out = Command::new(&py)
        .current_dir(&root)
        .args([
            "tools/reference/bench_audio_encoder.py",
            CONFIG,
            "--seconds",
            seconds,
        ])
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "bench_audio_encoder.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let torch: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("bench_audio_encoder.py printed no JSON")?;
    println!("{}", super::machine());
    println!(
        "| clip | omnivox (flex) | transformers (torch {}, {}, {} threads) | omnivox / transformers |",
        torch["versions"]["torch"].as_str().unwrap_or("?"),
        torch["attn_implementation"].as_str().unwrap_or("?"),
        torch["threads"]
    );
    println!("|---|---|---|---|");
    for s in seconds.split(',') {
        let audio: f64 = s.parse()?;
        let ours = super::criterion_median_s(&root, &format!("{GROUP}/encode/{s}"))?;
        let theirs = torch["encode"][s]
            .as_f64()
            .context("missing torch figure")?;
        let fmt = |t: f64| format!("{:.2} s ({:.2} s of audio/s)", t, audio / t);
        println!(
            "| {s} s | {} | {} | {:.2}× |",
            fmt(ours),
            fmt(theirs),
            theirs / ours
        );
    }
    Ok(())
}
