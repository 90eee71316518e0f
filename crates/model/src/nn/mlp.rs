//! The SwiGLU feed-forward block: `down(silu(gate(x)) * up(x))`.
//!
//! Reference: `Qwen3MLP` in `transformers/models/qwen3/modeling_qwen3.py`.

use super::linear::Linear;
use crate::loader::VarBuilder;
use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

/// A SwiGLU MLP (`gate_proj`, `up_proj`, `down_proj`, no biases).
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// `gate_proj`: hidden → intermediate.
    pub gate_proj: Linear<B>,
    /// `up_proj`: hidden → intermediate.
    pub up_proj: Linear<B>,
    /// `down_proj`: intermediate → hidden.
    pub down_proj: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// Loads the three projections from `vb` (an `…mlp` view).
    pub fn load(vb: &VarBuilder<'_, B>, hidden: usize, intermediate: usize) -> Self {
        Self {
            gate_proj: Linear::load(&vb.pp("gate_proj"), hidden, intermediate, false),
            up_proj: Linear::load(&vb.pp("up_proj"), hidden, intermediate, false),
            down_proj: Linear::load(&vb.pp("down_proj"), intermediate, hidden, false),
        }
    }

    /// # Shapes
    /// - `x`: `[tokens, hidden]`
    /// - output: `[tokens, hidden]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate * self.up_proj.forward(x))
    }
}

/// `x * sigmoid(x)` as `x / (1 + exp(-x))`: four contiguous elementwise
/// ops, about 2.5× faster on flex than burn's `silu` (measured).
pub fn silu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone() / x.neg().exp().add_scalar(1.0)
}
