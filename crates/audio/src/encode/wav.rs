//! 16-bit PCM mono WAV. A whole file carries exact RIFF and data sizes; a
//! stream starts with a header whose sizes are 0xFFFFFFFF ("unknown"), which
//! ffmpeg, browsers and our own reader play to the end of the bytes.

use super::{Backend, Mode};
use crate::Result;
use crate::pcm::f32_to_i16;

pub(crate) struct WavEncoder {
    rate: u32,
    mode: Mode,
    header_sent: bool,
    /// Whole mode: the samples, written at `finish` behind the exact header.
    body: Vec<u8>,
    samples: u64,
}

impl WavEncoder {
    pub fn new(rate: u32, mode: Mode) -> Self {
        WavEncoder {
            rate,
            mode,
            header_sent: false,
            body: Vec::new(),
            samples: 0,
        }
    }
}

/// The canonical 44-byte header for 16-bit mono PCM; `data_len: None` writes
/// the streaming sizes.
pub(crate) fn header(rate: u32, data_len: Option<u32>) -> [u8; 44] {
    let mut h = [0u8; 44];
    let data = data_len.unwrap_or(u32::MAX);
    let riff = data_len.map_or(u32::MAX, |d| d.saturating_add(36));
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

impl Backend for WavEncoder {
    fn push(&mut self, samples: &[f32]) -> Result<(Vec<u8>, u64)> {
        self.samples += samples.len() as u64;
        let pcm = samples.iter().flat_map(|&x| f32_to_i16(x).to_le_bytes());
        if self.mode == Mode::Whole {
            self.body.extend(pcm);
            return Ok((Vec::new(), 0));
        }
        let mut out = Vec::with_capacity(samples.len() * 2 + 44);
        if !self.header_sent {
            out.extend_from_slice(&header(self.rate, None));
            self.header_sent = true;
        }
        out.extend(pcm);
        Ok((out, self.samples))
    }

    fn finish(&mut self) -> Result<(Vec<u8>, u64)> {
        match self.mode {
            Mode::Stream if self.header_sent => Ok((Vec::new(), self.samples)),
            // An empty stream is still a valid (empty) WAV file.
            Mode::Stream => {
                self.header_sent = true;
                Ok((header(self.rate, None).to_vec(), 0))
            }
            Mode::Whole => {
                let len =
                    u32::try_from(self.body.len()).map_err(|_| crate::Error::InvalidOption {
                        what: "WAV length",
                        detail: "more than 4 GiB of audio does not fit a WAV file".into(),
                    })?;
                let mut out = header(self.rate, Some(len)).to_vec();
                out.append(&mut self.body);
                Ok((out, self.samples))
            }
        }
    }
}
