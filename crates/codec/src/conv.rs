//! Causal 1-D convolutions, whole-sequence and streamed through explicit
//! state.
//!
//! Reference: `Qwen3OmniMoeCausalConvNet` and `Qwen3OmniMoeCausalTransConvNet`
//! in `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`.
//!
//! - [`CausalConv1d`] pads `(k - 1) · d` zeros on the left. The reference's
//!   "extra padding" on the right is zero for stride 1, the only stride
//!   Code2Wav uses (checked at load). Streaming keeps the last `(k - 1) · d`
//!   input samples; a fresh state is those zeros, so one call on a whole
//!   sequence *is* the reference's forward.
//! - [`CausalTransConv1d`] is a transposed convolution (kernel `K`, stride
//!   `s`) with `K - s` samples trimmed on each side. After `L` inputs, the
//!   untrimmed output positions below `L · s` can no longer change; they are
//!   exactly what the reference returns for those `L` inputs (minus the left
//!   trim). Streaming keeps the last `ceil(K / s) - 1` inputs (whose taps
//!   still reach new outputs) and how much of the left trim is still to
//!   drop; it emits `s` samples per input and never holds any back.
//!
//! Both use burn's `conv1d` / `conv_transpose1d`; tensors are
//! `[batch, channels, time]`.

use burn::module::{Module, Param};
use burn::tensor::module::{conv_transpose1d, conv1d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Tensor, backend::Backend};
use omnivox_model::loader::VarBuilder;

/// A causal convolution (stride 1, left zero padding).
#[derive(Module, Debug)]
pub struct CausalConv1d<B: Backend> {
    /// `conv.weight`, `[out, in / groups, kernel]`.
    pub weight: Param<Tensor<B, 3>>,
    /// `conv.bias`, `[out]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Dilation.
    pub dilation: usize,
    /// Groups (`in` for the ConvNeXt depthwise convolution).
    pub groups: usize,
}

/// The input samples a [`CausalConv1d`] still needs: `[batch, in, (k-1)·d]`,
/// `None` before the first call (zeros, as the reference pads).
#[derive(Debug, Clone, Default)]
pub struct ConvState<B: Backend> {
    past: Option<Tensor<B, 3>>,
}

impl<B: Backend> CausalConv1d<B> {
    /// Loads `conv.weight` and `conv.bias` from `vb` (a `CausalConvNet`
    /// view).
    pub fn load(
        vb: &VarBuilder<'_, B>,
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        dilation: usize,
        groups: usize,
    ) -> Self {
        let vb = vb.pp("conv");
        Self {
            weight: Param::from_tensor(vb.get([out_ch, in_ch / groups, kernel], "weight")),
            bias: Param::from_tensor(vb.get([out_ch], "bias")),
            dilation,
            groups,
        }
    }

    /// Samples of left context: `(kernel - 1) · dilation`.
    pub fn history(&self) -> usize {
        (self.weight.dims()[2] - 1) * self.dilation
    }

    /// Convolves the next `n` samples, continuing from `state`.
    ///
    /// # Shapes
    /// - `x`: `[batch, in, n]`, `n > 0`
    /// - output: `[batch, out, n]`
    pub fn forward(&self, x: Tensor<B, 3>, state: &mut ConvState<B>) -> Tensor<B, 3> {
        let h = self.history();
        let x = if h == 0 {
            x
        } else {
            let [b, c, n] = x.dims();
            let past = state
                .past
                .take()
                .unwrap_or_else(|| Tensor::zeros([b, c, h], &x.device()));
            let full = Tensor::cat(vec![past, x], 2); // [b, c, h + n]
            state.past = Some(full.clone().narrow(2, n, h));
            full
        };
        let options = ConvOptions::new([1], [0], [self.dilation], self.groups);
        conv1d(x, self.weight.val(), Some(self.bias.val()), options)
    }
}

/// A transposed convolution whose output is trimmed by `kernel - stride`
/// samples on each side.
#[derive(Module, Debug)]
pub struct CausalTransConv1d<B: Backend> {
    /// `conv.weight`, `[in, out, kernel]`.
    pub weight: Param<Tensor<B, 3>>,
    /// `conv.bias`, `[out]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Stride (the upsampling factor).
    pub stride: usize,
}

/// What a [`CausalTransConv1d`] carries between calls.
#[derive(Debug, Clone)]
pub struct TransConvState<B: Backend> {
    /// The last `ceil(K / s) - 1` inputs, `[batch, in, ·]`.
    past: Option<Tensor<B, 3>>,
    /// Output samples still to drop: the reference's left trim.
    skip: usize,
}

impl<B: Backend> CausalTransConv1d<B> {
    /// Loads `conv.weight` and `conv.bias` from `vb` (a `CausalTransConvNet`
    /// view).
    pub fn load(
        vb: &VarBuilder<'_, B>,
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        stride: usize,
    ) -> Self {
        let vb = vb.pp("conv");
        Self {
            weight: Param::from_tensor(vb.get([in_ch, out_ch, kernel], "weight")),
            bias: Param::from_tensor(vb.get([out_ch], "bias")),
            stride,
        }
    }

    fn kernel(&self) -> usize {
        self.weight.dims()[2]
    }

    /// Previous inputs whose taps reach outputs not yet emitted.
    fn overlap(&self) -> usize {
        self.kernel().div_ceil(self.stride).saturating_sub(1)
    }

    /// A fresh state: nothing seen, the whole left trim still to drop.
    pub fn new_state(&self) -> TransConvState<B> {
        TransConvState {
            past: None,
            skip: self.kernel().saturating_sub(self.stride),
        }
    }

    /// Upsamples the next `n` inputs and returns the output samples that
    /// became final (`n · stride`, less what remains of the left trim;
    /// `None` when that is nothing).
    ///
    /// # Shapes
    /// - `x`: `[batch, in, n]`, `n > 0`
    /// - output: `[batch, out, ≤ n · stride]`
    pub fn forward(&self, x: Tensor<B, 3>, state: &mut TransConvState<B>) -> Option<Tensor<B, 3>> {
        let [b, c, n] = x.dims();
        let (h, s) = (self.overlap(), self.stride);
        let x = if h == 0 {
            x
        } else {
            let past = state
                .past
                .take()
                .unwrap_or_else(|| Tensor::zeros([b, c, h], &x.device()));
            let full = Tensor::cat(vec![past, x], 2); // [b, c, h + n]
            state.past = Some(full.clone().narrow(2, n, h));
            full
        };
        // Local positions [h·s, (h + n)·s) are the absolute ones that just
        // became final. When the kernel is a multiple of the stride (always,
        // in Code2Wav) the convolution's own padding of h·s on both sides
        // yields exactly those, contiguous; otherwise slice them out.
        let exact = self.kernel() == (h + 1) * s;
        let pad = if exact { h * s } else { 0 };
        let options = ConvTransposeOptions::new([s], [pad], [0], [1], 1);
        let y = conv_transpose1d(x, self.weight.val(), Some(self.bias.val()), options);
        let start = if exact { 0 } else { h * s };
        let dropped = state.skip.min(n * s);
        state.skip -= dropped;
        let len = n * s - dropped;
        if len == 0 {
            return None;
        }
        let (from, full) = (start + dropped, y.dims()[2]);
        Some(if from == 0 && len == full {
            y
        } else {
            y.narrow(2, from, len)
        })
    }
}
