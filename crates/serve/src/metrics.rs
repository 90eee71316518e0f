//! `/metrics` in Prometheus' text format.
//!
//! Scheduler gauges come from the engine's snapshot and carry vLLM's names
//! and meaning, so Gateway-API inference routers (which scrape
//! `vllm:num_requests_waiting` and `vllm:kv_cache_usage_perc`) balance on
//! omnivox unchanged. Latencies and token counters are measured here, from
//! the event streams the handlers consume.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use omnivox_runtime::api::{EngineMetrics, Usage};

/// Bucket bounds (seconds) for time to first token / audio, as vLLM's.
const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0,
];
/// Bucket bounds (seconds) for inter-token latency, as vLLM's.
const ITL_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A fixed-bucket histogram updated without locks.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus `+Inf`; not cumulative.
    counts: Vec<AtomicU64>,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            d.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| format!("{b}"));
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// Counters and histograms kept by the server.
#[derive(Debug)]
pub struct ServerMetrics {
    pub ttft: Histogram,
    pub ttfa: Histogram,
    pub itl: Histogram,
    prompt_text: AtomicU64,
    prompt_audio: AtomicU64,
    completion_text: AtomicU64,
    completion_audio: AtomicU64,
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self {
            ttft: Histogram::new(TTFT_BUCKETS),
            ttfa: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(ITL_BUCKETS),
            prompt_text: AtomicU64::new(0),
            prompt_audio: AtomicU64::new(0),
            completion_text: AtomicU64::new(0),
            completion_audio: AtomicU64::new(0),
            requests_ok: AtomicU64::new(0),
            requests_failed: AtomicU64::new(0),
        }
    }
}

impl ServerMetrics {
    /// Adds a finished request's token counts.
    pub fn add_usage(&self, u: &Usage) {
        let add = |c: &AtomicU64, n: u32| c.fetch_add(u64::from(n), Ordering::Relaxed);
        add(&self.prompt_text, u.prompt.text);
        add(&self.prompt_audio, u.prompt.audio);
        add(&self.completion_text, u.completion.text);
        add(&self.completion_audio, u.completion.audio);
    }

    /// Counts a request that reached the engine, by outcome.
    pub fn count_request(&self, ok: bool) {
        let c = if ok {
            &self.requests_ok
        } else {
            &self.requests_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The whole exposition.
    pub fn render(&self, engine: &EngineMetrics, model: &str, draining: bool) -> String {
        let labels = format!("model_name=\"{}\"", escape_label(model));
        let mut out = String::with_capacity(8 * 1024);
        render_gauges(&mut out, &labels, engine, draining);
        self.render_counters(&mut out, &labels);
        self.ttft.render(
            &mut out,
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            &labels,
        );
        self.itl.render(
            &mut out,
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            &labels,
        );
        self.ttfa.render(
            &mut out,
            "omnivox_time_to_first_audio_seconds",
            "Histogram of time from request to the first audio chunk in seconds.",
            &labels,
        );
        out
    }

    fn render_counters(&self, out: &mut String, labels: &str) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, series: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (extra, value) in series {
                let sep = if extra.is_empty() { "" } else { "," };
                let _ = writeln!(out, "{name}{{{labels}{sep}{extra}}} {value}");
            }
        };
        let (pt, pa) = (load(&self.prompt_text), load(&self.prompt_audio));
        let (ct, ca) = (load(&self.completion_text), load(&self.completion_audio));
        counter(
            "vllm:prompt_tokens_total",
            "Number of prefill tokens processed.",
            &[("", pt + pa)],
        );
        counter(
            "vllm:generation_tokens_total",
            "Number of generation tokens processed.",
            &[("", ct + ca)],
        );
        counter(
            "omnivox_prompt_tokens_total",
            "Prompt tokens by modality.",
            &[("modality=\"text\"", pt), ("modality=\"audio\"", pa)],
        );
        counter(
            "omnivox_generation_tokens_total",
            "Generated tokens by modality.",
            &[("modality=\"text\"", ct), ("modality=\"audio\"", ca)],
        );
        counter(
            "omnivox_requests_total",
            "Requests that reached the engine, by outcome.",
            &[
                ("outcome=\"ok\"", load(&self.requests_ok)),
                ("outcome=\"error\"", load(&self.requests_failed)),
            ],
        );
    }
}

/// The scheduler gauges, with vLLM's names.
fn render_gauges(out: &mut String, labels: &str, engine: &EngineMetrics, draining: bool) {
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{{labels}}} {value}"
        );
    };
    gauge(
        "vllm:num_requests_waiting",
        "Number of requests waiting to be processed.",
        engine.waiting as f64,
    );
    gauge(
        "vllm:num_requests_running",
        "Number of requests in model execution batches.",
        engine.running as f64,
    );
    gauge(
        "vllm:kv_cache_usage_perc",
        "KV-cache usage. 1 means 100 percent usage.",
        engine.kv_usage(),
    );
    gauge(
        "vllm:gpu_cache_usage_perc",
        "Legacy name of vllm:kv_cache_usage_perc, for older routers.",
        engine.kv_usage(),
    );
    gauge(
        "omnivox_draining",
        "1 while the server refuses new work after SIGTERM.",
        if draining { 1.0 } else { 0.0 },
    );
}

/// Escapes a Prometheus label value.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(5));
        let mut out = String::new();
        h.render(&mut out, "x", "help", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{a=\"b\"} 5.55\n"), "{out}");
    }
}
