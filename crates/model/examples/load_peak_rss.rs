//! Peak memory while loading a checkpoint, for `cargo xtask bench model`.
//!
//! - `load_peak_rss write DIR DTYPE`: writes a random Qwen3-0.6B-shaped
//!   checkpoint (28 layers, tied embeddings) stored as `DTYPE` (`f32`,
//!   `bf16` or `f16`) into `DIR`.
//! - `load_peak_rss load DIR`: loads it on flex in this fresh process and
//!   prints one JSON line: the f32 weights' bytes, the files' bytes, and the
//!   process's peak resident set (`VmHWM`) and its anonymous / file-backed
//!   parts after loading, from `/proc/self/status`.

use omnivox_model::QwenForCausalLM;
use omnivox_model::loader::{Checkpoint, RandomWeights, StoredDtype, VarBuilder};
use omnivox_model::testing::Flex;
use std::path::Path;

fn config_json() -> serde_json::Value {
    serde_json::json!({
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
        "vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072,
        "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
        "head_dim": 128, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "tie_word_embeddings": true, "max_position_embeddings": 40960
    })
}

fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device = Default::default();
    match args.as_slice() {
        [cmd, dir, dtype] if cmd == "write" => {
            let dtype = match dtype.as_str() {
                "f32" => StoredDtype::F32,
                "bf16" => StoredDtype::BF16,
                "f16" => StoredDtype::F16,
                other => return Err(format!("unknown dtype {other}").into()),
            };
            let json = config_json();
            let cfg = omnivox_model::DecoderConfig::from_value(json.clone())?;
            let random = RandomWeights::new(0, 0.02);
            let vb = VarBuilder::<Flex>::new(&random, &device);
            drop(QwenForCausalLM::load(&vb, &cfg));
            random.write_checkpoint(Path::new(dir), dtype, &json)?;
        }
        [cmd, dir] if cmd == "load" => {
            let ckpt = Checkpoint::open(dir)?;
            let weights: u64 = ckpt.tensors().values().map(|t| t.numel() as u64 * 4).sum();
            let files: u64 = ckpt
                .files()
                .iter()
                .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
                .sum();
            drop(ckpt);
            let before = status_kib("VmRSS:");
            let model = QwenForCausalLM::<Flex>::from_pretrained(dir, &device)?;
            let line = serde_json::json!({
                "f32_weight_bytes": weights,
                "file_bytes": files,
                "rss_before_load_kib": before,
                "peak_rss_kib": status_kib("VmHWM:"),
                "rss_anon_after_kib": status_kib("RssAnon:"),
                "rss_file_after_kib": status_kib("RssFile:"),
                "layers": model.model.num_layers(),
            });
            eprintln!("{line}");
        }
        _ => return Err("usage: load_peak_rss write DIR f32|bf16|f16 | load DIR".into()),
    }
    Ok(())
}
