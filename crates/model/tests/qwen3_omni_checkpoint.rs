//! Qwen3-Omni checkpoints: the whole config tree (the tiny fixture and the
//! Hub checkpoint's own config), `generation_config.json`, per-prefix
//! loading, and the error a checkpoint of another kind gets.

#![allow(clippy::unwrap_used)]

use omnivox_model::qwen3_omni::{Qwen3OmniCheckpoint, Qwen3OmniMoeConfig, TALKER_PREFIX};
use omnivox_model::testing::{NdArray, fixture_dir};
use std::path::Path;

#[test]
fn the_hub_config_parses_with_its_real_values() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/qwen3-omni-30b-a3b-instruct.config.json");
    let cfg = Qwen3OmniMoeConfig::from_file(path).unwrap();
    let t = &cfg.thinker_config;
    let a = &t.audio_config;
    assert_eq!(
        (
            a.d_model,
            a.encoder_layers,
            a.encoder_attention_heads,
            a.encoder_ffn_dim
        ),
        (1280, 32, 20, 5120)
    );
    assert_eq!(
        (
            a.num_mel_bins,
            a.n_window,
            a.n_window_infer,
            a.downsample_hidden_size,
            a.output_dim
        ),
        (128, 50, 800, 480, 2048)
    );
    assert_eq!(
        (
            t.audio_token_id,
            t.audio_start_token_id,
            t.position_id_per_seconds
        ),
        (151_675, 151_669, 13)
    );
    let text = &t.text_config;
    assert_eq!(
        (
            text.num_hidden_layers,
            text.hidden_size,
            text.head_dim,
            text.num_key_value_heads
        ),
        (48, 2048, 128, 4)
    );
    assert_eq!(text.rope.theta, 1_000_000.0);
    assert_eq!(text.rope.mrope_section, Some(vec![24, 20, 20]));
    let moe = text.moe.as_ref().unwrap();
    assert_eq!(
        (moe.num_experts, moe.num_experts_per_tok, moe.norm_topk_prob),
        (128, 8, true)
    );
    // `shared_expert_intermediate_size: 0` on the thinker is ignored: its MoE
    // block has no shared expert.
    assert_eq!(moe.shared_expert_intermediate_size, None);
    let talker = cfg.talker().unwrap();
    assert_eq!(
        (
            talker.accept_hidden_layer,
            talker.num_code_groups,
            talker.codec_eos_token_id
        ),
        (24, 16, 2150)
    );
    assert_eq!(talker.speaker_id.get("ethan"), Some(&2302));
    let tmoe = talker.text_config.moe.as_ref().unwrap();
    assert_eq!(
        (
            tmoe.num_experts,
            tmoe.num_experts_per_tok,
            tmoe.shared_expert_intermediate_size
        ),
        (128, 6, Some(768))
    );
    assert_eq!(talker.code_predictor_config.num_code_groups, 16);
    assert_eq!(talker.code_predictor_config.decoder.num_hidden_layers, 5);
    let c2w = cfg.code2wav().unwrap();
    assert_eq!(
        (
            c2w.num_quantizers,
            c2w.codebook_size,
            c2w.sliding_window,
            c2w.rope_theta()
        ),
        (16, 2048, 72, 10_000.0)
    );
    assert_eq!(
        (
            cfg.tts_pad_token_id,
            cfg.im_start_token_id,
            cfg.user_token_id
        ),
        (151_671, 151_644, 872)
    );
}

#[test]
fn the_fixture_checkpoint_opens_with_its_generation_defaults() {
    let ckpt = Qwen3OmniCheckpoint::open(fixture_dir("qwen3_omni_thinker")).unwrap();
    let g = ckpt.generation_config();
    assert_eq!(g.eos_token_id, vec![1200, 1201]);
    assert_eq!(
        (g.do_sample, g.temperature, g.top_k, g.repetition_penalty),
        (Some(true), Some(0.7), Some(20), Some(1.3))
    );
    assert_eq!(g.suppress_tokens.len(), 2);
    let cfg = ckpt.config();
    assert_eq!(cfg.talker().unwrap().accept_hidden_layer, 2);
    assert_eq!(cfg.code2wav().unwrap().num_quantizers, 4);
    assert!(ckpt.weights().files().len() > 1, "the fixture is sharded");
    // Nothing has been read yet: opening reads headers only.
    assert_eq!(ckpt.weights().bytes_read(), 0);
}

#[test]
fn a_talker_view_reports_only_talker_tensors() {
    let ckpt = Qwen3OmniCheckpoint::open(fixture_dir("qwen3_omni_thinker")).unwrap();
    let vb = ckpt
        .var_builder::<NdArray>(&Default::default())
        .pp(TALKER_PREFIX);
    let report = vb.report();
    assert!(!report.unexpected.is_empty());
    assert!(
        report.unexpected.iter().all(|n| n.starts_with("talker.")),
        "{report}"
    );
    assert!(
        report
            .unexpected
            .iter()
            .any(|n| n.contains(".mlp.experts.3.down_proj.weight"))
    );
}

#[test]
fn another_model_is_refused_by_name() {
    let err = Qwen3OmniCheckpoint::open(fixture_dir("qwen3_tiny"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a Qwen3-Omni checkpoint"), "{err}");
    assert!(
        err.contains("`qwen3`") && err.contains("Qwen3ForCausalLM"),
        "{err}"
    );
    assert!(err.contains("config.json"), "{err}");
}
