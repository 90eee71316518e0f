//! RIFF/WAVE reader: PCM u8/16/24/32 (any container width up to 32 bits),
//! IEEE float 32/64, A-law, µ-law, `WAVE_FORMAT_EXTENSIBLE`, any channel count
//! up to the limit, any rate.
//!
//! Our own rather than symphonia's, because symphonia's WAV reader stops at
//! 26 channels and we want exact control over what an untrusted header can
//! make us do. Streaming WAVs (RIFF/data sizes of 0 or 0xFFFFFFFF, as ffmpeg
//! and our own streaming encoder write them) are read to the end of the input.

use super::Sink;
use crate::pcm::{alaw_to_linear, i16_to_f32, ulaw_to_linear};
use crate::{Error, Format, Result};

const FMT: Format = Format::Wav;
const TAG_PCM: u16 = 1;
const TAG_FLOAT: u16 = 3;
const TAG_ALAW: u16 = 6;
const TAG_MULAW: u16 = 7;
const TAG_EXTENSIBLE: u16 = 0xFFFE;
/// Frames converted per step.
const STEP_FRAMES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    /// Unsigned 8-bit, signed 16/24/32-bit little-endian integers.
    Int {
        bytes: usize,
    },
    Float {
        bytes: usize,
    },
    Alaw,
    Mulaw,
}

#[derive(Debug, Clone, Copy)]
struct Fmt {
    encoding: Encoding,
    channels: u32,
    rate: u32,
    /// As declared; checked against `width * channels` by `check_align`.
    block_align: usize,
    width: usize,
}

impl Fmt {
    /// After the channel count passed the limits: the block align must be
    /// one sample of every channel.
    fn check_align(&self) -> Result<()> {
        let expected = self.width * self.channels as usize;
        if self.block_align != expected {
            return Err(Error::header(
                FMT,
                format!(
                    "block align {} for {} channels of {} bytes (expected {expected})",
                    self.block_align, self.channels, self.width
                ),
            ));
        }
        Ok(())
    }
}

/// Reads the whole file into `sink`.
pub(super) fn decode(bytes: &[u8], sink: &mut Sink) -> Result<()> {
    if bytes.len() < 12 {
        return Err(Error::truncated(FMT, "shorter than a RIFF header"));
    }
    match &bytes[0..4] {
        b"RIFF" => {}
        b"RF64" | b"BW64" => return Err(Error::unsupported(FMT, "RF64/BW64 (64-bit) WAV")),
        _ => return Err(Error::corrupt(FMT, "no RIFF header")),
    }
    if &bytes[8..12] != b"WAVE" {
        return Err(Error::corrupt(FMT, "RIFF file is not WAVE"));
    }
    let riff_size = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let streamed = riff_size == 0 || riff_size == u32::MAX;
    let (fmt, data) = find_chunks(&bytes[12..], streamed)?;
    let fmt = fmt.ok_or_else(|| Error::corrupt(FMT, "no `fmt ` chunk before the data"))?;
    sink.validate(fmt.rate, fmt.channels)?;
    fmt.check_align()?;
    let data = data.ok_or_else(|| Error::corrupt(FMT, "no `data` chunk"))?;
    if !data.len().is_multiple_of(fmt.block_align) {
        return Err(Error::truncated(FMT, "the data ends inside a sample frame"));
    }
    sink.start(fmt.rate, fmt.channels)?;
    let frames = (data.len() / fmt.block_align) as u64;
    if frames > sink.frames_left() {
        return Err(sink.too_long());
    }
    let mut buf = Vec::with_capacity(STEP_FRAMES * fmt.channels as usize);
    for block in data.chunks(STEP_FRAMES * fmt.block_align) {
        buf.clear();
        convert(block, fmt.encoding, &mut buf);
        sink.push_interleaved(&buf)?;
    }
    Ok(())
}

/// Walks the chunks after `WAVE`: returns the parsed `fmt ` and the data bytes.
/// `streamed`: the RIFF size is a placeholder, so a data size of 0 is one too.
fn find_chunks(mut rest: &[u8], streamed: bool) -> Result<(Option<Fmt>, Option<&[u8]>)> {
    let mut fmt = None;
    while rest.len() >= 8 {
        let id = &rest[0..4];
        let size = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let body = &rest[8..];
        if id == b"data" {
            // 0xFFFFFFFF (and 0 in a streamed file) mean "until the end".
            let len = match size {
                u32::MAX => body.len(),
                0 if streamed => body.len(),
                n if n as usize > body.len() => {
                    return Err(Error::truncated(
                        FMT,
                        format!("the data chunk claims {n} bytes but {} remain", body.len()),
                    ));
                }
                n => n as usize,
            };
            return Ok((fmt, Some(&body[..len])));
        }
        let len = size as usize;
        if len > body.len() {
            return Err(Error::truncated(
                FMT,
                format!(
                    "the `{}` chunk claims {len} bytes but {} remain",
                    fourcc(id),
                    body.len()
                ),
            ));
        }
        if id == b"fmt " {
            fmt = Some(parse_fmt(&body[..len])?);
        }
        // Chunks are padded to an even length; a missing final pad byte is fine.
        let next = (len + (len & 1)).min(body.len());
        rest = &body[next..];
    }
    Ok((fmt, None))
}

fn fourcc(id: &[u8]) -> String {
    id.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn parse_fmt(b: &[u8]) -> Result<Fmt> {
    if b.len() < 16 {
        return Err(Error::header(
            FMT,
            format!("`fmt ` chunk of {} bytes (at least 16)", b.len()),
        ));
    }
    let mut tag = u16_at(b, 0);
    let channels = u32::from(u16_at(b, 2));
    let rate = u32_at(b, 4);
    let block_align = usize::from(u16_at(b, 12));
    let bits = usize::from(u16_at(b, 14));
    if tag == TAG_EXTENSIBLE {
        if b.len() < 40 {
            return Err(Error::header(
                FMT,
                "WAVE_FORMAT_EXTENSIBLE without its 40-byte body",
            ));
        }
        // The sub-format GUID starts with the plain format tag.
        tag = u16_at(b, 24);
    }
    if channels == 0 {
        return Err(Error::header(FMT, "zero channels"));
    }
    if rate == 0 {
        return Err(Error::header(FMT, "sample rate of 0 Hz"));
    }
    let encoding = match (tag, bits) {
        (TAG_PCM, 1..=8) => Encoding::Int { bytes: 1 },
        (TAG_PCM, 9..=16) => Encoding::Int { bytes: 2 },
        (TAG_PCM, 17..=24) => Encoding::Int { bytes: 3 },
        (TAG_PCM, 25..=32) => Encoding::Int { bytes: 4 },
        (TAG_FLOAT, 32) => Encoding::Float { bytes: 4 },
        (TAG_FLOAT, 64) => Encoding::Float { bytes: 8 },
        (TAG_ALAW, 8) => Encoding::Alaw,
        (TAG_MULAW, 8) => Encoding::Mulaw,
        (TAG_PCM | TAG_FLOAT | TAG_ALAW | TAG_MULAW, _) => {
            return Err(Error::unsupported(
                FMT,
                format!("{bits}-bit samples with format tag {tag}"),
            ));
        }
        _ => {
            return Err(Error::unsupported(
                FMT,
                format!("codec with format tag {tag:#06x}"),
            ));
        }
    };
    let width = match encoding {
        Encoding::Int { bytes } | Encoding::Float { bytes } => bytes,
        Encoding::Alaw | Encoding::Mulaw => 1,
    };
    Ok(Fmt {
        encoding,
        channels,
        rate,
        block_align,
        width,
    })
}

/// Converts whole interleaved frames to f32, appending to `out`.
fn convert(block: &[u8], encoding: Encoding, out: &mut Vec<f32>) {
    match encoding {
        Encoding::Int { bytes: 1 } => {
            out.extend(block.iter().map(|&x| (f32::from(x) - 128.0) / 128.0))
        }
        Encoding::Int { bytes: 2 } => out.extend(
            block
                .chunks_exact(2)
                .map(|s| i16_to_f32(i16::from_le_bytes([s[0], s[1]]))),
        ),
        Encoding::Int { bytes: 3 } => out.extend(block.chunks_exact(3).map(|s| {
            let v = i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8;
            v as f32 / 8_388_608.0
        })),
        Encoding::Int { .. } => out.extend(block.chunks_exact(4).map(|s| {
            (f64::from(i32::from_le_bytes([s[0], s[1], s[2], s[3]])) / 2_147_483_648.0) as f32
        })),
        Encoding::Float { bytes: 4 } => out.extend(
            block
                .chunks_exact(4)
                .map(|s| f32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        ),
        Encoding::Float { .. } => out.extend(block.chunks_exact(8).map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            f64::from_le_bytes(a) as f32
        })),
        Encoding::Alaw => out.extend(block.iter().map(|&x| i16_to_f32(alaw_to_linear(x)))),
        Encoding::Mulaw => out.extend(block.iter().map(|&x| i16_to_f32(ulaw_to_linear(x)))),
    }
}
