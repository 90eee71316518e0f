//! Rotary position embeddings with Hugging Face's rotate-half convention,
//! default and Qwen3-Omni's interleaved multimodal RoPE (MRoPE).
//!
//! Reference: `Qwen3RotaryEmbedding` / `apply_rotary_pos_emb` in
//! `transformers/models/qwen3/modeling_qwen3.py`, and
//! `Qwen3OmniMoeThinkerTextRotaryEmbedding.recomposition_frequencies` in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`.
//!
//! Not burn's `RotaryEncoding`, which rotates interleaved pairs
//! `(x[2i], x[2i+1])`; Qwen rotates `(x[i], x[i + d/2])`.

use crate::config::{RopeConfig, RopeKind};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

/// Position ids of a run of tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Positions {
    /// One position per token.
    Text(Vec<i64>),
    /// Three position streams per token — temporal, height, width — for
    /// Qwen3-Omni's MRoPE. With text and audio only, all three are equal.
    Multimodal([Vec<i64>; 3]),
}

impl Positions {
    /// `start, start + 1, …` for `len` tokens.
    pub fn range(start: usize, len: usize) -> Self {
        Self::Text((start..start + len).map(|p| p as i64).collect())
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(p) => p.len(),
            Self::Multimodal(p) => p[0].len(),
        }
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the three streams of a multimodal position have equal length.
    pub fn is_consistent(&self) -> bool {
        match self {
            Self::Text(_) => true,
            Self::Multimodal([t, h, w]) => t.len() == h.len() && t.len() == w.len(),
        }
    }

    /// Position of token `i` on `axis` (0 = temporal, 1 = height, 2 = width);
    /// text positions are the same on every axis.
    fn at(&self, axis: usize, i: usize) -> i64 {
        match self {
            Self::Text(p) => p[i],
            Self::Multimodal(p) => p[axis][i],
        }
    }
}

/// Rotary tables for one head count, laid out like the projections they
/// rotate: `[tokens, heads * head_dim]`.
///
/// Rotate-half is a signed permutation within each head, so
/// `rope(x) = x * cos + x[:, perm] * sin` with the sign of the first half
/// folded into `sin` — three 2-D elementwise ops and one gather, all on
/// contiguous tensors (flex's fast paths; strided 3-D views are several
/// times slower there).
#[derive(Debug, Clone)]
pub struct HeadRope<B: Backend> {
    /// `[tokens, heads * head_dim]`: `cos(angle)` on both halves of each head.
    pub cos: Tensor<B, 2>,
    /// `[tokens, heads * head_dim]`: `-sin` on the first half, `sin` on the
    /// second.
    pub sin: Tensor<B, 2>,
    /// `[heads * head_dim]`: column `j` of a head reads column
    /// `(j + head_dim / 2) % head_dim` of the same head.
    pub perm: Tensor<B, 1, Int>,
}

impl<B: Backend> HeadRope<B> {
    /// The rows of tokens `start..start + len`.
    pub fn rows(&self, start: usize, len: usize) -> Self {
        Self {
            cos: self.cos.clone().narrow(0, start, len),
            sin: self.sin.clone().narrow(0, start, len),
            perm: self.perm.clone(),
        }
    }
}

/// The rotary tables of a batch of tokens, for the query and the key heads.
#[derive(Debug, Clone)]
pub struct RopeTables<B: Backend> {
    /// For the query projection.
    pub q: HeadRope<B>,
    /// For the key projection.
    pub k: HeadRope<B>,
}

/// Rotary frequencies for one head size.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotary {
    inv_freq: Vec<f32>,
    /// For each frequency, which position axis drives it (all 0 without
    /// MRoPE).
    axis: Vec<usize>,
}

impl Rotary {
    /// Frequencies for `head_dim` from the config's RoPE parameters.
    ///
    /// With `mrope_section = [t, h, w]`, frequency `j` follows the height
    /// position when `j % 3 == 1 && j < 3h`, the width position when
    /// `j % 3 == 2 && j < 3w`, and the temporal position otherwise — the
    /// interleaved layout of Qwen3-Omni (not Qwen2-VL's contiguous sections).
    pub fn new(cfg: &RopeConfig, head_dim: usize) -> Self {
        let half = head_dim / 2;
        let scale = match cfg.kind {
            RopeKind::Default => 1.0,
            RopeKind::Linear { factor } => factor as f32,
        };
        // As transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in f32.
        let inv_freq = (0..half)
            .map(|i| {
                let e = (2 * i) as f32 / head_dim as f32;
                1.0 / (cfg.theta as f32).powf(e) / scale
            })
            .collect();
        let axis = (0..half)
            .map(|j| match cfg.mrope_section.as_deref() {
                Some([_, h, ..]) if j % 3 == 1 && j < h * 3 => 1,
                Some([_, _, w, ..]) if j % 3 == 2 && j < w * 3 => 2,
                _ => 0,
            })
            .collect();
        Self { inv_freq, axis }
    }

    /// Half the head size.
    pub fn half_dim(&self) -> usize {
        self.inv_freq.len()
    }

    /// Cosine and sine of every token's angles, `[tokens, head_dim / 2]`
    /// row-major, computed in f32 exactly as transformers does
    /// (`position * inv_freq`, then `cos`/`sin`).
    pub fn cos_sin(&self, positions: &[&Positions]) -> (Vec<f32>, Vec<f32>) {
        let n: usize = positions.iter().map(|p| p.len()).sum();
        let half = self.half_dim();
        let mut cos = Vec::with_capacity(n * half);
        let mut sin = Vec::with_capacity(n * half);
        for p in positions {
            for i in 0..p.len() {
                for (&f, &axis) in self.inv_freq.iter().zip(&self.axis) {
                    let angle = p.at(axis, i) as f32 * f;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        (cos, sin)
    }

    /// Tables for the given positions, in order, for `q_heads` query and
    /// `kv_heads` key heads.
    pub fn tables<B: Backend>(
        &self,
        positions: &[&Positions],
        q_heads: usize,
        kv_heads: usize,
        device: &B::Device,
    ) -> RopeTables<B> {
        let (cos, sin) = self.cos_sin(positions);
        RopeTables {
            q: self.head_rope(&cos, &sin, q_heads, device),
            k: self.head_rope(&cos, &sin, kv_heads, device),
        }
    }

    fn head_rope<B: Backend>(
        &self,
        cos: &[f32],
        sin: &[f32],
        heads: usize,
        device: &B::Device,
    ) -> HeadRope<B> {
        let half = self.half_dim();
        let d = 2 * half;
        let n = cos.len() / half.max(1);
        let width = heads * d;
        let mut c = Vec::with_capacity(n * width);
        let mut s = Vec::with_capacity(n * width);
        for (cr, sr) in cos.chunks_exact(half).zip(sin.chunks_exact(half)) {
            for _ in 0..heads {
                c.extend_from_slice(cr);
                c.extend_from_slice(cr);
                s.extend(sr.iter().map(|v| -v));
                s.extend_from_slice(sr);
            }
        }
        let perm: Vec<i64> = (0..width)
            .map(|j| ((j / d) * d + (j % d + half) % d) as i64)
            .collect();
        HeadRope {
            cos: Tensor::from_data(TensorData::new(c, [n, width]), device),
            sin: Tensor::from_data(TensorData::new(s, [n, width]), device),
            perm: Tensor::from_data(TensorData::new(perm, [width]), device),
        }
    }
}

/// Rotates each head of `x` by its token's angles, rotate-half style:
/// `[x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin]` with `x1`, `x2` the two
/// halves of a head (transformers' `q * cos + rotate_half(q) * sin`).
///
/// # Shapes
/// - `x`: `[tokens, heads * head_dim]`
/// - `t`: tables of `[tokens, heads * head_dim]`
/// - output: `[tokens, heads * head_dim]`
pub fn apply_rotary<B: Backend>(x: Tensor<B, 2>, t: &HeadRope<B>) -> Tensor<B, 2> {
    let rotated = x.clone().select(1, t.perm.clone());
    x * t.cos.clone() + rotated * t.sin.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrope_axes_interleave_as_transformers() {
        let cfg = RopeConfig {
            theta: 10_000.0,
            kind: RopeKind::Default,
            mrope_section: Some(vec![24, 20, 20]),
        };
        let r = Rotary::new(&cfg, 128);
        // transformers: H at slice(1, 60, 3), W at slice(2, 60, 3), T elsewhere.
        for j in 0..64 {
            let want = if j % 3 == 1 && j < 60 {
                1
            } else if j % 3 == 2 && j < 60 {
                2
            } else {
                0
            };
            assert_eq!(r.axis[j], want, "frequency {j}");
        }
    }

    /// The gather-based rotation equals the rotate-half definition.
    fn rotation_matches_rotate_half<B: Backend>(device: &B::Device) {
        let cfg = RopeConfig {
            theta: 10_000.0,
            kind: RopeKind::Default,
            mrope_section: None,
        };
        let (heads, d, n) = (3, 8, 5);
        let r = Rotary::new(&cfg, d);
        let pos = Positions::range(7, n);
        let t = r.tables::<B>(&[&pos], heads, heads, device);
        let x: Vec<f32> = (0..n * heads * d)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let got = crate::testing::to_vec(apply_rotary(
            Tensor::<B, 2>::from_data(TensorData::new(x.clone(), [n, heads * d]), device),
            &t.q,
        ));
        let (cos, sin) = r.cos_sin(&[&pos]);
        for i in 0..n {
            for h in 0..heads {
                for j in 0..d {
                    let (f, xi) = (j % (d / 2), |k: usize| x[i * heads * d + h * d + k]);
                    let (c, s) = (cos[i * d / 2 + f], sin[i * d / 2 + f]);
                    let want = if j < d / 2 {
                        xi(j) * c - xi(j + d / 2) * s
                    } else {
                        xi(j) * c + xi(j - d / 2) * s
                    };
                    let g = got[i * heads * d + h * d + j];
                    assert!(
                        (g - want).abs() < 1e-6,
                        "token {i} head {h} dim {j}: {g} vs {want}"
                    );
                }
            }
        }
    }

    crate::backend_tests!(rotation_matches_rotate_half);
}
