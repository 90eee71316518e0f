//! [`Format`]: the audio formats we read and write, their API labels, and
//! [`sniff`], which recognises a format from its first bytes.

use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// An audio format as the API names it: a codec in its usual container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// RIFF/WAVE. Read: PCM u8/16/24/32, float 32/64, A-law, µ-law, any
    /// channel count. Written: 16-bit PCM.
    Wav,
    /// MPEG-1/2/2.5 Layer III.
    Mp3,
    /// FLAC, native (`fLaC`) or in Ogg.
    Flac,
    /// Opus in Ogg (RFC 7845): `.opus`, and what the API calls `ogg`.
    Opus,
    /// Vorbis in Ogg (read only).
    Vorbis,
    /// WebM/Matroska, usually Opus inside (browsers' MediaRecorder). Read only.
    WebM,
    /// AAC-LC in ADTS frames (read only; encoding is refused, see docs/audio.md).
    Aac,
    /// MP4/M4A (ISO BMFF), usually AAC inside (read only).
    Mp4,
    /// Headerless 16-bit little-endian mono PCM (24 kHz unless told otherwise).
    Pcm16,
    /// Headerless G.711 µ-law, 8 kHz mono.
    Mulaw,
    /// Headerless G.711 A-law, 8 kHz mono.
    Alaw,
}

impl Format {
    /// Every format, for tests and docs.
    pub const ALL: [Format; 11] = [
        Format::Wav,
        Format::Mp3,
        Format::Flac,
        Format::Opus,
        Format::Vorbis,
        Format::WebM,
        Format::Aac,
        Format::Mp4,
        Format::Pcm16,
        Format::Mulaw,
        Format::Alaw,
    ];

    /// Parses an API label (OpenAI's `input_audio.format`, `audio.format`,
    /// `response_format`, Realtime's `input_audio_format`), case-insensitive.
    ///
    /// `wav`, `mp3`, `flac`, `opus`, `ogg`, `vorbis`, `webm`, `mkv`, `aac`,
    /// `mp4`, `m4a`, `pcm16`/`pcm`/`s16le`, `mulaw`/`ulaw`/`g711_ulaw`/`pcmu`,
    /// `alaw`/`g711_alaw`/`pcma`. A label is only a hint when decoding: the
    /// bytes decide (see [`crate::decode`]).
    pub fn from_label(label: &str) -> Result<Format> {
        let l = label.trim().to_ascii_lowercase();
        let f = match l.as_str() {
            "wav" | "wave" | "x-wav" => Format::Wav,
            "mp3" | "mpeg" | "mpga" => Format::Mp3,
            "flac" => Format::Flac,
            "opus" | "ogg" | "oga" => Format::Opus,
            "vorbis" => Format::Vorbis,
            "webm" | "mkv" | "matroska" => Format::WebM,
            "aac" | "adts" => Format::Aac,
            "mp4" | "m4a" => Format::Mp4,
            "pcm16" | "pcm" | "s16le" | "pcm_s16le" => Format::Pcm16,
            "mulaw" | "ulaw" | "g711_ulaw" | "pcmu" | "pcm_mulaw" => Format::Mulaw,
            "alaw" | "g711_alaw" | "pcma" | "pcm_alaw" => Format::Alaw,
            _ => return Err(Error::UnknownLabel(label.to_owned())),
        };
        Ok(f)
    }

    /// The canonical label (`"wav"`, `"pcm16"`, `"mulaw"`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Format::Wav => "wav",
            Format::Mp3 => "mp3",
            Format::Flac => "flac",
            Format::Opus => "opus",
            Format::Vorbis => "vorbis",
            Format::WebM => "webm",
            Format::Aac => "aac",
            Format::Mp4 => "mp4",
            Format::Pcm16 => "pcm16",
            Format::Mulaw => "mulaw",
            Format::Alaw => "alaw",
        }
    }

    /// The MIME type to send with encoded bytes.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Wav => "audio/wav",
            Format::Mp3 => "audio/mpeg",
            Format::Flac => "audio/flac",
            Format::Opus | Format::Vorbis => "audio/ogg",
            Format::WebM => "audio/webm",
            Format::Aac => "audio/aac",
            Format::Mp4 => "audio/mp4",
            Format::Pcm16 => "audio/pcm",
            Format::Mulaw => "audio/basic",
            Format::Alaw => "audio/x-alaw-basic",
        }
    }

    /// Headerless formats carry no rate or magic bytes: they are never sniffed
    /// and their rate is implied ([`Format::implied_rate`]) or given.
    pub fn is_headerless(self) -> bool {
        matches!(self, Format::Pcm16 | Format::Mulaw | Format::Alaw)
    }

    /// The rate a headerless format has unless told otherwise: 24 kHz for
    /// `pcm16` (OpenAI's convention), 8 kHz for G.711.
    pub fn implied_rate(self) -> Option<u32> {
        match self {
            Format::Pcm16 => Some(24_000),
            Format::Mulaw | Format::Alaw => Some(8_000),
            _ => None,
        }
    }

    /// Whether [`crate::encode`] and [`crate::StreamEncoder`] write this format.
    pub fn can_encode(self) -> bool {
        matches!(
            self,
            Format::Wav
                | Format::Mp3
                | Format::Flac
                | Format::Opus
                | Format::Pcm16
                | Format::Mulaw
                | Format::Alaw
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Format> {
        Format::from_label(s)
    }
}

/// Recognises a format from its first bytes, or `None`.
///
/// Headerless formats (`pcm16`, G.711) are never returned: they have no magic.
/// MPEG audio needs two consecutive valid frame headers (or one frame filling
/// the input) so that random PCM is not mistaken for MP3.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"ID3") {
        // An ID3v2 tag precedes MP3 (and, rarely, FLAC or ADTS).
        return sniff_untagged(skip_id3v2(bytes)).or(Some(Format::Mp3));
    }
    sniff_untagged(bytes)
}

fn sniff_untagged(b: &[u8]) -> Option<Format> {
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        return Some(Format::Wav);
    }
    if b.len() >= 12 && (&b[0..4] == b"RF64" || &b[0..4] == b"BW64") && &b[8..12] == b"WAVE" {
        return Some(Format::Wav);
    }
    if b.starts_with(b"fLaC") {
        return Some(Format::Flac);
    }
    if b.starts_with(b"OggS") {
        return Some(sniff_ogg(b));
    }
    if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(Format::WebM);
    }
    if b.len() >= 8 && &b[4..8] == b"ftyp" {
        return Some(Format::Mp4);
    }
    if crate::frames::looks_like_adts(b) {
        return Some(Format::Aac);
    }
    if crate::frames::looks_like_mp3(b) {
        return Some(Format::Mp3);
    }
    None
}

/// The codec of an Ogg stream, from the first packet of its first page.
fn sniff_ogg(b: &[u8]) -> Format {
    // Page header: 27 bytes, then `nsegs` lacing values, then the payload.
    let nsegs = b.get(26).copied().unwrap_or(0) as usize;
    let payload = b.get(27 + nsegs..).unwrap_or(&[]);
    if payload.starts_with(b"\x01vorbis") {
        Format::Vorbis
    } else if payload.starts_with(b"\x7fFLAC") {
        Format::Flac
    } else {
        // OpusHead, or an Ogg codec we do not read: the Opus reader names it.
        Format::Opus
    }
}

/// Skips any ID3v2 tags at the start (their sizes are syncsafe integers).
pub(crate) fn skip_id3v2(mut b: &[u8]) -> &[u8] {
    while b.len() >= 10 && &b[0..3] == b"ID3" && b[3] != 0xFF && b[4] != 0xFF {
        let size_bytes = &b[6..10];
        if size_bytes.iter().any(|x| x & 0x80 != 0) {
            break;
        }
        let size = size_bytes
            .iter()
            .fold(0usize, |acc, &x| (acc << 7) | x as usize);
        let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
        let total = 10 + size + footer;
        if total > b.len() {
            break;
        }
        b = &b[total..];
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::from_label(f.label()).unwrap(), f);
        }
        assert_eq!("G711_ULAW".parse::<Format>().unwrap(), Format::Mulaw);
        assert_eq!("ogg".parse::<Format>().unwrap(), Format::Opus);
        assert_eq!("pcm".parse::<Format>().unwrap(), Format::Pcm16);
        assert!(matches!(
            Format::from_label("wma"),
            Err(Error::UnknownLabel(_))
        ));
    }

    #[test]
    fn sniff_rejects_short_and_random_bytes() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"RIFF"), None);
        assert_eq!(sniff(&[0u8; 64]), None);
        // A lone MP3-like sync word followed by silence is not MP3.
        let mut b = vec![0u8; 64];
        b[0] = 0xFF;
        b[1] = 0xFB;
        b[2] = 0x90;
        assert_eq!(sniff(&b), None);
    }

    #[test]
    fn id3_skip_is_bounded() {
        let mut b = b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f".to_vec();
        b.extend_from_slice(b"fLaC");
        // The tag claims 256 MiB but the input is tiny: nothing is skipped.
        assert_eq!(skip_id3v2(&b).len(), b.len());
    }
}
