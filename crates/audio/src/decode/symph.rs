//! Everything symphonia demuxes: MP3, FLAC (native and in Ogg), Ogg Vorbis,
//! WebM/Matroska, AAC in ADTS, MP4/M4A. Opus tracks inside WebM/Matroska are
//! handed to libopus (symphonia has no Opus decoder), with the OpusHead's
//! pre-skip applied.

use super::Sink;
use super::opus_head::{OpusHead, OpusPackets};
use crate::format::skip_id3v2;
use crate::{Error, Format, Result};
use std::io::Cursor;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::well_known::*;
use symphonia::core::codecs::audio::{AudioCodecId, AudioCodecParameters, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::default::formats::{
    AdtsReader, FlacReader, IsoMp4Reader, MkvReader, MpaReader, OggReader,
};

pub(super) fn decode(bytes: &[u8], format: Format, sink: &mut Sink) -> Result<()> {
    let body = match format {
        Format::Mp3 | Format::Aac | Format::Flac => skip_id3v2(bytes),
        _ => bytes,
    };
    if ends_mid_frame(body, format) {
        return Err(Error::truncated(format, "the last frame is cut short"));
    }
    let mut reader = match open(body, format) {
        Ok(r) => r,
        Err(e) => {
            // A FLAC file holding metadata and no frames is empty audio;
            // symphonia's reader wants a first frame.
            if let (Format::Flac, Some((rate, channels))) = (format, flac_without_frames(body)) {
                return sink.start(rate, channels);
            }
            return Err(map_err(format, e));
        }
    };
    let track = audio_track(reader.as_ref(), format)?;
    if let Some(rate) = track.params.sample_rate {
        sink.validate(rate, track.channels())?;
    }
    if track.params.codec == CODEC_ID_OPUS {
        return decode_opus(reader.as_mut(), &track, format, sink);
    }
    decode_track(reader.as_mut(), &track, format, sink)?;
    if !sink.started() {
        // No audio at all (a stream of one empty frame, say): empty, not
        // an error, if the header says what it would have been.
        if let Some(rate) = track.params.sample_rate {
            sink.start(rate, track.channels())?;
        }
    }
    check_length(format, track.stated_length, sink.frames())
}

/// symphonia stops quietly where MP3, ADTS and Ogg data end; a last frame
/// or page that runs past the end is a file cut short.
fn ends_mid_frame(body: &[u8], format: Format) -> bool {
    match format {
        Format::Mp3 => crate::frames::mp3_ends_mid_frame(body),
        Format::Aac => crate::frames::adts_ends_mid_frame(body),
        Format::Vorbis | Format::Flac if body.starts_with(b"OggS") => {
            crate::frames::ogg_ends_mid_page(body)
        }
        _ => false,
    }
}

type Reader<'a> = Box<dyn FormatReader + 'a>;

/// The symphonia reader for `format`.
fn open(body: &[u8], format: Format) -> std::result::Result<Reader<'_>, SymError> {
    let mss = if format == Format::WebM {
        // Read Matroska as a live stream would arrive: not seekable, length
        // unknown. MediaRecorder writes unknown-size segments and clusters,
        // which symphonia's reader only follows in this mode.
        let source = ReadOnlySource::new(Cursor::new(body));
        MediaSourceStream::new(Box::new(source), Default::default())
    } else {
        MediaSourceStream::new(Box::new(Cursor::new(body)), Default::default())
    };
    let opts = FormatOptions::default();
    let ogg = body.starts_with(b"OggS");
    match format {
        Format::Mp3 => MpaReader::try_new(mss, opts).map(|r| Box::new(r) as _),
        Format::Flac if !ogg => FlacReader::try_new(mss, opts).map(|r| Box::new(r) as _),
        Format::Flac | Format::Vorbis => OggReader::try_new(mss, opts).map(|r| Box::new(r) as _),
        Format::WebM => MkvReader::try_new(mss, opts).map(|r| Box::new(r) as _),
        Format::Aac => AdtsReader::try_new(mss, opts).map(|r| Box::new(r) as _),
        Format::Mp4 => IsoMp4Reader::try_new(mss, opts).map(|r| Box::new(r) as _),
        _ => Err(SymError::Unsupported("container for the symphonia reader")),
    }
}

/// The audio track we decode.
struct Track {
    id: u32,
    params: AudioCodecParameters,
    /// The length the container states, in frames, if it does.
    stated_length: Option<u64>,
    /// Where the length is unknown (live WebM, streamed FLAC) the end of the
    /// bytes is the end of the stream; where it is known, running out early
    /// means the file was cut.
    eof_ends: bool,
}

impl Track {
    fn channels(&self) -> u32 {
        self.params
            .channels
            .as_ref()
            .map_or(1, |c| c.count())
            .max(1) as u32
    }
}

/// Decodes the track's packets with symphonia's decoder into `sink`.
fn decode_track(
    reader: &mut dyn FormatReader,
    track: &Track,
    format: Format,
    sink: &mut Sink,
) -> Result<()> {
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&track.params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => Error::unsupported(format, codec_name(track.params.codec)),
            e => map_err(format, e),
        })?;
    let mut interleaved: Vec<f32> = Vec::new();
    while let Some(packet) = next_packet(reader, format, track.eof_ends)? {
        if packet.track_id != track.id {
            continue;
        }
        let buf = decoder.decode(&packet).map_err(|e| map_err(format, e))?;
        if buf.frames() == 0 {
            continue;
        }
        let spec = buf.spec();
        sink.start(spec.rate(), spec.channels().count() as u32)?;
        interleaved.clear();
        buf.copy_to_vec_interleaved(&mut interleaved);
        sink.push_interleaved(&interleaved)?;
    }
    Ok(())
}

/// symphonia's Ogg and MP4 readers stop quietly at a cut; the length the
/// container states tells. (MP3's stated length may be an estimate from the
/// bitrate, so MP3 is checked by walking its frames instead.)
fn check_length(format: Format, stated: Option<u64>, decoded: u64) -> Result<()> {
    let slack = match format {
        Format::Flac => 0,
        Format::Vorbis | Format::Mp4 | Format::Aac => 2048,
        _ => return Ok(()),
    };
    match stated {
        Some(n) if decoded + slack < n => Err(Error::truncated(
            format,
            format!("decoded {decoded} of the {n} samples the header states"),
        )),
        _ => Ok(()),
    }
}

/// The first audio track with codec parameters.
fn audio_track(reader: &dyn FormatReader, format: Format) -> Result<Track> {
    let track = reader
        .default_track(TrackType::Audio)
        .or_else(|| reader.first_track(TrackType::Audio))
        .ok_or_else(|| Error::corrupt(format, "no audio track"))?;
    match &track.codec_params {
        Some(CodecParameters::Audio(p)) => Ok(Track {
            id: track.id,
            params: p.clone(),
            stated_length: track.num_frames,
            eof_ends: format == Format::WebM || track.num_frames.is_none(),
        }),
        _ => Err(Error::unsupported(
            format,
            "track without audio codec parameters",
        )),
    }
}

/// The next packet; an early end of file is the end of the stream when
/// `eof_ends` (symphonia reports the end of an unknown-length stream so).
fn next_packet(
    reader: &mut dyn FormatReader,
    format: Format,
    eof_ends: bool,
) -> Result<Option<symphonia::core::packet::Packet>> {
    match reader.next_packet() {
        Ok(p) => Ok(p),
        Err(SymError::IoError(e)) if eof_ends && e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Ok(None)
        }
        Err(SymError::ResetRequired) => Err(Error::unsupported(
            format,
            "chained streams (the track list changes mid-file)",
        )),
        Err(e) => Err(map_err(format, e)),
    }
}

/// Opus inside Matroska/WebM, on libopus.
fn decode_opus(
    reader: &mut dyn FormatReader,
    track: &Track,
    format: Format,
    sink: &mut Sink,
) -> Result<()> {
    let extra =
        track.params.extra_data.as_deref().ok_or_else(|| {
            Error::corrupt(format, "Opus track without its OpusHead (CodecPrivate)")
        })?;
    let head = OpusHead::parse(extra, format)?;
    let mut packets = OpusPackets::new(&head, format)?;
    sink.start_reporting(packets.rate, 1, 48_000, u32::from(head.channels))?;
    let mut skip = u64::from(head.pre_skip).div_ceil(packets.scale);
    while let Some(packet) = next_packet(reader, format, track.eof_ends)? {
        if packet.track_id != track.id {
            continue;
        }
        let pcm = packets.decode(&packet.data)?;
        let drop = skip.min(pcm.len() as u64) as usize;
        skip -= drop as u64;
        sink.push_mono(&pcm[drop..])?;
    }
    Ok(())
}

/// For native FLAC whose metadata blocks end exactly at the end of the data:
/// the STREAMINFO rate and channel count.
fn flac_without_frames(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 4; // after "fLaC"
    let mut info = None;
    loop {
        let h = b.get(at..at + 4)?;
        let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let body = b.get(at + 4..at + 4 + len)?;
        if h[0] & 0x7F == 0 && len >= 18 {
            let rate = (u32::from(body[10]) << 12)
                | (u32::from(body[11]) << 4)
                | (u32::from(body[12]) >> 4);
            let channels = u32::from((body[12] >> 1) & 7) + 1;
            info = Some((rate, channels));
        }
        at += 4 + len;
        if h[0] & 0x80 != 0 {
            break;
        }
    }
    (at == b.len()).then_some(info).flatten()
}

fn codec_name(id: AudioCodecId) -> String {
    let name = match id {
        CODEC_ID_AC3 => "AC-3",
        CODEC_ID_EAC3 => "E-AC-3",
        CODEC_ID_DCA => "DTS",
        CODEC_ID_ALAC => "ALAC",
        CODEC_ID_WAVPACK => "WavPack",
        CODEC_ID_TTA => "TTA",
        CODEC_ID_SPEEX => "Speex",
        CODEC_ID_WMA => "WMA",
        CODEC_ID_MUSEPACK => "Musepack",
        CODEC_ID_TRUEHD => "TrueHD",
        CODEC_ID_ATRAC3 | CODEC_ID_ATRAC3PLUS => "ATRAC",
        _ => return format!("codec (symphonia id {id})"),
    };
    format!("codec {name}")
}

/// Maps symphonia's errors onto ours.
fn map_err(format: Format, e: SymError) -> Error {
    match e {
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::truncated(format, "the data ends inside a frame or header")
        }
        SymError::IoError(io) => Error::corrupt(format, io.to_string()),
        SymError::DecodeError(what) => Error::corrupt(format, what),
        // symphonia says "unsupported" for missing parts ("missing moov
        // atom"), which is what a cut or mangled file looks like.
        SymError::Unsupported(what) if what.contains("missing") => Error::corrupt(format, what),
        SymError::Unsupported(what) => Error::unsupported(format, what),
        SymError::LimitError(what) => Error::corrupt(format, format!("limit exceeded: {what}")),
        SymError::SeekError(_) => Error::corrupt(format, "unexpected seek"),
        SymError::ResetRequired => Error::unsupported(format, "chained streams"),
        other => Error::corrupt(format, other.to_string()),
    }
}
