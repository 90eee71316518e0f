//! Ogg Opus (RFC 7845) on libopus and the `ogg` crate: 20 ms mono frames,
//! `pre_skip` = the encoder's look-ahead, granule positions counting 48 kHz
//! samples including the pre-skip, and the end-of-stream page's granule
//! trimming the final frame's padding. Every push that completes a frame
//! ends an Ogg page, so a client can play the stream as pages arrive.

use super::{Backend, EncodeOptions, sanitize};
use crate::{Error, Format, Result};
use ogg::writing::{PacketWriteEndInfo, PacketWriter};

const FMT: Format = Format::Opus;
const SERIAL: u32 = 0x6f76_7831; // "ovx1": one logical stream, any serial will do.
/// Largest Opus packet libopus writes (RFC 6716 §3.2.1 allows 1275 bytes per frame).
const MAX_PACKET: usize = 1500;

pub(crate) struct OggOpusEncoder {
    encoder: opus::Encoder,
    writer: PacketWriter<'static, Vec<u8>>,
    /// Samples per 20 ms frame at `rate`.
    frame: usize,
    /// 48 kHz samples per `rate` sample.
    scale: u64,
    /// The encoder's look-ahead, at `rate`.
    lookahead: u64,
    pending: Vec<f32>,
    /// Samples (at `rate`) received and packets written.
    received: u64,
    packets: u64,
    packet: Vec<u8>,
}

impl OggOpusEncoder {
    /// `rate` must be one libopus takes (8/12/16/24/48 kHz); `input_rate` is
    /// recorded in the header for information.
    pub fn new(rate: u32, input_rate: u32, opts: &EncodeOptions) -> Result<Self> {
        let bitrate = opts.bitrate.unwrap_or(64_000);
        if !(6_000..=510_000).contains(&bitrate) {
            return Err(Error::InvalidOption {
                what: "Opus bitrate",
                detail: format!("{bitrate} bit/s (accepted: 6000 to 510000)"),
            });
        }
        let fail = |e: opus::Error| Error::encode(FMT, e);
        let mut encoder = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Audio)
            .map_err(fail)?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(bitrate as i32))
            .map_err(fail)?;
        let lookahead = u64::try_from(encoder.get_lookahead().map_err(fail)?).unwrap_or(0);
        let scale = u64::from(48_000 / rate);
        let mut writer = PacketWriter::new(Vec::new());
        let head = opus_head(lookahead * scale, input_rate);
        let tags = opus_tags();
        let io = |e: std::io::Error| Error::encode(FMT, e);
        writer
            .write_packet(head, SERIAL, PacketWriteEndInfo::EndPage, 0)
            .map_err(io)?;
        writer
            .write_packet(tags, SERIAL, PacketWriteEndInfo::EndPage, 0)
            .map_err(io)?;
        Ok(OggOpusEncoder {
            encoder,
            writer,
            frame: rate as usize / 50,
            scale,
            lookahead,
            pending: Vec::new(),
            received: 0,
            packets: 0,
            packet: vec![0; MAX_PACKET],
        })
    }

    /// Encodes whole frames from `pending`; `end_stream` pads the last one and
    /// writes the end-of-stream page.
    fn encode_frames(&mut self, end_stream: bool) -> Result<Vec<u8>> {
        let frame = self.frame;
        let frames_needed = if end_stream {
            // Enough frames to cover the input plus the look-ahead.
            (self.received + self.lookahead)
                .div_ceil(frame as u64)
                .max(self.packets + 1)
                - self.packets
        } else {
            (self.pending.len() / frame) as u64
        };
        if end_stream {
            self.pending.resize(frames_needed as usize * frame, 0.0);
        }
        let mut offset = 0;
        for i in 0..frames_needed {
            let pcm = &self.pending[offset..offset + frame];
            offset += frame;
            let n = self
                .encoder
                .encode_float(pcm, &mut self.packet)
                .map_err(|e| Error::encode(FMT, e))?;
            self.packets += 1;
            let last = i + 1 == frames_needed;
            let (info, granule) = if last && end_stream {
                let end = (self.lookahead + self.received) * self.scale;
                (PacketWriteEndInfo::EndStream, end)
            } else if last {
                (
                    PacketWriteEndInfo::EndPage,
                    self.packets * frame as u64 * self.scale,
                )
            } else {
                (
                    PacketWriteEndInfo::NormalPacket,
                    self.packets * frame as u64 * self.scale,
                )
            };
            self.writer
                .write_packet(self.packet[..n].to_vec(), SERIAL, info, granule)
                .map_err(|e| Error::encode(FMT, e))?;
        }
        self.pending.drain(..offset);
        Ok(std::mem::take(self.writer.inner_mut()))
    }

    /// Input samples fully decodable from the pages written so far.
    fn end(&self) -> u64 {
        (self.packets * self.frame as u64)
            .saturating_sub(self.lookahead)
            .min(self.received)
    }
}

impl Backend for OggOpusEncoder {
    fn push(&mut self, samples: &[f32]) -> Result<(Vec<u8>, u64)> {
        self.received += samples.len() as u64;
        self.pending.extend(samples.iter().map(|&x| sanitize(x)));
        let bytes = self.encode_frames(false)?;
        Ok((bytes, self.end()))
    }

    fn finish(&mut self) -> Result<(Vec<u8>, u64)> {
        let bytes = self.encode_frames(true)?;
        Ok((bytes, self.received))
    }
}

/// The identification header (RFC 7845 §5.1): version 1, mono, family 0.
fn opus_head(pre_skip: u64, input_rate: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(19);
    h.extend_from_slice(b"OpusHead");
    h.push(1);
    h.push(1);
    h.extend_from_slice(&(pre_skip.min(u64::from(u16::MAX)) as u16).to_le_bytes());
    h.extend_from_slice(&input_rate.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    h
}

/// The comment header (RFC 7845 §5.2): our vendor string, no comments.
fn opus_tags() -> Vec<u8> {
    let vendor = concat!("omnivox ", env!("CARGO_PKG_VERSION"));
    let mut t = Vec::with_capacity(16 + vendor.len());
    t.extend_from_slice(b"OpusTags");
    t.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    t.extend_from_slice(vendor.as_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t
}
