//! FLAC on flacenc: 16-bit mono, fixed 2048-sample blocks. A whole file's
//! STREAMINFO carries the sample count, frame sizes and MD5; a stream's
//! header leaves them "unknown" (0), as the format allows, and each chunk is
//! whole frames.

use super::{Backend, Mode};
use crate::pcm::f32_to_i16;
use crate::{Error, Format, Result};
use flacenc::bitsink::ByteSink;
use flacenc::component::{BitRepr, Stream, StreamInfo};
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};

const FMT: Format = Format::Flac;
/// Samples per FLAC frame: 85 ms at 24 kHz.
const BLOCK: usize = 2048;

pub(crate) struct FlacEncoder {
    config: Verified<flacenc::config::Encoder>,
    info: StreamInfo,
    buf: (FrameBuf, Context),
    mode: Mode,
    /// Stream mode: the header, until it goes out with the first frames.
    stream_header: Option<Vec<u8>>,
    pending: Vec<i32>,
    frames: usize,
    encoded: u64,
    /// Whole mode: the frames, written behind the final header at `finish`.
    body: Vec<u8>,
}

fn fail(e: impl std::fmt::Debug) -> Error {
    Error::encode(FMT, format!("{e:?}"))
}

/// "fLaC" and a STREAMINFO block (the only metadata block).
fn header(info: &StreamInfo) -> Result<Vec<u8>> {
    let stream = Stream::with_stream_info(info.clone());
    let mut sink = ByteSink::new();
    stream.write(&mut sink).map_err(fail)?;
    Ok(sink.into_inner())
}

impl FlacEncoder {
    pub fn new(rate: u32, mode: Mode) -> Result<Self> {
        let mut config = flacenc::config::Encoder::default();
        config.block_size = BLOCK;
        let config = config.into_verified().map_err(|(_, e)| fail(e))?;
        let mut info = StreamInfo::new(rate as usize, 1, 16).map_err(fail)?;
        info.set_block_sizes(BLOCK, BLOCK).map_err(fail)?;
        // A stream's header: unknown length, frame sizes and MD5 (all zero).
        let stream_header = match mode {
            Mode::Stream => {
                let mut h = info.clone();
                h.set_frame_sizes(0, 0).map_err(fail)?;
                Some(header(&h)?)
            }
            Mode::Whole => None,
        };
        let buf = (
            FrameBuf::with_size(1, BLOCK).map_err(fail)?,
            Context::new(16, 1),
        );
        Ok(FlacEncoder {
            config,
            info,
            buf,
            mode,
            stream_header,
            pending: Vec::new(),
            frames: 0,
            encoded: 0,
            body: Vec::new(),
        })
    }

    /// Encodes `pending` in whole blocks (and, when `last`, the short rest).
    fn encode_blocks(&mut self, last: bool) -> Result<Vec<u8>> {
        let mut sink = ByteSink::new();
        let mut offset = 0;
        while self.pending.len() - offset >= BLOCK || (last && offset < self.pending.len()) {
            let n = BLOCK.min(self.pending.len() - offset);
            self.buf
                .fill_interleaved(&self.pending[offset..offset + n])
                .map_err(fail)?;
            offset += n;
            let frame = flacenc::encode_fixed_size_frame(
                &self.config,
                &self.buf.0,
                self.frames,
                &self.info,
            )
            .map_err(fail)?;
            self.info.update_frame_info(&frame);
            frame.write(&mut sink).map_err(fail)?;
            self.frames += 1;
            self.encoded += n as u64;
        }
        self.pending.drain(..offset);
        let mut out = self.stream_header.take().unwrap_or_default();
        out.extend_from_slice(sink.as_slice());
        Ok(out)
    }
}

impl Backend for FlacEncoder {
    fn push(&mut self, samples: &[f32]) -> Result<(Vec<u8>, u64)> {
        self.pending
            .extend(samples.iter().map(|&x| i32::from(f32_to_i16(x))));
        let bytes = self.encode_blocks(false)?;
        if self.mode == Mode::Whole {
            self.body.extend_from_slice(&bytes);
            return Ok((Vec::new(), self.encoded));
        }
        Ok((bytes, self.encoded))
    }

    fn finish(&mut self) -> Result<(Vec<u8>, u64)> {
        let bytes = self.encode_blocks(true)?;
        if self.mode == Mode::Stream {
            return Ok((bytes, self.encoded));
        }
        self.body.extend_from_slice(&bytes);
        if self.frames == 0 {
            self.info.set_frame_sizes(0, 0).map_err(fail)?;
        }
        // The frames lowered the minimum to the last block's size, which
        // STREAMINFO excludes.
        self.info.set_block_sizes(BLOCK, BLOCK).map_err(fail)?;
        self.info.set_total_samples(self.encoded as usize);
        self.info.set_md5_digest(&self.buf.1.md5_digest());
        let mut out = header(&self.info)?;
        out.append(&mut self.body);
        Ok((out, self.encoded))
    }
}
