//! `cargo xtask bench talker`: omnivox-model's Qwen3-Omni talker + code
//! predictor against transformers on the same random weights at the
//! released Qwen3-Omni-30B-A3B `talker_config` shape, in one run on one
//! machine.
//!
//! 1. `cargo bench -p omnivox-model --bench qwen3_omni_talker` with
//!    `OMNIVOX_BENCH_CHECKPOINT` set: the bench writes the random checkpoint
//!    (BF16, per-expert tensors) on first use, loads it, prefills a 64-row
//!    talker prompt and times frames (talker step + code 0 + 15 residual
//!    codes) on flex.
//! 2. `tools/reference/bench_talker.py` loads the same checkpoint into
//!    `Qwen3OmniMoeTalkerForConditionalGeneration` (f32, CPU) and times
//!    `talker.generate` per frame (the interval between two talker tokens),
//!    greedy, as the full `generate` runs it.
//!
//! Prints a markdown table of frames per second for docs/benchmarks.md.
//! `--layers=N` sets the talker's layers (default 4 of 20, a quick look;
//! `--layers=20` is the released talker: about 13 GB of f32 weights in each
//! process, one process at a time). `--frames=N` and `--reps=N` are passed
//! to `bench_talker.py` (defaults 16 and 5; fewer keep a 20-layer run of
//! transformers within minutes). `--threads=N` runs both sides on N threads
//! (`RAYON_NUM_THREADS` for flex, `torch.set_num_threads`; default: every
//! core) — one thread each is the steadier comparison on a shared machine.

use crate::fixtures::python;
use crate::{run_cmd, workspace_root};
use anyhow::{Context, Result};
use std::process::Command;

const GROUP: &str = "talker_flex";
/// A codec frame is 80 ms of audio (12.5 frames per second).
const FRAMES_PER_AUDIO_SECOND: f64 = 12.5;

/// The number given as `--{flag}=N`, if any.
fn flag(args: &[String], flag: &str) -> Result<Option<usize>> {
    let prefix = format!("--{flag}=");
    args.iter()
        .find_map(|a| a.strip_prefix(prefix.as_str()))
        .map(str::parse::<usize>)
        .transpose()
        .with_context(|| format!("--{flag}=N takes a number"))
}

pub fn run(args: &[String]) -> Result<()> {
    let layers = flag(args, "layers")?.unwrap_or(4);
    let mut py_args = Vec::new();
    let threads = flag(args, "threads")?;
    for name in ["frames", "reps", "threads"] {
        if let Some(n) = flag(args, name)? {
            py_args.extend([format!("--{name}"), n.to_string()]);
        }
    }
    let root = workspace_root();
    let dir = root.join(format!(
        "target/omnivox-bench/talker-{layers}-layers-random-bf16"
    ));
    std::fs::create_dir_all(&dir)?;
    run_cmd(
        Command::new(env!("CARGO"))
            .current_dir(&root)
            .args([
                "bench",
                "-p",
                "omnivox-model",
                "--bench",
                "qwen3_omni_talker",
                "--",
                GROUP,
            ])
            .env("OMNIVOX_BENCH_CHECKPOINT", &dir)
            .env("OMNIVOX_BENCH_TALKER_LAYERS", layers.to_string())
            .envs(threads.map(|n| ("RAYON_NUM_THREADS", n.to_string()))),
    )?;
    let py = python(&root)?;
    eprintln!(
        "$ {} tools/reference/bench_talker.py {} {}",
        py.display(),
        dir.display(),
        py_args.join(" ")
    );
    let out = Command::new(&py)
        .current_dir(&root)
        .arg("tools/reference/bench_talker.py")
        .arg(&dir)
        .args(&py_args)
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "bench_talker.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let torch: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("bench_talker.py printed no JSON")?;
    println!("{}", super::machine());
    println!(
        "talker: Qwen3-Omni-30B-A3B talker_config with {layers} of 20 layers (all 128 experts, top-6, shared expert), \
         code predictor complete (5 layers, 15 residual groups); 64-row prompt prefilled; greedy; \
         transformers: {} frames after the prefill, median of {} runs, experts implementation {}",
        torch["frames"], torch["reps"], torch["experts_implementation"]
    );
    println!(
        "| measurement | omnivox (flex, {} threads) | transformers (torch {}, {} threads) | omnivox / transformers |",
        threads.map_or_else(|| "all".to_string(), |n| n.to_string()),
        torch["versions"]["torch"].as_str().unwrap_or("?"),
        torch["threads"]
    );
    println!("|---|---|---|---|");
    for batch in [1usize, 8] {
        let theirs = torch["frame_s"][batch.to_string()]
            .as_f64()
            .context("missing torch figure")?;
        let ours = super::criterion_median_s(
            &root,
            &format!("{GROUP}/frame/{layers}_layers_batch{batch}"),
        )?;
        let fmt = |s: f64| {
            let fps = batch as f64 / s;
            format!(
                "{fps:.1} frames/s ({:.0} ms/step, {:.2}× real time)",
                s * 1e3,
                fps / FRAMES_PER_AUDIO_SECOND
            )
        };
        println!(
            "| talker + code predictor, {batch} sequence(s) stepped together | {} | {} | {:.2}× |",
            fmt(ours),
            fmt(theirs),
            theirs / ours
        );
    }
    println!(
        "transformers per-step quartiles (s): {}; prefill of the prompt (s): {}",
        torch["frame_s_quartiles"], torch["prefill_s"]
    );
    Ok(())
}
