//! The engine under concurrent load: `cargo xtask bench runtime` runs this
//! (`cargo bench -p omnivox-runtime --bench concurrency`) and turns its JSON
//! into the table of docs/benchmarks.md.
//!
//! The model is the demo checkpoint ([`omnivox_runtime::demo`]: a tiny
//! random Qwen3-Omni-shaped thinker, talker and Code2Wav at 1920 samples per
//! frame) on burn-flex. At each concurrency level `C`, `C` chat requests are
//! submitted at once — half text-only, half spoken (`ethan`, speed 1),
//! prompts of four lengths, greedy, a fixed `max_completion_tokens` — in as
//! many waves as it takes to make at least `--min-requests` of them. Per
//! request it records, from the event stream: admission (submit → the
//! stream), time to first token (submit → first `TextDelta`), time to first
//! audio (submit → first `AudioChunk`), the gaps between `TextDelta`s and
//! the end. Per level: wall time, text tokens and seconds of audio per wall
//! second, and the engine's own counters (`OmniEngine::stats`).
//!
//! Options (after `--`): `--levels=1,4,16,64`, `--max-tokens=32`,
//! `--audio-frames=48` (`EngineConfig::max_output_audio_tokens`: the audio
//! of one reply), `--min-requests=128`, `--mix=mixed|text|speech` (which
//! requests speak; `mixed`: every other one), `--out=PATH` (default
//! `target/bench/runtime.json`), `--demo-root=DIR` (where the demo
//! checkpoint is made, default `target/omnivox-bench`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use omnivox_runtime::api::{
    ChatTask, Engine, Event, GenerateRequest, Message, OUTPUT_SAMPLE_RATE, OutputMode, Readiness,
    Role, SamplingParams, SpeechOutput, Task, ToolChoice,
};
use omnivox_runtime::audio_store::MemoryAudioStore;
use omnivox_runtime::demo;
use omnivox_runtime::engine::{EngineConfig, EngineStats, OmniEngine, start_on};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

type B = burn_flex::Flex;
type Error = Box<dyn std::error::Error>;

/// Prompt lengths in words, cycled over the requests of a wave.
const PROMPT_WORDS: [usize; 4] = [6, 24, 80, 240];
/// Words the prompts are made of (varied per request, so no two agree).
const WORDS: &str = "the quick brown fox jumps over a lazy dog while seven bright \
    violins hum softly beneath old oak trees near the quiet river bank and \
    distant bells ring across green hills at dawn";

struct Options {
    levels: Vec<usize>,
    max_tokens: u32,
    audio_frames: u32,
    min_requests: usize,
    mix: Mix,
    out: PathBuf,
    demo_root: PathBuf,
}

fn options() -> Result<Options, Error> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut o = Options {
        levels: vec![1, 4, 16, 64],
        max_tokens: 32,
        audio_frames: 48,
        min_requests: 128,
        mix: Mix::Mixed,
        out: root.join("target/bench/runtime.json"),
        demo_root: root.join("target/omnivox-bench"),
    };
    for arg in std::env::args().skip(1) {
        let (key, value) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
        match key {
            // cargo bench passes `--bench` to every harness-less bench.
            "--bench" => {}
            "--levels" => o.levels = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--max-tokens" => o.max_tokens = value.parse()?,
            "--audio-frames" => o.audio_frames = value.parse()?,
            "--min-requests" => o.min_requests = value.parse()?,
            "--mix" => {
                o.mix = match value {
                    "mixed" => Mix::Mixed,
                    "text" => Mix::Text,
                    "speech" => Mix::Speech,
                    other => return Err(format!("--mix={other}: mixed, text or speech").into()),
                }
            }
            "--out" => o.out = PathBuf::from(value),
            "--demo-root" => o.demo_root = PathBuf::from(value),
            other => return Err(format!("unknown option `{other}`").into()),
        }
    }
    Ok(o)
}

fn main() -> Result<(), Error> {
    let o = options()?;
    let dir = demo::ensure(&o.demo_root)?;
    let config = EngineConfig {
        max_output_audio_tokens: o.audio_frames,
        ..demo::engine_config()
    };
    let engine = start_on::<B>(
        &dir,
        Default::default(),
        config.clone(),
        Arc::new(MemoryAudioStore::default()),
    )?;
    wait_ready(&engine)?;
    let voice = engine
        .info()
        .voices
        .iter()
        .map(|v| v.name.clone())
        .find(|n| n.eq_ignore_ascii_case("ethan"))
        .ok_or("the demo has no voice `ethan`")?;
    let kinds = Kinds {
        voice,
        max_tokens: o.max_tokens,
        mix: o.mix,
    };
    let load_before = loadavg();
    let started = Instant::now();
    let levels = run_levels(&engine, &kinds, &o)?;
    let report = json!({
        "model": model_facts(&dir)?,
        "engine": {
            "backend": "burn-flex (CPU)",
            "max_running": config.max_running,
            "step_tokens": config.step_tokens,
            "kv_block_size": config.kv_block_size,
            "kv_cache_bytes": config.kv_cache_bytes,
            "max_output_audio_tokens": config.max_output_audio_tokens,
        },
        "workload": workload(&o),
        "machine": machine(load_before),
        "total_s": started.elapsed().as_secs_f64(),
        "levels": levels,
    });
    if let Some(parent) = o.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&o.out, serde_json::to_string_pretty(&report)?)?;
    eprintln!("wrote {}", o.out.display());
    Ok(())
}

/// A warm-up wave (one reply of each kind, not recorded), then every level.
fn run_levels(engine: &Arc<OmniEngine>, kinds: &Kinds, o: &Options) -> Result<Vec<Value>, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    run_wave(&rt, engine, kinds, 0, 2)?;
    let mut levels = Vec::new();
    // Request `i` is the same request at every level: greedy, its reply
    // must not depend on what it was batched with.
    let mut first: Option<Vec<String>> = None;
    for &c in &o.levels {
        let waves = o.min_requests.div_ceil(c).max(1);
        eprintln!("concurrency {c}: {waves} wave(s) of {c}");
        let (mut level, texts) = run_level(&rt, engine, kinds, c, waves)?;
        let base = first.get_or_insert_with(|| texts.clone());
        let differ = base.iter().zip(&texts).filter(|(a, b)| a != b).count();
        level["replies_differing_from_first_level"] = json!(differ);
        if differ > 0 {
            eprintln!("warning: {differ} greedy replies differ from the first level's");
        }
        eprintln!("{}", serde_json::to_string(&level)?);
        levels.push(level);
    }
    Ok(levels)
}

fn workload(o: &Options) -> Value {
    json!({
        "max_completion_tokens": o.max_tokens,
        "temperature": 0.0,
        "mix": match o.mix {
            Mix::Mixed => "even requests text-only chats, odd ones spoken replies (voice ethan, speed 1)",
            Mix::Text => "text-only chats",
            Mix::Speech => "spoken replies (voice ethan, speed 1)",
        },
        "prompt_words": PROMPT_WORDS,
        "min_requests": o.min_requests,
    })
}

fn wait_ready(engine: &OmniEngine) -> Result<(), Error> {
    let t = Instant::now();
    loop {
        match engine.readiness() {
            Readiness::Ready => return Ok(()),
            Readiness::Failed { reason } => return Err(reason.into()),
            Readiness::Loading { .. } if t.elapsed() > Duration::from_secs(120) => {
                return Err("the demo did not load in 120 s".into());
            }
            Readiness::Loading { .. } => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Which requests speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// Odd-numbered ones.
    Mixed,
    /// None.
    Text,
    /// All.
    Speech,
}

/// What the requests of a run have in common.
struct Kinds {
    voice: String,
    max_tokens: u32,
    mix: Mix,
}

impl Kinds {
    /// Request `i`: with [`Mix::Mixed`] even ones text-only, odd ones
    /// spoken; the prompt length cycles through [`PROMPT_WORDS`] within each
    /// kind.
    fn request(&self, i: usize) -> GenerateRequest {
        let words = PROMPT_WORDS[(i / 2) % PROMPT_WORDS.len()];
        let vocab: Vec<&str> = WORDS.split_whitespace().collect();
        let text: Vec<&str> = (0..words)
            .map(|w| vocab[(w * 7 + i) % vocab.len()])
            .collect();
        let speaks = match self.mix {
            Mix::Mixed => i % 2 == 1,
            Mix::Text => false,
            Mix::Speech => true,
        };
        let output = if speaks {
            OutputMode::Speech(SpeechOutput {
                voice: self.voice.clone(),
                speed: 1.0,
            })
        } else {
            OutputMode::Text
        };
        GenerateRequest {
            request_id: format!("bench-{i}"),
            task: Task::Chat(ChatTask {
                messages: vec![Message::text(Role::User, text.join(" "))],
                tools: Vec::new(),
                tool_choice: ToolChoice::Auto,
                parallel_tool_calls: true,
            }),
            sampling: SamplingParams {
                temperature: 0.0,
                max_completion_tokens: Some(self.max_tokens),
                ..SamplingParams::default()
            },
            output,
        }
    }
}

/// One request, as its consumer saw it.
#[derive(Debug, Default)]
struct Trace {
    speech: bool,
    admitted: Duration,
    first_text: Option<Duration>,
    first_audio: Option<Duration>,
    text_gaps: Vec<Duration>,
    end: Duration,
    prompt_tokens: u32,
    text_tokens: u32,
    audio_frames: u32,
    audio_samples: usize,
    error: Option<String>,
    /// The reply's text, to compare across levels.
    text: String,
}

async fn drive(engine: Arc<OmniEngine>, req: GenerateRequest) -> Trace {
    let mut t = Trace {
        speech: matches!(req.output, OutputMode::Speech(_)),
        ..Trace::default()
    };
    let submitted = Instant::now();
    let mut events = match engine.submit(req).await {
        Ok(s) => s,
        Err(e) => {
            t.error = Some(e.to_string());
            t.end = submitted.elapsed();
            return t;
        }
    };
    t.admitted = submitted.elapsed();
    let mut last_text: Option<Duration> = None;
    while let Some(event) = events.next().await {
        let now = submitted.elapsed();
        match event {
            Event::TextDelta(delta) => {
                t.text.push_str(&delta);
                if let Some(prev) = last_text {
                    t.text_gaps.push(now - prev);
                }
                t.first_text.get_or_insert(now);
                last_text = Some(now);
            }
            Event::AudioChunk(c) => {
                t.first_audio.get_or_insert(now);
                t.audio_samples += c.samples.len();
            }
            Event::Usage(u) => {
                t.prompt_tokens = u.prompt.total();
                t.text_tokens = u.completion.text;
                t.audio_frames = u.completion.audio;
            }
            Event::Error(e) => t.error = Some(e.to_string()),
            _ => {}
        }
    }
    t.end = submitted.elapsed();
    t
}

/// Submits requests `first..first + n` at once and waits for all of them.
fn run_wave(
    rt: &tokio::runtime::Runtime,
    engine: &Arc<OmniEngine>,
    kinds: &Kinds,
    first: usize,
    n: usize,
) -> Result<(Vec<Trace>, Duration), Error> {
    let start = Instant::now();
    let tasks: Vec<_> = (first..first + n)
        .map(|i| rt.spawn(drive(Arc::clone(engine), kinds.request(i))))
        .collect();
    let traces = rt.block_on(futures::future::try_join_all(tasks))?;
    let wall = start.elapsed();
    if let Some(e) = traces.iter().find_map(|t| t.error.as_ref()) {
        return Err(format!("a request failed: {e}").into());
    }
    Ok((traces, wall))
}

fn run_level(
    rt: &tokio::runtime::Runtime,
    engine: &Arc<OmniEngine>,
    kinds: &Kinds,
    c: usize,
    waves: usize,
) -> Result<(Value, Vec<String>), Error> {
    let before = engine.stats();
    let mut traces = Vec::new();
    let mut wall = Duration::ZERO;
    for w in 0..waves {
        let (t, d) = run_wave(rt, engine, kinds, w * c, c)?;
        traces.extend(t);
        wall += d;
    }
    let after = engine.stats();
    let stats = stats_delta(&before, &after);
    let level = summarize(c, waves, wall, &traces, &stats);
    Ok((level, traces.into_iter().map(|t| t.text).collect()))
}

fn stats_delta(a: &EngineStats, b: &EngineStats) -> Value {
    let steps = b.steps - a.steps;
    let seq = b.sequence_steps - a.sequence_steps;
    json!({
        "steps": steps,
        "sequence_steps": seq,
        "mean_batch": if steps == 0 { 0.0 } else { seq as f64 / steps as f64 },
        "prefill_tokens": b.prefill_tokens - a.prefill_tokens,
        "decode_tokens": b.decode_tokens - a.decode_tokens,
        "preemptions": b.preemptions - a.preemptions,
    })
}

fn summarize(c: usize, waves: usize, wall: Duration, traces: &[Trace], stats: &Value) -> Value {
    let text_tokens: u64 = traces.iter().map(|t| u64::from(t.text_tokens)).sum();
    let audio_frames: u64 = traces.iter().map(|t| u64::from(t.audio_frames)).sum();
    let samples: usize = traces.iter().map(|t| t.audio_samples).sum();
    let audio_s = samples as f64 / f64::from(OUTPUT_SAMPLE_RATE);
    let wall_s = wall.as_secs_f64();
    let all: Vec<&Trace> = traces.iter().collect();
    let (spoken, text): (Vec<&Trace>, Vec<&Trace>) = traces.iter().partition(|t| t.speech);
    let prompt: u64 = traces.iter().map(|t| u64::from(t.prompt_tokens)).sum();
    json!({
        "concurrency": c,
        "waves": waves,
        "requests": traces.len(),
        "spoken_requests": spoken.len(),
        "wall_s": wall_s,
        "prompt_tokens_mean": prompt as f64 / traces.len().max(1) as f64,
        "text_tokens": text_tokens,
        "text_tokens_per_s": text_tokens as f64 / wall_s,
        "audio_frames": audio_frames,
        "audio_s": audio_s,
        "audio_s_per_s": audio_s / wall_s,
        "all": latencies(&all),
        "text_only": latencies(&text),
        "spoken": latencies(&spoken),
        "engine": stats,
    })
}

/// Latency percentiles of some requests, in milliseconds.
fn latencies(traces: &[&Trace]) -> Value {
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    json!({
        "admission_ms": percentiles(traces.iter().map(|t| ms(&t.admitted))),
        "ttft_ms": percentiles(traces.iter().filter_map(|t| t.first_text.as_ref().map(ms))),
        "ttfa_ms": percentiles(traces.iter().filter_map(|t| t.first_audio.as_ref().map(ms))),
        "itl_ms": percentiles(traces.iter().flat_map(|t| t.text_gaps.iter().map(ms))),
        "e2e_ms": percentiles(traces.iter().map(|t| ms(&t.end))),
    })
}

/// p50, p90, p99 (nearest rank), mean and count; `null`s when empty.
fn percentiles(values: impl Iterator<Item = f64>) -> Value {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return json!({"n": 0, "p50": null, "p90": null, "p99": null, "mean": null});
    }
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    json!({
        "n": v.len(),
        "p50": rank(0.50),
        "p90": rank(0.90),
        "p99": rank(0.99),
        "mean": v.iter().sum::<f64>() / v.len() as f64,
    })
}

/// Parameters per part of the checkpoint, from `model.safetensors`' header.
fn model_facts(dir: &Path) -> Result<Value, Error> {
    use std::io::Read;
    let path = dir.join("model.safetensors");
    let mut f = std::fs::File::open(&path)?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > 64 << 20 {
        return Err("implausible safetensors header".into());
    }
    let mut header = vec![0u8; len as usize];
    f.read_exact(&mut header)?;
    let header: BTreeMap<String, Value> = serde_json::from_slice(&header)?;
    let mut parts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (name, t) in &header {
        let Some(shape) = t.get("shape").and_then(Value::as_array) else {
            continue;
        };
        let n: u64 = shape.iter().filter_map(Value::as_u64).product();
        let part = if name.starts_with("thinker.audio_tower.") {
            "thinker.audio_tower"
        } else if name.starts_with("thinker.") {
            "thinker (text model)"
        } else if name.starts_with("talker.code_predictor.") {
            "talker.code_predictor"
        } else if name.starts_with("talker.") {
            "talker"
        } else if name.starts_with("code2wav.") {
            "code2wav"
        } else {
            "other"
        };
        *parts.entry(part).or_default() += n;
    }
    Ok(json!({
        "name": demo::SERVED_NAME,
        "version": demo::VERSION,
        "dir": dir.display().to_string(),
        "checkpoint_bytes": std::fs::metadata(&path)?.len(),
        "parameters": parts.values().sum::<u64>(),
        "parameters_by_part": parts,
    }))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn machine(load_before: String) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    })
}
