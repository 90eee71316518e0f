//! NF4: bitsandbytes' 4-bit NormalFloat weights.
//!
//! Reference: bitsandbytes 0.50, `functional.py` (`quantize_4bit`,
//! `dequantize_4bit`, `get_4bit_type("nf4")`, `quantize_blockwise` /
//! `dequantize_blockwise`, `create_dynamic_map`) and the portable kernels in
//! `backends/default/ops.py`. The weight `[out, in]` is flattened row-major
//! and cut into blocks of `blocksize` values (64 by default; the last block
//! may be partial). Per block:
//!
//! - `absmax = max |x|`; `scaled = clamp(x · (1 / max(absmax, 1e-38)), -1, 1)`;
//! - code index = the number of midpoints between consecutive [`NF4_CODE`]
//!   entries that are `< scaled` (`torch.bucketize`): the nearest code value,
//!   ties to the lower one;
//! - two indices per byte, element `2j` in the high nibble of byte `j`; an odd
//!   count is padded with the index of `0.0`;
//! - dequantized value = `code[index] · absmax` (f32).
//!
//! Double quant (`compress_statistics=True`, transformers'
//! `bnb_4bit_use_double_quant`): `offset = mean(absmax)`, then
//! `absmax - offset` is quantized block-wise (256 per block) to 8 bits with
//! bitsandbytes' signed dynamic map ([`dynamic_code`]), by the same
//! nearest-code rule; `absmax ≈ code8[q] · absmax2[b / 256] + offset`.
//!
//! Differences from bitsandbytes, measured by `tests/quantization.rs`: its
//! CPU kernel for the 8-bit nested codes (0.50) looks values up in a
//! 65 536-bin table rather than taking the nearest code, so near ties a code
//! can differ by one step (ours is never farther from the value); torch
//! computes the dynamic map with vectorised `linspace`, whose last bit
//! depends on the CPU's vector width, where we round the exact values; and
//! `mean` is summed in f64 here. Dequantizing a bitsandbytes checkpoint uses
//! its stored tables and is bit-exact.

use super::weight::{chunked_product, tokens_major};
use crate::error::{Error, Result};
use burn::module::Module;
use burn::tensor::{DType, Int, Tensor, TensorData, backend::Backend};

/// The NormalFloat4 code: bitsandbytes' `get_4bit_type("nf4")` table,
/// verbatim (quantiles of N(0, 1), normalised to [-1, 1]).
#[allow(clippy::excessive_precision)]
pub const NF4_CODE: [f32; 16] = [
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
];

/// bitsandbytes' signed 8-bit dynamic map (`create_dynamic_map()`: 7
/// exponent bits), sorted: for `i` in `0..7`, the `2^i` midpoints of
/// `linspace(0.1, 1, 2^i + 1)` times `10^(i-6)`, with both signs, plus `0`
/// and `1`. Computed in f64 and rounded once to f32.
pub fn dynamic_code() -> Vec<f32> {
    let mut v = Vec::with_capacity(256);
    for i in 0..7i32 {
        let points = (1usize << i) + 1;
        let scale = 10f64.powi(i - 6);
        for j in 0..points - 1 {
            let mean = 0.1 + 0.9 * (j as f64 + 0.5) / (points - 1) as f64;
            let x = (scale * mean) as f32;
            v.push(x);
            v.push(-x);
        }
    }
    v.push(0.0);
    v.push(1.0);
    v.sort_by(f32::total_cmp);
    v
}

/// Block-wise nearest-code quantization of `values` (bitsandbytes' portable
/// `quantize_blockwise` / `quantize_4bit` rule): `(indices, absmax)`.
pub fn quantize_blocks(values: &[f32], blocksize: usize, code: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let mids: Vec<f32> = code.windows(2).map(|p| (p[0] + p[1]) / 2.0).collect();
    let nearest = |x: f32| mids.partition_point(|&m| m < x) as u8;
    let mut idx = Vec::with_capacity(values.len());
    let mut absmax = Vec::with_capacity(values.len().div_ceil(blocksize.max(1)));
    for block in values.chunks(blocksize.max(1)) {
        let m = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        absmax.push(m);
        let inv = 1.0 / m.max(1e-38);
        idx.extend(block.iter().map(|&v| nearest((v * inv).clamp(-1.0, 1.0))));
    }
    (idx, absmax)
}

/// The block scales of an NF4 weight, host side.
#[derive(Debug, Clone, PartialEq)]
pub enum HostAbsmax {
    /// f32 per block.
    Plain(Vec<f32>),
    /// bitsandbytes' nested state.
    Nested {
        /// 8-bit code per block.
        codes: Vec<u8>,
        /// The 256-entry code (`nested_quant_map`).
        code: Vec<f32>,
        /// f32 per group of `blocksize` blocks (`nested_absmax`).
        absmax: Vec<f32>,
        /// Added after dequantizing (`nested_offset`).
        offset: f32,
        /// Blocks per nested block (`nested_blocksize`, 256).
        blocksize: usize,
    },
}

/// An NF4 (or FP4) weight on the host: what the quantizer produces and what
/// a bitsandbytes checkpoint holds, before upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Nf4Host {
    /// `[out, in]`.
    pub shape: [usize; 2],
    /// Values per absmax.
    pub blocksize: usize,
    /// The 16-entry code (`quant_map`).
    pub code: [f32; 16],
    /// `ceil(out · in / 2)` bytes, high nibble first.
    pub packed: Vec<u8>,
    /// Block scales.
    pub absmax: HostAbsmax,
}

impl Nf4Host {
    /// Quantizes a row-major `[out, in]` weight to NF4 as bitsandbytes'
    /// `quantize_4bit(w, blocksize, compress_statistics = double_quant,
    /// quant_type = "nf4")`.
    pub fn quantize(w: &[f32], shape: [usize; 2], blocksize: usize, double_quant: bool) -> Self {
        let (idx, absmax) = quantize_blocks(w, blocksize, &NF4_CODE);
        let pad = quantize_blocks(&[0.0], 1, &NF4_CODE).0[0];
        let packed = idx
            .chunks(2)
            .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(pad))
            .collect();
        let absmax = if double_quant {
            nest(&absmax)
        } else {
            HostAbsmax::Plain(absmax)
        };
        Self {
            shape,
            blocksize,
            code: NF4_CODE,
            packed,
            absmax,
        }
    }

    /// Number of absmax blocks.
    pub fn blocks(&self) -> usize {
        (self.shape[0] * self.shape[1]).div_ceil(self.blocksize.max(1))
    }

    /// Checks that every length agrees with the shape and block sizes.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let n = self.shape[0] * self.shape[1];
        if self.blocksize == 0 || !self.blocksize.is_multiple_of(2) {
            return Err(format!(
                "block size {} is not a positive even number",
                self.blocksize
            ));
        }
        if self.packed.len() != n.div_ceil(2) {
            let want = n.div_ceil(2);
            return Err(format!(
                "{} packed bytes for {n} values (expected {want})",
                self.packed.len()
            ));
        }
        let blocks = self.blocks();
        match &self.absmax {
            HostAbsmax::Plain(a) if a.len() != blocks => {
                Err(format!("{} absmax values for {blocks} blocks", a.len()))
            }
            HostAbsmax::Nested {
                codes,
                code,
                absmax,
                blocksize,
                ..
            } => {
                let groups = blocks.div_ceil((*blocksize).max(1));
                if *blocksize == 0 || codes.len() != blocks || code.len() != 256 {
                    Err(format!(
                        "nested absmax: {} codes for {blocks} blocks, a {}-entry code, block size {blocksize}",
                        codes.len(),
                        code.len()
                    ))
                } else if absmax.len() != groups {
                    Err(format!(
                        "{} nested absmax values for {groups} groups",
                        absmax.len()
                    ))
                } else {
                    Ok(())
                }
            }
            HostAbsmax::Plain(_) => Ok(()),
        }
    }

    /// The dequantized block scales (f32, as bitsandbytes computes them).
    pub fn block_absmax(&self) -> Vec<f32> {
        match &self.absmax {
            HostAbsmax::Plain(a) => a.clone(),
            HostAbsmax::Nested {
                codes,
                code,
                absmax,
                offset,
                blocksize,
            } => codes
                .iter()
                .enumerate()
                .map(|(b, &q)| code[q as usize] * absmax[b / blocksize] + offset)
                .collect(),
        }
    }

    /// The whole weight dequantized on the host (row-major `[out, in]`): the
    /// plain-loop statement of the format.
    pub fn dequantize(&self) -> Vec<f32> {
        let n = self.shape[0] * self.shape[1];
        let scales = self.block_absmax();
        (0..n)
            .map(|i| {
                let byte = self.packed[i / 2];
                let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
                self.code[nibble as usize] * scales[i / self.blocksize]
            })
            .collect()
    }
}

/// Double quant of block scales: mean offset, then 8-bit dynamic codes in
/// blocks of [`NESTED_BLOCKSIZE`](super::NESTED_BLOCKSIZE).
fn nest(absmax: &[f32]) -> HostAbsmax {
    let sum: f64 = absmax.iter().map(|&a| f64::from(a)).sum();
    let offset = (sum / absmax.len().max(1) as f64) as f32;
    let centered: Vec<f32> = absmax.iter().map(|&a| a - offset).collect();
    let code = dynamic_code();
    let blocksize = super::NESTED_BLOCKSIZE;
    let (codes, absmax2) = quantize_blocks(&centered, blocksize, &code);
    HostAbsmax::Nested {
        codes,
        code,
        absmax: absmax2,
        offset,
        blocksize,
    }
}

/// Block scales on the device.
#[derive(Module, Debug)]
pub enum Nf4Absmax<B: Backend> {
    /// f32 `[blocks]`.
    Plain(Tensor<B, 1>),
    /// bitsandbytes' nested state.
    Nested(NestedAbsmax<B>),
}

/// Nested (double-quantized) block scales on the device:
/// `absmax[b] = code[codes[b]] · absmax2[b / blocksize] + offset`.
#[derive(Module, Debug)]
pub struct NestedAbsmax<B: Backend> {
    /// `[blocks]`, dtype U8.
    pub codes: Tensor<B, 1, Int>,
    /// `[256]`.
    pub code: Tensor<B, 1>,
    /// `[ceil(blocks / blocksize)]`.
    pub absmax: Tensor<B, 1>,
    /// `nested_offset`.
    pub offset: f32,
    /// Blocks per nested block.
    pub blocksize: usize,
}

/// An NF4 weight `[out, in]` on the device, in bitsandbytes' layout.
#[derive(Module, Debug)]
pub struct Nf4Weight<B: Backend> {
    /// `[ceil(out · in / 2)]`, dtype U8, high nibble first.
    pub packed: Tensor<B, 1, Int>,
    /// `[256, 2]`: the two code values of each byte (`code[b >> 4]`,
    /// `code[b & 15]`), so one `select` decodes a byte.
    pub pair_lut: Tensor<B, 2>,
    /// Block scales.
    pub absmax: Nf4Absmax<B>,
    /// Output features (rows).
    pub out_features: usize,
    /// Input features (columns).
    pub in_features: usize,
    /// Values per absmax block.
    pub blocksize: usize,
    /// Rows dequantized per matmul step (a multiple of the rows that align
    /// with absmax blocks and nested groups).
    pub chunk_rows: usize,
}

impl<B: Backend> Nf4Weight<B> {
    /// Uploads a host weight after checking it; chunks of at most
    /// `chunk_bytes` of f32 (at least one aligned group of rows).
    pub fn from_host(h: &Nf4Host, chunk_bytes: usize, device: &B::Device) -> Result<Self> {
        h.validate().map_err(Error::InvalidInput)?;
        let [out, inp] = h.shape;
        let lut: Vec<f32> = (0..256usize)
            .flat_map(|b| [h.code[b >> 4], h.code[b & 0x0f]])
            .collect();
        let u8s = |v: &[u8]| {
            Tensor::<B, 1, Int>::from_data(
                TensorData::new(v.to_vec(), [v.len()]),
                (device, DType::U8),
            )
        };
        let f32s =
            |v: &[f32]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [v.len()]), device);
        let (absmax, align) = match &h.absmax {
            HostAbsmax::Plain(a) => (Nf4Absmax::Plain(f32s(a)), h.blocksize),
            HostAbsmax::Nested {
                codes,
                code,
                absmax,
                offset,
                blocksize,
            } => (
                Nf4Absmax::Nested(NestedAbsmax {
                    codes: u8s(codes),
                    code: f32s(code),
                    absmax: f32s(absmax),
                    offset: *offset,
                    blocksize: *blocksize,
                }),
                h.blocksize * blocksize,
            ),
        };
        let unit = lcm(inp.max(1), align) / inp.max(1);
        Ok(Self {
            packed: u8s(&h.packed),
            pair_lut: Tensor::from_data(TensorData::new(lut, [256, 2]), device),
            absmax,
            out_features: out,
            in_features: inp,
            blocksize: h.blocksize,
            chunk_rows: super::chunk_rows(out, inp, unit, chunk_bytes),
        })
    }

    /// Bytes on the device: packed codes, the byte table, the scales.
    pub fn stored_bytes(&self) -> usize {
        let n = self.out_features * self.in_features;
        let blocks = n.div_ceil(self.blocksize);
        let scales = match &self.absmax {
            Nf4Absmax::Plain(_) => 4 * blocks,
            Nf4Absmax::Nested(s) => blocks + 4 * 256 + 4 * blocks.div_ceil(s.blocksize) + 4,
        };
        n.div_ceil(2) + 256 * 2 * 4 + scales
    }

    /// `x Wᵀ`, dequantizing `chunk_rows` rows at a time.
    ///
    /// # Shapes
    /// - `x`: `[tokens, in]`
    /// - output: `[tokens, out]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let yt = chunked_product(x, self.out_features, self.chunk_rows, |r0, n| {
            self.dequant_rows(r0, n)
        });
        tokens_major(yt)
    }

    /// The whole weight as f32 `[out, in]`. Materialises the full matrix:
    /// for tests and tools.
    pub fn dequantize(&self) -> Tensor<B, 2> {
        let parts: Vec<Tensor<B, 2>> = (0..self.out_features)
            .step_by(self.chunk_rows.max(1))
            .map(|r0| self.dequant_rows(r0, self.chunk_rows.min(self.out_features - r0)))
            .collect();
        Tensor::cat(parts, 0)
    }

    /// Rows `r0..r0 + n` as f32 `[n, in]`. `r0 · in` is a multiple of the
    /// block size (and of the nested group), which `chunk_rows` guarantees.
    fn dequant_rows(&self, r0: usize, n: usize) -> Tensor<B, 2> {
        let inp = self.in_features;
        let (e0, len) = (r0 * inp, n * inp);
        let bytes = len.div_ceil(2);
        let values = self
            .pair_lut
            .clone()
            .select(0, self.packed.clone().narrow(0, e0 / 2, bytes))
            .reshape([2 * bytes]);
        let bs = self.blocksize;
        let blocks = len.div_ceil(bs);
        let values = pad_to(values, blocks * bs).reshape([blocks, bs]);
        let scales = self.absmax_range(e0 / bs, blocks).reshape([blocks, 1]);
        let w = (values * scales).reshape([blocks * bs]);
        let w = if blocks * bs > len {
            w.narrow(0, 0, len)
        } else {
            w
        };
        w.reshape([n, inp])
    }

    /// Dequantized scales of blocks `b0..b0 + n` (`b0` a multiple of the
    /// nested block size).
    fn absmax_range(&self, b0: usize, n: usize) -> Tensor<B, 1> {
        match &self.absmax {
            Nf4Absmax::Plain(a) => a.clone().narrow(0, b0, n),
            Nf4Absmax::Nested(s) => {
                let bs = s.blocksize;
                let groups = n.div_ceil(bs);
                let codes = s.codes.clone().narrow(0, b0, n);
                let v = pad_to(s.code.clone().select(0, codes), groups * bs).reshape([groups, bs]);
                let a = s
                    .absmax
                    .clone()
                    .narrow(0, b0 / bs, groups)
                    .reshape([groups, 1]);
                let v = (v * a).reshape([groups * bs]);
                let v = if groups * bs > n {
                    v.narrow(0, 0, n)
                } else {
                    v
                };
                v.add_scalar(s.offset)
            }
        }
    }
}

/// `v` extended with zeros to `len` (unchanged when already that long).
fn pad_to<B: Backend>(v: Tensor<B, 1>, len: usize) -> Tensor<B, 1> {
    let have = v.dims()[0];
    if have >= len {
        return v;
    }
    let zeros = Tensor::zeros([len - have], &v.device());
    Tensor::cat(vec![v, zeros], 0)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b).max(1) * b
}
