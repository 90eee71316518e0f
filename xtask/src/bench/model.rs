//! `cargo xtask bench model`: omnivox-model against transformers on the same
//! random Qwen3-0.6B-shaped weights, in one run on one machine.
//!
//! 1. `cargo bench -p omnivox-model --bench qwen3` with
//!    `OMNIVOX_BENCH_CHECKPOINT` set: the bench writes the random checkpoint
//!    (BF16, Hub layout) on first use, loads it, and measures a decode step
//!    at 128 tokens of context and prefill of 128 and 512 tokens on flex.
//! 2. `tools/reference/bench_qwen3.py` loads the same checkpoint in
//!    transformers (f32, CPU) and measures the same things.
//! 3. `load_peak_rss` loads a BF16 and an F32 copy in fresh processes and
//!    reports peak resident memory against the f32 weights' size.
//!
//! Prints a markdown table for docs/benchmarks.md. `--quick` skips the
//! peak-RSS part. `--threads=N` runs both sides on N threads
//! (`RAYON_NUM_THREADS` for flex, `torch.set_num_threads`; default: every
//! core).

use crate::fixtures::python;
use crate::{run_cmd, workspace_root};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

const GROUP: &str = "qwen3_0_6b_flex";
const CASES: &[(&str, &str, u64)] = &[
    ("decode_step", "128", 1),
    ("prefill", "128", 128),
    ("prefill", "512", 512),
];

pub fn run(args: &[String]) -> Result<()> {
    let threads = args
        .iter()
        .find_map(|a| a.strip_prefix("--threads="))
        .map(str::parse::<usize>)
        .transpose()
        .context("--threads=N takes a number")?;
    let root = workspace_root();
    let dir = root.join("target/omnivox-bench/qwen3-0.6b-random-bf16");
    std::fs::create_dir_all(&dir)?;
    run_cmd(
        Command::new(env!("CARGO"))
            .current_dir(&root)
            .args([
                "bench",
                "-p",
                "omnivox-model",
                "--bench",
                "qwen3",
                "--",
                GROUP,
            ])
            .env("OMNIVOX_BENCH_CHECKPOINT", &dir)
            .envs(threads.map(|n| ("RAYON_NUM_THREADS", n.to_string()))),
    )?;
    let py = python(&root)?;
    eprintln!(
        "$ {} tools/reference/bench_qwen3.py {}",
        py.display(),
        dir.display()
    );
    let out = Command::new(&py)
        .current_dir(&root)
        .arg("tools/reference/bench_qwen3.py")
        .arg(&dir)
        .args(threads.map(|n| format!("--threads={n}")))
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "bench_qwen3.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let torch: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("bench_qwen3.py printed no JSON")?;
    println!("{}", super::machine());
    println!(
        "| measurement | omnivox (flex, {} threads) | transformers (torch {}, {} threads) | transformers / omnivox |",
        threads.map_or_else(|| "all".to_string(), |n| n.to_string()),
        torch["versions"]["torch"].as_str().unwrap_or("?"),
        torch["threads"]
    );
    println!("|---|---|---|---|");
    for (case, n, tokens) in CASES {
        let ours = super::criterion_median_s(&root, &format!("{GROUP}/{case}/{n}"))?;
        let theirs = torch[case][n].as_f64().context("missing torch figure")?;
        let label = match *case {
            "decode_step" => format!("decode step, {n} tokens of context"),
            _ => format!("prefill, {n} tokens"),
        };
        let fmt = |s: f64| {
            if *case == "decode_step" {
                format!("{:.1} ms ({:.1} tok/s)", s * 1e3, 1.0 / s)
            } else {
                format!("{:.0} ms ({:.0} tok/s)", s * 1e3, *tokens as f64 / s)
            }
        };
        println!(
            "| {label} | {} | {} | {:.2}× |",
            fmt(ours),
            fmt(theirs),
            theirs / ours
        );
    }
    if !args.iter().any(|a| a == "--quick") {
        peak_rss(&root)?;
    }
    Ok(())
}

fn peak_rss(root: &Path) -> Result<()> {
    run_cmd(Command::new(env!("CARGO")).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "omnivox-model",
        "--example",
        "load_peak_rss",
    ]))?;
    let exe = root.join("target/release/examples/load_peak_rss");
    println!();
    println!("| checkpoint | file | f32 weights | peak RSS while loading | peak / weights |");
    println!("|---|---|---|---|---|");
    for dtype in ["bf16", "f32"] {
        let dir: PathBuf = root.join(format!("target/omnivox-bench/rss-{dtype}"));
        if !dir.join("model.safetensors").exists() {
            run_cmd(Command::new(&exe).arg("write").arg(&dir).arg(dtype))?;
        }
        let out = Command::new(&exe).arg("load").arg(&dir).output()?;
        anyhow::ensure!(
            out.status.success(),
            "load_peak_rss failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stderr);
        let v: serde_json::Value =
            serde_json::from_str(line.trim()).context("load_peak_rss output")?;
        let gb = |b: f64| format!("{:.2} GB", b / 1e9);
        let weights = v["f32_weight_bytes"].as_f64().unwrap_or(0.0);
        let peak = v["peak_rss_kib"].as_f64().unwrap_or(0.0) * 1024.0;
        let file = v["file_bytes"].as_f64().unwrap_or(0.0);
        println!(
            "| Qwen3-0.6B shape, {dtype} | {} | {} | {} | {:.3} |",
            gb(file),
            gb(weights),
            gb(peak),
            peak / weights
        );
    }
    Ok(())
}
