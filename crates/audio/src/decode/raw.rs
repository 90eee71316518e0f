//! Headerless input: 16-bit little-endian PCM, G.711 µ-law and A-law, mono.
//! Nothing in the bytes says the rate: it is the caller's
//! ([`crate::DecodeOptions::raw_rate`]) or the format's convention.

use super::Sink;
use crate::pcm::{alaw_to_linear, i16_to_f32, ulaw_to_linear};
use crate::{DecodeOptions, Error, Format, Result};

const STEP: usize = 8192;

pub(super) fn decode(
    bytes: &[u8],
    format: Format,
    opts: &DecodeOptions,
    sink: &mut Sink,
) -> Result<()> {
    let rate = opts
        .raw_rate
        .or(format.implied_rate())
        .ok_or_else(|| Error::header(format, "no sample rate given for headerless audio"))?;
    sink.start(rate, 1)?;
    let width = if format == Format::Pcm16 { 2 } else { 1 };
    if !bytes.len().is_multiple_of(width) {
        return Err(Error::truncated(
            format,
            "an odd number of bytes for 16-bit samples",
        ));
    }
    if (bytes.len() / width) as u64 > sink.frames_left() {
        return Err(sink.too_long());
    }
    let mut buf = Vec::with_capacity(STEP);
    for block in bytes.chunks(STEP * width) {
        buf.clear();
        match format {
            Format::Pcm16 => buf.extend(
                block
                    .chunks_exact(2)
                    .map(|s| i16_to_f32(i16::from_le_bytes([s[0], s[1]]))),
            ),
            Format::Mulaw => buf.extend(block.iter().map(|&x| i16_to_f32(ulaw_to_linear(x)))),
            _ => buf.extend(block.iter().map(|&x| i16_to_f32(alaw_to_linear(x)))),
        }
        sink.push_mono(&buf)?;
    }
    Ok(())
}
