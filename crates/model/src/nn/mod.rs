//! Transformer building blocks, each generic over `B: Backend`, each built
//! from a [`VarBuilder`](crate::loader::VarBuilder) view that mirrors the
//! Hub's key names.

mod attention;
mod layer_norm;
mod linear;
mod mlp;
mod moe;
mod rope;

pub use attention::Attention;
pub use layer_norm::LayerNorm;
pub use linear::{Embedding, Linear, RmsNorm};
pub use mlp::{Mlp, silu};
pub use moe::{Routing, SparseMoe};
pub use rope::{HeadRope, Positions, RopeTables, Rotary, apply_rotary};
