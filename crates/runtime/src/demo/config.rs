//! The demo's `config.json` and `generation_config.json`: Qwen3-Omni's
//! layout at toy sizes, with the released model's codec shape (16
//! code groups become 4 here, but 2048 codes per codebook, a 3072-code
//! talker vocabulary whose top 1024 are control codes, and 1920 samples per
//! frame).

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The first token of each role word.
pub(crate) struct Roles {
    pub system: u32,
    pub user: u32,
    pub assistant: u32,
}

/// Talker vocabulary: 2048 codes, then control codes and speakers.
const TALKER_VOCAB: u32 = 3072;
const CODEBOOK: u32 = 2048;
const CODE_GROUPS: u32 = 4;

fn rope(section: [u32; 3]) -> Value {
    json!({"rope_type": "default", "rope_theta": 1_000_000.0, "interleaved": true, "mrope_section": section})
}

/// `config.json` for a tokenizer whose added tokens have ids `ids` and whose
/// vocabulary has `vocab` tokens.
pub(crate) fn config_json(ids: &BTreeMap<&str, u32>, roles: &Roles, vocab: usize) -> Value {
    let id = |t: &str| ids.get(t).copied().unwrap_or(0);
    let thinker_text = json!({
        "model_type": "qwen3_omni_moe_text",
        "vocab_size": vocab,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "norm_topk_prob": true,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_parameters": rope([4, 2, 2]),
        "tie_word_embeddings": false,
    });
    let audio = json!({
        "model_type": "qwen3_omni_moe_audio_encoder",
        "d_model": 32,
        "encoder_layers": 2,
        "encoder_attention_heads": 4,
        "encoder_ffn_dim": 64,
        "num_mel_bins": 128,
        "downsample_hidden_size": 8,
        "output_dim": 64,
        "n_window": 50,
        "n_window_infer": 800,
        "conv_chunksize": 500,
        "max_source_positions": 1500,
        "activation_function": "gelu",
    });
    let media = json!({
        "audio_token_id": id("<|audio_pad|>"),
        "audio_start_token_id": id("<|audio_start|>"),
        "image_token_id": id("<|image_pad|>"),
        "video_token_id": id("<|video_pad|>"),
        "vision_start_token_id": id("<|vision_start|>"),
        "position_id_per_seconds": 13,
        "seconds_per_chunk": 2,
        "spatial_merge_size": 2,
    });
    let mut thinker = json!({
        "model_type": "qwen3_omni_moe_thinker",
        "audio_config": audio,
        "text_config": thinker_text,
        "vision_config": {"model_type": "qwen3_omni_moe_vision_encoder", "spatial_merge_size": 2},
        "audio_end_token_id": id("<|audio_end|>"),
        "vision_end_token_id": id("<|vision_end|>"),
        "user_token_id": roles.user,
    });
    merge(&mut thinker, &media);
    let talker_text = json!({
        "model_type": "qwen3_omni_moe_talker_text",
        "vocab_size": TALKER_VOCAB,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 16,
        "shared_expert_intermediate_size": 32,
        "norm_topk_prob": false,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_parameters": rope([4, 2, 2]),
    });
    let predictor = json!({
        "model_type": "qwen3_omni_moe_talker_code_predictor",
        "vocab_size": CODEBOOK,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "num_code_groups": CODE_GROUPS,
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "layer_types": ["full_attention"],
        "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0},
        "tie_word_embeddings": false,
    });
    let mut talker = json!({
        "model_type": "qwen3_omni_moe_talker",
        "text_config": talker_text,
        "code_predictor_config": predictor,
        "num_code_groups": CODE_GROUPS,
        "thinker_hidden_size": 64,
        "accept_hidden_layer": 1,
        "codec_pad_id": CODEBOOK + 100,
        "codec_bos_id": CODEBOOK + 101,
        "codec_eos_token_id": CODEBOOK + 102,
        "codec_nothink_id": CODEBOOK + 107,
        "codec_think_bos_id": CODEBOOK + 108,
        "codec_think_eos_id": CODEBOOK + 109,
        "speaker_id": {"chelsie": CODEBOOK + 253, "ethan": CODEBOOK + 254, "aiden": CODEBOOK + 255},
    });
    merge(&mut talker, &media);
    let code2wav = json!({
        "codebook_size": CODEBOOK,
        "hidden_size": 32,
        "max_position_embeddings": 8000,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10_000.0},
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "attention_bias": false,
        "sliding_window": 72,
        "intermediate_size": 64,
        "hidden_act": "silu",
        "layer_scale_initial_scale": 0.01,
        "rms_norm_eps": 1e-5,
        "num_hidden_layers": 1,
        "num_quantizers": CODE_GROUPS,
        "upsample_rates": [8, 5, 4, 3],
        "upsampling_ratios": [2, 2],
        "decoder_dim": 64,
    });
    json!({
        "architectures": ["Qwen3OmniMoeForConditionalGeneration"],
        "model_type": "qwen3_omni_moe",
        "thinker_config": thinker,
        "talker_config": talker,
        "code2wav_config": code2wav,
        "enable_audio_output": true,
        "im_start_token_id": id("<|im_start|>"),
        "im_end_token_id": id("<|im_end|>"),
        "tts_pad_token_id": id("<tts_pad>"),
        "tts_bos_token_id": id("<tts_text_bos>"),
        "tts_eos_token_id": id("<tts_text_eod>"),
        "system_token_id": roles.system,
        "user_token_id": roles.user,
        "assistant_token_id": roles.assistant,
        "dtype": "float32",
        "omnivox_demo": "random weights: every reply is noise",
    })
}

fn merge(into: &mut Value, from: &Value) {
    if let (Some(a), Some(b)) = (into.as_object_mut(), from.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
}

/// `generation_config.json`: short replies by default (the noise is not
/// worth waiting for), Qwen3-Omni's sampling otherwise.
pub(crate) fn generation_config(ids: &BTreeMap<&str, u32>) -> Value {
    let id = |t: &str| ids.get(t).copied().unwrap_or(0);
    json!({
        "eos_token_id": [id("<|im_end|>"), id("<|endoftext|>")],
        "pad_token_id": id("<|endoftext|>"),
        "do_sample": true,
        "temperature": 0.7,
        "top_p": 0.8,
        "top_k": 20,
        "repetition_penalty": 1.05,
        "max_new_tokens": 24,
    })
}
