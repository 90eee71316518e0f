//! Checkpoint loading: our own safetensors reader, not burn-store.
//!
//! - [`Checkpoint`]: opens `model.safetensors` or every shard of
//!   `model.safetensors.index.json`, reads only the headers, and converts
//!   tensors on demand (F32/F16/BF16/F64 → `f32`) straight from a memory map
//!   of their byte range into one `TensorData`.
//! - [`TensorSource`]: what a [`VarBuilder`] reads from — a [`Checkpoint`] or
//!   [`RandomWeights`] (seeded, any shape) for benchmarks at real shapes.
//! - [`VarBuilder`]: the prefixed view modules build themselves from; it
//!   records every missing, wrong-shaped and unread tensor and reports them
//!   all in one [`LoadReport`]. A view can carry a
//!   [`QuantConfig`](crate::quant::QuantConfig)
//!   ([`VarBuilder::with_quantization`]) that the linear layers loaded
//!   through it follow.
//! - [`safetensors`]: the file format, including a streaming writer.

mod checkpoint;
pub mod safetensors;
mod source;
mod var_builder;

pub use checkpoint::{Checkpoint, INDEX_FILE, MAP_CHUNK, SINGLE_FILE};
pub use safetensors::{StoredDtype, TensorInfo, TensorSpec};
pub use source::{RandomWeights, TensorSource};
pub use var_builder::{LoadReport, RawTensor, VarBuilder};
