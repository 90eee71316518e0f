//! MP3 on LAME (mp3lame-encoder), mono, constant bitrate. A whole file gets
//! LAME's Info tag in its first frame (encoder delay and padding, so ffmpeg
//! and browsers play it gaplessly); a stream has no tag, and each chunk is
//! the whole frames LAME has released (it holds back about two frames for
//! its look-ahead and bit reservoir; a frame LAME hands over in pieces is
//! held until it is complete).

use super::{Backend, EncodeOptions, Mode, sanitize};
use crate::frames::FrameSplitter;
use crate::{Error, Format, Result};
use mp3lame_encoder::{Bitrate, Builder, FlushGap, MonoPcm, Quality};

const FMT: Format = Format::Mp3;
/// The rates MP3 (MPEG-1, 2 and 2.5 Layer III) can carry.
pub(crate) const RATES: [u32; 9] = [
    8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
];
/// LAME's encoder delay plus the decoder's (576 + 529 samples): how far the
/// decoded audio lags the input when no Info tag says so.
const DELAY: u64 = 1105;

pub(crate) struct Mp3Encoder {
    lame: mp3lame_encoder::Encoder,
    mode: Mode,
    frames: FrameSplitter,
    received: u64,
    /// Whole mode: everything, so the Info tag can be patched in at the end.
    body: Vec<u8>,
    scratch: Vec<f32>,
}

impl Mp3Encoder {
    pub fn new(rate: u32, opts: &EncodeOptions, mode: Mode) -> Result<Self> {
        let bitrate = snap_bitrate(opts.bitrate.unwrap_or(64_000))?;
        let fail = |e: mp3lame_encoder::BuildError| Error::encode(FMT, format!("{e:?}"));
        let mut b = Builder::new().ok_or_else(|| Error::encode(FMT, "LAME could not allocate"))?;
        b.set_num_channels(1).map_err(fail)?;
        b.set_sample_rate(rate).map_err(fail)?;
        b.set_brate(bitrate).map_err(fail)?;
        b.set_quality(Quality::Good).map_err(fail)?;
        b.set_to_write_vbr_tag(mode == Mode::Whole).map_err(fail)?;
        let lame = b.build().map_err(fail)?;
        Ok(Mp3Encoder {
            lame,
            mode,
            frames: FrameSplitter::default(),
            received: 0,
            body: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Passes on whole frames (all of them at the end).
    fn emit(&mut self, bytes: Vec<u8>, last: bool) -> Vec<u8> {
        let mut bytes = self.frames.push(&bytes);
        if last {
            bytes.extend(self.frames.finish());
        }
        if self.mode == Mode::Whole {
            self.body.extend_from_slice(&bytes);
            return Vec::new();
        }
        bytes
    }

    fn end(&self) -> u64 {
        (self.frames.frames * self.frames.samples_per_frame)
            .saturating_sub(DELAY)
            .min(self.received)
    }
}

/// The highest MP3 bitrate at or below `bps`.
fn snap_bitrate(bps: u32) -> Result<Bitrate> {
    use Bitrate::*;
    let table = [
        (320, Kbps320),
        (256, Kbps256),
        (224, Kbps224),
        (192, Kbps192),
        (160, Kbps160),
        (128, Kbps128),
        (112, Kbps112),
        (96, Kbps96),
        (80, Kbps80),
        (64, Kbps64),
        (48, Kbps48),
        (40, Kbps40),
        (32, Kbps32),
        (24, Kbps24),
        (16, Kbps16),
        (8, Kbps8),
    ];
    let kbps = bps / 1000;
    if !(8..=320).contains(&kbps) {
        return Err(Error::InvalidOption {
            what: "MP3 bitrate",
            detail: format!("{bps} bit/s (accepted: 8000 to 320000)"),
        });
    }
    Ok(table
        .into_iter()
        .find(|&(k, _)| k <= kbps)
        .map_or(Kbps8, |(_, b)| b))
}

impl Backend for Mp3Encoder {
    fn push(&mut self, samples: &[f32]) -> Result<(Vec<u8>, u64)> {
        self.received += samples.len() as u64;
        self.scratch.clear();
        self.scratch.extend(samples.iter().map(|&x| sanitize(x)));
        let mut out = Vec::with_capacity(samples.len() * 5 / 4 + 7200);
        self.lame
            .encode_to_vec(MonoPcm(self.scratch.as_slice()), &mut out)
            .map_err(|e| Error::encode(FMT, format!("{e:?}")))?;
        let bytes = self.emit(out, false);
        Ok((bytes, self.end()))
    }

    fn finish(&mut self) -> Result<(Vec<u8>, u64)> {
        let mut out = Vec::with_capacity(7200);
        self.lame
            .flush_to_vec::<FlushGap>(&mut out)
            .map_err(|e| Error::encode(FMT, format!("{e:?}")))?;
        let mut bytes = self.emit(out, true);
        if self.mode == Mode::Whole {
            bytes = std::mem::take(&mut self.body);
            // LAME reserved the first frame for the Info tag; fill it in.
            let mut tag = Vec::with_capacity(self.lame.lame_tag_size().max(1));
            if self.lame.lame_tag_encode_to_vec(&mut tag).is_some() && tag.len() <= bytes.len() {
                bytes[..tag.len()].copy_from_slice(&tag);
            }
        }
        Ok((bytes, self.received))
    }
}
