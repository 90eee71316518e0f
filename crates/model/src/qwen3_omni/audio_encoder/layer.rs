//! One encoder layer of the Qwen3-Omni audio tower: pre-norm windowed
//! self-attention and a GELU MLP, and the window layout on the device.
//!
//! Reference: `Qwen3OmniMoeAudioEncoderLayer` and `Qwen3OmniMoeAudioAttention`
//! (eager path: attention within each window of `cu_seqlens`, no mask
//! inside a window) in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`.
//!
//! Windows are computed as one batch: the tokens are laid out as
//! `[windows, width]` (padding the shorter windows, whose padding slots are
//! masked as keys), so one pair of batched matmuls covers every window —
//! block-diagonal attention without a per-window loop.

use super::plan::WindowLayout;
use crate::loader::VarBuilder;
use crate::nn::{LayerNorm, Linear};
use burn::module::Module;
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

/// `torch.nn.LayerNorm`'s default epsilon, which the audio tower uses.
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// A [`WindowLayout`] on the device.
#[derive(Debug, Clone)]
pub struct Windows<B: Backend> {
    count: usize,
    width: usize,
    gather: Option<Tensor<B, 1, Int>>,
    scatter: Option<Tensor<B, 1, Int>>,
    /// `[windows, 1, 1, width]`.
    mask: Option<Tensor<B, 4>>,
}

impl<B: Backend> Windows<B> {
    /// Uploads a layout.
    pub fn new(layout: &WindowLayout, device: &B::Device) -> Self {
        let count = layout.lens.len();
        let width = layout.width;
        let ints = |v: &Vec<i64>| {
            Tensor::<B, 1, Int>::from_data(TensorData::new(v.clone(), [v.len()]), device)
        };
        Self {
            count,
            width,
            gather: layout.gather.as_ref().map(ints),
            scatter: layout.scatter.as_ref().map(ints),
            mask: layout.key_mask.as_ref().map(|m| {
                Tensor::<B, 4>::from_data(TensorData::new(m.clone(), [count, 1, 1, width]), device)
            }),
        }
    }

    /// `[tokens, heads * d]` → `[windows, heads, width, d]`.
    fn split(&self, x: Tensor<B, 2>, heads: usize) -> Tensor<B, 4> {
        let x = match &self.gather {
            Some(idx) => x.select(0, idx.clone()),
            None => x,
        };
        let d = x.dims()[1] / heads;
        x.reshape([self.count, self.width, heads, d])
            .swap_dims(1, 2)
    }

    /// `[windows, heads, width, d]` → `[tokens, heads * d]`.
    fn merge(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let [w, h, n, d] = x.dims();
        let x = x.swap_dims(1, 2).reshape([w * n, h * d]);
        match &self.scatter {
            Some(idx) => x.select(0, idx.clone()),
            None => x,
        }
    }
}

/// Bidirectional multi-head attention within windows (`self_attn`).
#[derive(Module, Debug)]
pub struct WindowAttention<B: Backend> {
    /// `q_proj` (with bias).
    pub q_proj: Linear<B>,
    /// `k_proj` (with bias).
    pub k_proj: Linear<B>,
    /// `v_proj` (with bias).
    pub v_proj: Linear<B>,
    /// `out_proj` (with bias).
    pub out_proj: Linear<B>,
    /// Attention heads.
    pub num_heads: usize,
}

impl<B: Backend> WindowAttention<B> {
    /// Loads the four projections from `vb` (a `…self_attn` view).
    pub fn load(vb: &VarBuilder<'_, B>, d_model: usize, num_heads: usize) -> Self {
        let lin = |name: &str| Linear::load(&vb.pp(name), d_model, d_model, true);
        Self {
            q_proj: lin("q_proj"),
            k_proj: lin("k_proj"),
            v_proj: lin("v_proj"),
            out_proj: lin("out_proj"),
            num_heads,
        }
    }

    /// # Shapes
    /// - `x`: `[tokens, d_model]`
    /// - output: `[tokens, d_model]`
    pub fn forward(&self, x: Tensor<B, 2>, windows: &Windows<B>) -> Tensor<B, 2> {
        let h = self.num_heads;
        let head_dim = x.dims()[1] / h;
        let q = windows.split(self.q_proj.forward(x.clone()), h);
        let k = windows.split(self.k_proj.forward(x.clone()), h);
        let v = windows.split(self.v_proj.forward(x), h);
        let scale = (head_dim as f64).powf(-0.5);
        let mut scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale); // [w, h, width, width]
        if let Some(mask) = &windows.mask {
            scores = scores + mask.clone();
        }
        let out = softmax(scores, 3).matmul(v); // [w, h, width, d]
        self.out_proj.forward(windows.merge(out))
    }
}

/// One encoder layer (`layers.{i}`).
#[derive(Module, Debug)]
pub struct EncoderLayer<B: Backend> {
    /// `self_attn_layer_norm`.
    pub self_attn_layer_norm: LayerNorm<B>,
    /// `self_attn`.
    pub self_attn: WindowAttention<B>,
    /// `final_layer_norm`.
    pub final_layer_norm: LayerNorm<B>,
    /// `fc1`: d_model → ffn.
    pub fc1: Linear<B>,
    /// `fc2`: ffn → d_model.
    pub fc2: Linear<B>,
}

impl<B: Backend> EncoderLayer<B> {
    /// Loads layer weights from `vb` (a `layers.{i}` view).
    pub fn load(vb: &VarBuilder<'_, B>, d_model: usize, heads: usize, ffn: usize) -> Self {
        let norm = |name: &str| LayerNorm::load(&vb.pp(name), d_model, LAYER_NORM_EPS, true);
        Self {
            self_attn_layer_norm: norm("self_attn_layer_norm"),
            self_attn: WindowAttention::load(&vb.pp("self_attn"), d_model, heads),
            final_layer_norm: norm("final_layer_norm"),
            fc1: Linear::load(&vb.pp("fc1"), d_model, ffn, true),
            fc2: Linear::load(&vb.pp("fc2"), ffn, d_model, true),
        }
    }

    /// # Shapes
    /// - `x`: `[tokens, d_model]`
    /// - output: `[tokens, d_model]`
    pub fn forward(&self, x: Tensor<B, 2>, windows: &Windows<B>) -> Tensor<B, 2> {
        let h = self
            .self_attn
            .forward(self.self_attn_layer_norm.forward(x.clone()), windows);
        let x = x + h;
        let h = self.final_layer_norm.forward(x.clone());
        let h = self.fc2.forward(gelu(self.fc1.forward(h)));
        x + h
    }
}
