//! The logits processors against transformers' own processor list
//! (`tools/reference/qwen3_omni_logits_processors.py`): repetition penalty
//! over a token history, suppressed ids, temperature, top-k, top-p, min-p,
//! alone and combined, in `generate`'s order.

#![allow(clippy::unwrap_used)]

use omnivox_model::testing::fixture_dir;
use omnivox_runtime::sampling::{Sampler, SamplingConfig};
use serde_json::Value;

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().map_or(f32::NEG_INFINITY, |f| f as f32))
        .collect()
}

#[test]
fn processed_rows_equal_transformers() {
    let text =
        std::fs::read_to_string(fixture_dir("logits_processors").join("cases.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    let history: Vec<u32> = all["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let logits = f32s(&all["logits"]);
    let cases = all["cases"].as_object().unwrap();
    assert!(cases.len() >= 10);
    for (name, case) in cases {
        let p = &case["params"];
        let get = |k: &str| p.get(k).and_then(Value::as_f64);
        let sampling = p["do_sample"].as_bool().unwrap();
        let cfg = SamplingConfig {
            // transformers' GenerationConfig defaults where a case sets nothing.
            temperature: if sampling {
                get("temperature").unwrap_or(1.0) as f32
            } else {
                0.0
            },
            top_p: get("top_p").unwrap_or(1.0) as f32,
            top_k: Some(get("top_k").unwrap_or(50.0) as usize).filter(|&k| k > 0),
            min_p: get("min_p").unwrap_or(0.0) as f32,
            repetition_penalty: get("repetition_penalty").unwrap_or(1.0) as f32,
            suppress_tokens: p
                .get("suppress_tokens")
                .map(|v| {
                    v.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_u64().unwrap() as u32)
                        .collect()
                })
                .unwrap_or_default(),
            ..SamplingConfig::default()
        };
        let sampler = Sampler::new(cfg, &history);
        let mut row = logits.clone();
        sampler.process(&mut row);
        let want = f32s(&case["logits"]);
        for (i, (&g, &w)) in row.iter().zip(&want).enumerate() {
            let ok = if w == f32::NEG_INFINITY {
                g == w
            } else {
                (g - w).abs() <= 1e-5 * w.abs().max(1.0)
            };
            assert!(ok, "{name}: token {i}: {g} vs {w}");
        }
    }
}
