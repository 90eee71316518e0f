//! Shared by the codec's integration tests: the `code2wav_tiny` fixture
//! (written by `tools/reference/code2wav.py` with transformers 5.24).

#![allow(dead_code, clippy::unwrap_used)]

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use omnivox_codec::Code2Wav;
use omnivox_model::testing::{Reference, fixture_dir};

/// The fixture's name.
pub const FIXTURE: &str = "code2wav_tiny";

/// f32 end to end: the issue asks for the waveform within 1e-4.
pub const ATOL: f32 = 1e-4;

/// The tiny model, its reference tensors and its codes.
pub struct Fixture<B: Backend> {
    pub model: Code2Wav<B>,
    pub reference: Reference,
    /// `[num_quantizers, frames]` row-major, as the reference stores them.
    pub codes: Vec<i64>,
    pub num_quantizers: usize,
    pub frames: usize,
}

impl<B: Backend> Fixture<B> {
    pub fn load(device: &B::Device) -> Self {
        let model = Code2Wav::<B>::from_pretrained(fixture_dir(FIXTURE), device).unwrap();
        let reference = Reference::open(FIXTURE).unwrap();
        let (codes, shape) = reference.i64("codes").unwrap();
        Self {
            model,
            reference,
            codes,
            num_quantizers: shape[0],
            frames: shape[1],
        }
    }

    /// The codes frame-major (frame `t`'s codes at `t·Q..(t+1)·Q`).
    pub fn frame_major(&self) -> Vec<u32> {
        let (q, n) = (self.num_quantizers, self.frames);
        (0..n * q)
            .map(|i| u32::try_from(self.codes[(i % q) * n + i / q]).unwrap())
            .collect()
    }

    /// The codes as the reference's `[Q, frames]` tensor.
    pub fn codes_tensor(&self, device: &B::Device) -> Tensor<B, 2, Int> {
        let data = TensorData::new(self.codes.clone(), [self.num_quantizers, self.frames]);
        Tensor::from_data(data, device)
    }

    /// A reference tensor, flattened.
    pub fn expected(&self, key: &str) -> Vec<f32> {
        self.reference.f32(key).unwrap().0
    }
}
