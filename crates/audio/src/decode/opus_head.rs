//! The Opus identification header (RFC 7845 §5.1), shared by Ogg and
//! WebM/Matroska (where it is the track's CodecPrivate), and a small packet
//! decoder on libopus that applies the header's pre-skip and gain.

use crate::{Error, Format, Result};

/// The fields of an `OpusHead` we act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpusHead {
    pub channels: u8,
    /// Samples (at 48 kHz) to drop from the start of the decoded stream.
    pub pre_skip: u16,
    /// The rate of the audio before it was encoded (informational).
    pub input_rate: u32,
    /// Output gain in Q7.8 dB.
    pub gain: i16,
}

impl OpusHead {
    /// Parses an identification header. Only what one libopus decoder can
    /// play is accepted: mapping family 0, or a one-stream family 1/255 file
    /// of at most two channels.
    pub fn parse(b: &[u8], format: Format) -> Result<OpusHead> {
        if !b.starts_with(b"OpusHead") {
            let what = if b.starts_with(b"\x80theora") || b.starts_with(b"Speex") {
                "codec in Ogg (only Opus, Vorbis and FLAC are read)"
            } else {
                "stream: the first packet is not an Opus header"
            };
            return Err(Error::unsupported(format, what));
        }
        if b.len() < 19 {
            return Err(Error::truncated(format, "OpusHead shorter than 19 bytes"));
        }
        let version = b[8];
        if version & 0xF0 != 0 {
            return Err(Error::unsupported(
                format,
                format!("OpusHead version {version}"),
            ));
        }
        let channels = b[9];
        let pre_skip = u16::from_le_bytes([b[10], b[11]]);
        let input_rate = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        let gain = i16::from_le_bytes([b[16], b[17]]);
        let family = b[18];
        if channels == 0 {
            return Err(Error::header(format, "Opus stream with zero channels"));
        }
        match family {
            0 if channels <= 2 => {}
            0 => {
                return Err(Error::header(
                    format,
                    format!("mapping family 0 with {channels} channels"),
                ));
            }
            1 | 255 => {
                let table = b
                    .get(19..21 + usize::from(channels))
                    .ok_or_else(|| Error::truncated(format, "OpusHead channel mapping table"))?;
                let (streams, coupled) = (table[0], table[1]);
                if streams != 1 || channels > 2 || coupled + 1 != channels {
                    return Err(Error::unsupported(
                        format,
                        format!("multichannel Opus ({channels} channels in {streams} streams)"),
                    ));
                }
            }
            f => {
                return Err(Error::unsupported(
                    format,
                    format!("Opus channel mapping family {f}"),
                ));
            }
        }
        Ok(OpusHead {
            channels,
            pre_skip,
            input_rate,
            gain,
        })
    }
}

/// A libopus decoder at 48 kHz, averaging the channels to mono.
///
/// libopus could decode straight at 8/12/16/24 kHz, but below 24 kHz its
/// output is not the band-limited 48 kHz signal (about 20 dB apart on
/// hybrid-mode speech, with a fractional delay), and the reference pipeline
/// (ffmpeg/librosa) decodes at 48 kHz and resamples, as we do.
pub(crate) struct OpusPackets {
    decoder: opus::Decoder,
    format: Format,
    channels: usize,
    pub rate: u32,
    /// 48 kHz samples per output sample (1 while we decode at 48 kHz).
    pub scale: u64,
    buf: Vec<f32>,
    mono: Vec<f32>,
}

impl OpusPackets {
    pub fn new(head: &OpusHead, format: Format) -> Result<Self> {
        let rate = 48_000;
        let fail = |e: opus::Error| Error::corrupt(format, format!("libopus: {e}"));
        // Stereo is decoded as stereo and averaged here: libopus's own mono
        // output of a stereo stream is not the channel average we promise.
        let (layout, channels) = match head.channels {
            1 => (opus::Channels::Mono, 1),
            _ => (opus::Channels::Stereo, 2),
        };
        let mut decoder = opus::Decoder::new(rate, layout).map_err(fail)?;
        decoder.set_gain(i32::from(head.gain)).map_err(fail)?;
        // 120 ms, the longest an Opus packet can be.
        let frames = rate as usize * 120 / 1000;
        Ok(OpusPackets {
            decoder,
            format,
            channels,
            rate,
            scale: u64::from(48_000 / rate),
            buf: vec![0.0; frames * channels],
            mono: Vec::with_capacity(frames),
        })
    }

    /// Decodes one packet; returns its samples at `self.rate`.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[f32]> {
        if packet.is_empty() {
            return Err(Error::corrupt(self.format, "an empty Opus packet"));
        }
        let n = self
            .decoder
            .decode_float(packet, &mut self.buf, false)
            .map_err(|e| Error::corrupt(self.format, format!("Opus packet: {e}")))?;
        let pcm = &self.buf[..(n * self.channels).min(self.buf.len())];
        if self.channels == 1 {
            return Ok(pcm);
        }
        self.mono.clear();
        crate::pcm::mixdown_into(pcm, self.channels, &mut self.mono);
        Ok(&self.mono)
    }
}
