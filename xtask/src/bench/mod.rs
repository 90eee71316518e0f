//! `cargo xtask bench [AREA…]`: run benchmarks and print the figures that go
//! into docs/benchmarks.md, each next to the reference measured in the same
//! run. One file per area; with no area named, all of them run.

use anyhow::{Result, bail};

mod audio_encoder;
mod code2wav;
mod model;
mod runtime;
mod talker;

/// `(name, what it measures, runner)`.
type Area = (&'static str, &'static str, fn(&[String]) -> Result<()>);

const AREAS: &[Area] = &[
    (
        "model",
        "Qwen3-0.6B-shaped decode step and prefill vs transformers; peak RSS while loading",
        model::run,
    ),
    (
        "code2wav",
        "Code2Wav real-time factor (released shape, whole and streamed) vs transformers",
        code2wav::run,
    ),
    (
        "audio-encoder",
        "Qwen3-Omni audio encoder throughput (30B-A3B shape, seconds of audio per second) vs transformers",
        audio_encoder::run,
    ),
    (
        "talker",
        "talker + code predictor frames per second (released talker_config, random weights) vs transformers",
        talker::run,
    ),
    (
        "runtime",
        "engine throughput and TTFT / first-audio / inter-token percentiles at concurrency 1, 4, 16, 64 (demo model, CPU)",
        runtime::run,
    ),
];

pub fn run(args: &[String]) -> Result<()> {
    let (names, rest): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| !a.starts_with('-'));
    let rest: Vec<String> = rest.into_iter().cloned().collect();
    let picked: Vec<&Area> = if names.is_empty() {
        AREAS.iter().collect()
    } else {
        let mut v = Vec::new();
        for n in names {
            match AREAS.iter().find(|a| a.0 == n.as_str()) {
                Some(a) => v.push(a),
                None => {
                    let known: Vec<String> = AREAS
                        .iter()
                        .map(|a| format!("  {}: {}", a.0, a.1))
                        .collect();
                    bail!("unknown bench area `{n}`; known:\n{}", known.join("\n"))
                }
            }
        }
        v
    };
    for (name, _, runner) in picked {
        eprintln!("== bench {name}");
        runner(&rest)?;
    }
    Ok(())
}

/// Criterion's median estimate of benchmark `id` (`group/function/param`),
/// in seconds.
pub(crate) fn criterion_median_s(root: &std::path::Path, id: &str) -> Result<f64> {
    use anyhow::Context;
    let path = root.join(format!("target/criterion/{id}/new/estimates.json"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let ns = v["median"]["point_estimate"]
        .as_f64()
        .context("no median in estimates.json")?;
    Ok(ns * 1e-9)
}

/// The machine a figure was measured on: CPU model, cores, load average.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "machine: {cpu}, {cores} cores; load average at the end: {}",
        load.trim()
    )
}
