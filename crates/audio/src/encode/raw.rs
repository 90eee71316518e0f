//! Headerless output: 16-bit little-endian PCM, G.711 µ-law and A-law. The
//! caller's samples arrive already at the format's rate (the stream encoder
//! resamples).

use super::Backend;
use crate::pcm::{f32_to_i16, linear_to_alaw, linear_to_ulaw};
use crate::{Format, Result};

pub(crate) struct RawEncoder {
    format: Format,
    samples: u64,
}

impl RawEncoder {
    pub fn new(format: Format) -> Self {
        RawEncoder { format, samples: 0 }
    }
}

impl Backend for RawEncoder {
    fn push(&mut self, samples: &[f32]) -> Result<(Vec<u8>, u64)> {
        self.samples += samples.len() as u64;
        let bytes = match self.format {
            Format::Pcm16 => samples
                .iter()
                .flat_map(|&x| f32_to_i16(x).to_le_bytes())
                .collect(),
            Format::Mulaw => samples
                .iter()
                .map(|&x| linear_to_ulaw(f32_to_i16(x)))
                .collect(),
            _ => samples
                .iter()
                .map(|&x| linear_to_alaw(f32_to_i16(x)))
                .collect(),
        };
        Ok((bytes, self.samples))
    }

    fn finish(&mut self) -> Result<(Vec<u8>, u64)> {
        Ok((Vec::new(), self.samples))
    }
}
