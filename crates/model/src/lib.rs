//! omnivox-model: transformer blocks, the Qwen decoder family, checkpoint
//! loading, and the test harness that proves them equal to transformers.
//!
//! - [`loader`]: safetensors checkpoints (single or sharded, memory-mapped,
//!   F32/F16/BF16), the [`VarBuilder`](loader::VarBuilder) modules load
//!   through, and seeded random weights.
//! - [`config`]: typed `config.json`.
//! - [`nn`]: blocks — `Linear`, `Embedding`, `RmsNorm`, rotary embeddings
//!   (default and interleaved MRoPE), GQA attention with causal and
//!   sliding-window masks, SwiGLU, sparse MoE.
//! - [`kv_cache`]: the cache trait attention runs against, and a contiguous
//!   implementation.
//! - [`batch`]: the flattened multi-sequence batch a forward pass runs over.
//! - [`decoder`]: `Qwen2ForCausalLM`, `Qwen3ForCausalLM`, `Qwen3MoeForCausalLM`,
//!   `Qwen2MoeForCausalLM`.
//! - [`qwen3_omni`]: Qwen3-Omni's config tree, checkpoint, audio encoder
//!   and thinker.
//! - [`quant`]: int8 and NF4 linear weights (quantized at load or read from
//!   bitsandbytes checkpoints), selected with [`Quantization`].
//! - [`testing`]: `backend_tests!`, fixtures, reference tensors,
//!   `assert_close`.

pub mod batch;
pub mod config;
pub mod decoder;
mod error;
pub mod kv_cache;
pub mod loader;
pub mod nn;
pub mod quant;
pub mod qwen3_omni;
pub mod testing;

pub use batch::BatchSeq;
pub use config::DecoderConfig;
pub use decoder::{DecoderInput, DecoderOutput, QwenForCausalLM, QwenModel};
pub use error::{Error, Result};
pub use kv_cache::{ContiguousKvCache, KvCache, KvView};
pub use quant::{QuantConfig, Quantization};
