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
