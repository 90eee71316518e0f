//! `cargo xtask bench runtime`: the engine under concurrent load.
//!
//! Runs `cargo bench -p omnivox-runtime --bench concurrency` (the load
//! generator, `crates/runtime/benches/concurrency.rs`: the demo checkpoint
//! on burn-flex; at concurrency 1, 4, 16 and 64 a mix of text-only chats
//! and spoken replies submitted at once), which writes
//! `target/bench/runtime.json`, then prints that as the markdown table of
//! docs/benchmarks.md. Options are passed through to the bench:
//! `--levels=1,4,16,64 --max-tokens=32 --audio-frames=48 --min-requests=128
//! --mix=mixed|text|speech`.
//! There is no reference implementation to run beside it: transformers has
//! no batching server.

use crate::{run_cmd, workspace_root};
use anyhow::{Context, Result};
use serde_json::Value;
use std::process::Command;

const PASSED: [&str; 5] = [
    "--levels=",
    "--mix=",
    "--max-tokens=",
    "--audio-frames=",
    "--min-requests=",
];

pub fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    // The default mix goes where docs/benchmarks.md says; others beside it.
    let out = match args.iter().find_map(|a| a.strip_prefix("--mix=")) {
        Some(mix) if mix != "mixed" => root.join(format!("target/bench/runtime-{mix}.json")),
        _ => root.join("target/bench/runtime.json"),
    };
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(&root).args([
        "bench",
        "-p",
        "omnivox-runtime",
        "--bench",
        "concurrency",
        "--",
    ]);
    cmd.arg(format!("--out={}", out.display()));
    cmd.args(
        args.iter()
            .filter(|a| PASSED.iter().any(|p| a.starts_with(p))),
    );
    run_cmd(&mut cmd)?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let report: Value = serde_json::from_str(&text)?;
    print!("{}", table(&report)?);
    Ok(())
}

/// The markdown for docs/benchmarks.md: what ran, then one row per level
/// (all requests), then latencies by kind of request.
fn table(r: &Value) -> Result<String> {
    let levels = r["levels"].as_array().context("no levels in the report")?;
    let mut s = header(r);
    s += "| concurrency | requests (spoken) | wall | text tok/s | audio s/s | mean batch | admission p50 / p99 | TTFT p50 / p90 / p99 | first audio p50 / p90 / p99 | inter-token p50 / p90 / p99 |\n";
    s += "|---:|---:|---:|---:|---:|---:|---|---|---|---|\n";
    for l in levels {
        let all = &l["all"];
        s += &format!(
            "| {} | {} ({}) | {:.2} s | {:.0} | {:.1} | {:.1} | {} | {} | {} | {} |\n",
            l["concurrency"],
            l["requests"],
            l["spoken_requests"],
            num(&l["wall_s"]),
            num(&l["text_tokens_per_s"]),
            num(&l["audio_s_per_s"]),
            num(&l["engine"]["mean_batch"]),
            pct(&all["admission_ms"], &["p50", "p99"]),
            pct(&all["ttft_ms"], &["p50", "p90", "p99"]),
            pct(&all["ttfa_ms"], &["p50", "p90", "p99"]),
            pct(&all["itl_ms"], &["p50", "p90", "p99"]),
        );
    }
    let differ: Vec<String> = levels
        .iter()
        .map(|l| l["replies_differing_from_first_level"].to_string())
        .collect();
    s += &format!(
        "\nGreedy replies differing from the first level's (same request, other batch): {}\n",
        differ.join(", ")
    );
    s += &by_kind(levels);
    Ok(s)
}

/// Machine, load, model and workload, one line each.
fn header(r: &Value) -> String {
    let m = &r["machine"];
    let model = &r["model"];
    let w = &r["workload"];
    let mut s = format!(
        "machine: {}, {} cores; load average before {}, after {}; {:.0} s in all\n",
        str_of(&m["cpu"]),
        m["cores"],
        str_of(&m["loadavg_before"]),
        str_of(&m["loadavg_after"]),
        r["total_s"].as_f64().unwrap_or(0.0)
    );
    s += &format!(
        "model: {} v{} ({} parameters: {}), {}; requests: {}; max_completion_tokens {}, at most {} audio frames per reply, greedy\n\n",
        str_of(&model["name"]),
        model["version"],
        model["parameters"],
        parts(&model["parameters_by_part"]),
        str_of(&r["engine"]["backend"]),
        str_of(&w["mix"]),
        w["max_completion_tokens"],
        r["engine"]["max_output_audio_tokens"],
    );
    s
}

/// Text-only and spoken requests' latencies side by side.
fn by_kind(levels: &[Value]) -> String {
    let mut s = "\nBy kind of request:\n\n".to_owned();
    s += "| concurrency | text-only: TTFT p50 / p99 | inter-token p50 / p99 | whole reply p50 / p99 | spoken: TTFT p50 / p99 | inter-token p50 / p99 | whole reply p50 / p99 |\n";
    s += "|---:|---|---|---|---|---|---|\n";
    let two = ["p50", "p99"];
    for l in levels {
        let (t, a) = (&l["text_only"], &l["spoken"]);
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            l["concurrency"],
            pct(&t["ttft_ms"], &two),
            pct(&t["itl_ms"], &two),
            pct(&t["e2e_ms"], &two),
            pct(&a["ttft_ms"], &two),
            pct(&a["itl_ms"], &two),
            pct(&a["e2e_ms"], &two),
        );
    }
    s
}

/// `code2wav 12,345; talker 6,789`.
fn parts(v: &Value) -> String {
    let Some(map) = v.as_object() else {
        return "?".into();
    };
    map.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// `12 / 30 / 41 ms` from a percentile object, milliseconds.
fn pct(v: &Value, keys: &[&str]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| match v[*k].as_f64() {
            Some(x) if x >= 100.0 => format!("{x:.0}"),
            Some(x) => format!("{x:.1}"),
            None => "–".into(),
        })
        .collect();
    format!("{} ms", parts.join(" / "))
}
