//! Frame and page headers: MPEG audio Layer III, ADTS and Ogg. Enough to
//! sniff them, to tell a file cut inside its last frame or page, and to
//! split our MP3 encoder's output into whole frames. Decoding itself is the
//! libraries'.

/// A parsed MPEG-1/2/2.5 Layer III frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mp3Header {
    /// Bytes in the frame, header included.
    pub len: usize,
    /// Samples per channel the frame decodes to (1152 or 576).
    pub samples: usize,
    pub sample_rate: u32,
}

const BITRATES_V1: [u32; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const BITRATES_V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/// Parses a Layer III frame header; `None` for anything else (including
/// free-format frames, whose length cannot be known from the header).
pub(crate) fn mp3_header(b: &[u8]) -> Option<Mp3Header> {
    let [b0, b1, b2, _] = *b.get(..4)? else {
        return None;
    };
    if b0 != 0xFF || b1 & 0xE0 != 0xE0 {
        return None;
    }
    let version = (b1 >> 3) & 3; // 0: 2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    let layer = (b1 >> 1) & 3; // 1: Layer III
    let br_idx = (b2 >> 4) as usize;
    let sr_idx = ((b2 >> 2) & 3) as usize;
    if version == 1 || layer != 1 || br_idx == 0 || br_idx == 15 || sr_idx == 3 {
        return None;
    }
    let pad = ((b2 >> 1) & 1) as usize;
    let (rates, bitrate, coef, samples) = match version {
        3 => ([44_100, 48_000, 32_000], BITRATES_V1[br_idx], 144, 1152),
        2 => ([22_050, 24_000, 16_000], BITRATES_V2[br_idx], 72, 576),
        _ => ([11_025, 12_000, 8_000], BITRATES_V2[br_idx], 72, 576),
    };
    let sample_rate: u32 = rates[sr_idx];
    let len = (coef * bitrate * 1000 / sample_rate) as usize + pad;
    Some(Mp3Header {
        len,
        samples,
        sample_rate,
    })
}

/// Two consecutive Layer III headers at the start (or one frame that fills
/// the input exactly).
pub(crate) fn looks_like_mp3(b: &[u8]) -> bool {
    let Some(h) = mp3_header(b) else {
        return false;
    };
    if b.len() == h.len {
        return true;
    }
    mp3_header(b.get(h.len..).unwrap_or(&[])).is_some_and(|h2| h2.sample_rate == h.sample_rate)
}

/// The length of an ADTS frame starting at `b`, if it is one.
fn adts_frame_len(b: &[u8]) -> Option<usize> {
    let h = b.get(..7)?;
    if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 || (h[2] >> 2) & 0xF >= 13 {
        return None;
    }
    let len = (((h[3] & 3) as usize) << 11) | ((h[4] as usize) << 3) | ((h[5] >> 5) as usize);
    (len >= 7).then_some(len)
}

/// Two consecutive ADTS headers at the start (or one frame filling the input).
pub(crate) fn looks_like_adts(b: &[u8]) -> bool {
    let Some(len) = adts_frame_len(b) else {
        return false;
    };
    b.len() == len || adts_frame_len(b.get(len..).unwrap_or(&[])).is_some()
}

/// Whether a chain of back-to-back frames from the start runs past the end
/// of the data: the sign of a file cut short. `frame_len` gives a frame's
/// length at an offset, or `None` where the chain stops (a tag, junk, the
/// end). Reads headers only; no allocation.
fn chain_overruns(b: &[u8], frame_len: impl Fn(&[u8]) -> Option<usize>) -> bool {
    let mut at = 0usize;
    while let Some(len) = frame_len(&b[at.min(b.len())..]) {
        if len == 0 {
            return false;
        }
        if at + len > b.len() {
            return true;
        }
        at += len;
    }
    false
}

/// MP3 data (after any ID3v2 tag) whose last frame is cut short.
pub(crate) fn mp3_ends_mid_frame(b: &[u8]) -> bool {
    chain_overruns(b, |rest| mp3_header(rest).map(|h| h.len))
}

/// ADTS data whose last frame is cut short.
pub(crate) fn adts_ends_mid_frame(b: &[u8]) -> bool {
    chain_overruns(b, adts_frame_len)
}

/// The length of an Ogg page starting at `b` (header, lacing table, body).
fn ogg_page_len(b: &[u8]) -> Option<usize> {
    if !b.starts_with(b"OggS") {
        return None;
    }
    let nsegs = usize::from(*b.get(26)?);
    // A page cut inside its lacing table counts as running past the end.
    let Some(lacing) = b.get(27..27 + nsegs) else {
        return Some(usize::MAX / 2);
    };
    Some(27 + nsegs + lacing.iter().map(|&x| usize::from(x)).sum::<usize>())
}

/// Ogg data whose last page is cut short.
pub(crate) fn ogg_ends_mid_page(b: &[u8]) -> bool {
    chain_overruns(b, ogg_page_len)
}

/// Splits an MP3 byte stream fed piece by piece into whole frames, counting
/// them. The encoder writes nothing but back-to-back frames; if that ever
/// stops holding, bytes are passed through as they come.
#[derive(Debug, Default)]
pub(crate) struct FrameSplitter {
    pending: Vec<u8>,
    broken: bool,
    /// Complete frames passed on.
    pub frames: u64,
    /// Samples per frame, once known.
    pub samples_per_frame: u64,
}

impl FrameSplitter {
    /// Adds bytes; returns the whole frames now complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        if self.broken {
            return std::mem::take(&mut self.pending);
        }
        let mut at = 0;
        while self.pending.len() - at >= 4 {
            match mp3_header(&self.pending[at..]) {
                Some(h) if at + h.len <= self.pending.len() => {
                    at += h.len;
                    self.frames += 1;
                    self.samples_per_frame = h.samples as u64;
                }
                Some(_) => break,
                None => {
                    self.broken = true;
                    return std::mem::take(&mut self.pending);
                }
            }
        }
        self.pending.drain(..at).collect()
    }

    /// Whatever is left (a final partial frame should not happen).
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths_match_the_standard() {
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417 bytes.
        let h = mp3_header(&[0xFF, 0xFB, 0x90, 0x00]).unwrap();
        assert_eq!((h.len, h.samples, h.sample_rate), (417, 1152, 44_100));
        // MPEG-2 Layer III, 64 kbit/s, 24 kHz: 72 * 64000 / 24000 = 192 bytes.
        let h = mp3_header(&[0xFF, 0xF3, 0x84, 0x00]).unwrap();
        assert_eq!((h.len, h.samples, h.sample_rate), (192, 576, 24_000));
        assert!(mp3_header(&[0xFF, 0xFB, 0xF0, 0x00]).is_none()); // bad bitrate
        assert!(mp3_header(&[0xFF, 0xFD, 0x90, 0x00]).is_none()); // Layer II
    }

    #[test]
    fn chains_detect_a_cut_last_frame() {
        let frame = |n: usize| {
            let mut f = vec![0u8; 192];
            f[..4].copy_from_slice(&[0xFF, 0xF3, 0x84, 0x00]);
            f.truncate(n);
            f
        };
        let two = [frame(192), frame(192)].concat();
        assert!(!mp3_ends_mid_frame(&two));
        assert!(mp3_ends_mid_frame(&[frame(192), frame(100)].concat()));
        // A trailing ID3v1 tag ends the chain without a verdict.
        assert!(!mp3_ends_mid_frame(
            &[two, b"TAG".to_vec(), vec![0; 125]].concat()
        ));
    }
}
