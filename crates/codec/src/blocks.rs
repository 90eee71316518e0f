//! The convolutional blocks of Code2Wav: SnakeBeta, the ConvNeXt block of
//! the upsampling stages, and the decoder's residual units and blocks.
//!
//! Reference: `Qwen3OmniMoeSnakeBeta`, `Qwen3OmniMoeConvNeXtBlock`,
//! `Qwen3OmniMoeCode2WavDecoderResidualUnit` and
//! `Qwen3OmniMoeCode2WavDecoderBlock` in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`.
//!
//! Every block maps `[batch, channels, time]` to the same layout and
//! streams through an explicit state (see [`crate::conv`]).

use crate::conv::{CausalConv1d, CausalTransConv1d, ConvState, TransConvState};
use burn::module::{Module, Param};
use burn::tensor::activation::gelu;
use burn::tensor::{Tensor, backend::Backend};
use omnivox_model::loader::VarBuilder;
use omnivox_model::nn::{LayerNorm, Linear};

/// The reference's guard against division by zero in SnakeBeta.
const SNAKE_EPS: f32 = 1e-9;
/// `nn.LayerNorm(dim, eps=1e-6)` in the ConvNeXt block.
const LAYER_NORM_EPS: f64 = 1e-6;
/// Dilations of a decoder block's three residual units.
const DILATIONS: [usize; 3] = [1, 3, 9];

/// SnakeBeta: `x + 1 / (exp(β) + 1e-9) · sin²(x · exp(α))`, per channel.
#[derive(Module, Debug)]
pub struct SnakeBeta<B: Backend> {
    /// `exp(alpha)`, `[channels, 1]` (computed once at load).
    pub frequency: Param<Tensor<B, 2>>,
    /// `1 / (exp(beta) + 1e-9)`, `[channels, 1]` (computed once at load).
    pub magnitude: Param<Tensor<B, 2>>,
}

impl<B: Backend> SnakeBeta<B> {
    /// Loads `alpha` and `beta` (`[channels]`, log-scale) from `vb`.
    pub fn load(vb: &VarBuilder<'_, B>, channels: usize) -> Self {
        let alpha: Tensor<B, 1> = vb.get([channels], "alpha");
        let beta: Tensor<B, 1> = vb.get([channels], "beta");
        let denom = beta.exp().add_scalar(SNAKE_EPS);
        // A division, not `recip()`: ndarray's SIMD reciprocal is approximate.
        let magnitude = Tensor::ones_like(&denom) / denom;
        Self {
            frequency: Param::from_tensor(alpha.exp().unsqueeze_dim(1)),
            magnitude: Param::from_tensor(magnitude.unsqueeze_dim(1)),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, channels, time]`
    /// - output: same as `x`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let freq: Tensor<B, 3> = self.frequency.val().unsqueeze();
        let mag: Tensor<B, 3> = self.magnitude.val().unsqueeze();
        let s = (x.clone() * freq).sin();
        x + s.square() * mag
    }
}

/// ConvNeXt block: depthwise causal conv (kernel 7), LayerNorm over
/// channels, `pwconv1` (4× wider), GELU, `pwconv2`, `gamma`, residual.
#[derive(Module, Debug)]
pub struct ConvNeXtBlock<B: Backend> {
    /// `dwconv`.
    pub dwconv: CausalConv1d<B>,
    /// `norm` (eps 1e-6).
    pub norm: LayerNorm<B>,
    /// `pwconv1`: dim → 4·dim.
    pub pwconv1: Linear<B>,
    /// `pwconv2`: 4·dim → dim.
    pub pwconv2: Linear<B>,
    /// `gamma`, `[dim]`.
    pub gamma: Param<Tensor<B, 1>>,
}

impl<B: Backend> ConvNeXtBlock<B> {
    /// Loads the block from `vb` (an `upsample.{i}.1` view).
    pub fn load(vb: &VarBuilder<'_, B>, dim: usize) -> Self {
        Self {
            dwconv: CausalConv1d::load(&vb.pp("dwconv"), dim, dim, 7, 1, dim),
            norm: LayerNorm::load(&vb.pp("norm"), dim, LAYER_NORM_EPS, true),
            pwconv1: Linear::load(&vb.pp("pwconv1"), dim, 4 * dim, true),
            pwconv2: Linear::load(&vb.pp("pwconv2"), 4 * dim, dim, true),
            gamma: Param::from_tensor(vb.get([dim], "gamma")),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, dim, time]`
    /// - output: same as `x`
    pub fn forward(&self, x: Tensor<B, 3>, state: &mut ConvState<B>) -> Tensor<B, 3> {
        let [b, c, t] = x.dims();
        let h = self.dwconv.forward(x.clone(), state);
        let h = h.swap_dims(1, 2).reshape([b * t, c]); // [b·t, c]
        let h = self.norm.forward(h);
        let h = gelu(self.pwconv1.forward(h));
        let h = self.pwconv2.forward(h) * self.gamma.val().unsqueeze_dim(0);
        x + h.reshape([b, t, c]).swap_dims(1, 2)
    }
}

/// Residual unit: SnakeBeta, causal conv (kernel 7, dilated), SnakeBeta,
/// 1×1 conv, plus the input.
#[derive(Module, Debug)]
pub struct ResidualUnit<B: Backend> {
    /// `act1`.
    pub act1: SnakeBeta<B>,
    /// `conv1`.
    pub conv1: CausalConv1d<B>,
    /// `act2`.
    pub act2: SnakeBeta<B>,
    /// `conv2`.
    pub conv2: CausalConv1d<B>,
}

impl<B: Backend> ResidualUnit<B> {
    /// Loads the unit from `vb` (a `decoder.{i}.block.{j}` view).
    pub fn load(vb: &VarBuilder<'_, B>, dim: usize, dilation: usize) -> Self {
        Self {
            act1: SnakeBeta::load(&vb.pp("act1"), dim),
            conv1: CausalConv1d::load(&vb.pp("conv1"), dim, dim, 7, dilation, 1),
            act2: SnakeBeta::load(&vb.pp("act2"), dim),
            conv2: CausalConv1d::load(&vb.pp("conv2"), dim, dim, 1, 1, 1),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, dim, time]`
    /// - output: same as `x`
    pub fn forward(&self, x: Tensor<B, 3>, state: &mut ConvState<B>) -> Tensor<B, 3> {
        let h = self.conv1.forward(self.act1.forward(x.clone()), state);
        // A 1×1 convolution has no history: a throwaway state is exact.
        let h = self
            .conv2
            .forward(self.act2.forward(h), &mut ConvState::default());
        h + x
    }
}

/// Decoder block: SnakeBeta, causal transposed conv (kernel `2·rate`,
/// stride `rate`, halving the channels), three residual units (dilations
/// 1, 3, 9).
#[derive(Module, Debug)]
pub struct DecoderBlock<B: Backend> {
    /// `block.0`.
    pub snake: SnakeBeta<B>,
    /// `block.1`.
    pub upsample: CausalTransConv1d<B>,
    /// `block.2..=4`.
    pub units: Vec<ResidualUnit<B>>,
}

/// What a [`DecoderBlock`] carries between calls.
#[derive(Debug, Clone)]
pub struct DecoderBlockState<B: Backend> {
    upsample: TransConvState<B>,
    units: [ConvState<B>; 3],
}

impl<B: Backend> DecoderBlock<B> {
    /// Loads block `vb` (a `decoder.{i}` view) taking `in_dim` channels to
    /// `in_dim / 2` at `rate`× the sample rate.
    pub fn load(vb: &VarBuilder<'_, B>, in_dim: usize, rate: usize) -> Self {
        let out_dim = in_dim / 2;
        let vb = vb.pp("block");
        Self {
            snake: SnakeBeta::load(&vb.pp(0), in_dim),
            upsample: CausalTransConv1d::load(&vb.pp(1), in_dim, out_dim, 2 * rate, rate),
            units: (DILATIONS.iter().enumerate())
                .map(|(j, &d)| ResidualUnit::load(&vb.pp(j + 2), out_dim, d))
                .collect(),
        }
    }

    /// A fresh state.
    pub fn new_state(&self) -> DecoderBlockState<B> {
        DecoderBlockState {
            upsample: self.upsample.new_state(),
            units: Default::default(),
        }
    }

    /// Returns the output samples that became final (`None` when none did).
    ///
    /// # Shapes
    /// - `x`: `[batch, in_dim, n]`
    /// - output: `[batch, in_dim / 2, ≤ n · rate]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        state: &mut DecoderBlockState<B>,
    ) -> Option<Tensor<B, 3>> {
        let mut h = self
            .upsample
            .forward(self.snake.forward(x), &mut state.upsample)?;
        for (unit, st) in self.units.iter().zip(state.units.iter_mut()) {
            h = unit.forward(h, st);
        }
        Some(h)
    }
}
