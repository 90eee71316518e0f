//! The server's one door to `omnivox-audio`: decoding request audio to the
//! engine's 16 kHz input, encoding the engine's 24 kHz output whole or as a
//! stream, and mapping audio errors to API errors naming the parameter.

use omnivox_audio::{DecodeOptions, EncodeOptions, Format};
use omnivox_runtime::api::{INPUT_SAMPLE_RATE, OUTPUT_SAMPLE_RATE};

use crate::api_error::ApiError;
use crate::config::Limits;

pub use omnivox_audio::Chunk;

/// Output formats of chat `audio.format`, as OpenAI lists them plus `mulaw`.
pub const CHAT_OUTPUT_FORMATS: &[&str] = &["wav", "mp3", "flac", "opus", "pcm16", "mulaw"];
/// Output formats of speech `response_format`, as OpenAI lists them plus
/// `mulaw`.
pub const SPEECH_OUTPUT_FORMATS: &[&str] = &["mp3", "opus", "flac", "wav", "pcm", "mulaw"];
/// Labels accepted for input audio (OpenAI's `wav`, `mp3`, and extensions).
pub const INPUT_FORMATS: &[&str] = &[
    "wav", "mp3", "flac", "opus", "ogg", "webm", "pcm16", "mulaw", "alaw", "aac", "m4a", "mp4",
];

/// Parses an output format label. `aac` is refused here (no well-kept AAC
/// encoder; see docs/api.md) so that no request gets as far as the model.
pub fn output_format(label: &str, param: &str, allowed: &[&str]) -> Result<Format, ApiError> {
    let lower = label.trim().to_ascii_lowercase();
    let known = allowed.contains(&lower.as_str()) || lower == "g711_ulaw";
    let format = Format::from_label(&lower).ok().filter(|_| known);
    match format {
        Some(f) if f.can_encode() => Ok(f),
        _ => Err(ApiError::unsupported_value(param, label, allowed)),
    }
}

/// Parses an input format label (a hint: the bytes decide).
pub fn input_format(label: &str, param: &str) -> Result<Format, ApiError> {
    Format::from_label(label).map_err(|_| ApiError::unsupported_value(param, label, INPUT_FORMATS))
}

/// A format from a MIME type (`audio/wav`, `audio/mpeg`), if it names one.
pub fn format_from_mime(mime: &str) -> Option<Format> {
    let essence = mime.split(';').next().unwrap_or("").trim();
    let sub = essence.strip_prefix("audio/")?;
    let sub = sub.strip_prefix("x-").unwrap_or(sub);
    match sub {
        "l16" => Some(Format::Pcm16),
        "basic" => Some(Format::Mulaw),
        other => Format::from_label(other).ok(),
    }
}

/// Decodes one audio input to mono `f32` at the engine's input rate.
/// `max_secs` is what is left of the request's audio budget. Errors name
/// `param`: 413 over the limits, 400 for anything undecodable.
pub fn decode_input(
    bytes: &[u8],
    hint: Option<Format>,
    limits: &Limits,
    max_secs: f64,
    param: &str,
) -> Result<Vec<f32>, ApiError> {
    let mut opts = DecodeOptions::with_rate(INPUT_SAMPLE_RATE);
    opts.hint = hint;
    opts.limits.max_bytes = limits.max_audio_bytes;
    opts.limits.max_duration_secs = max_secs.max(0.0);
    omnivox_audio::decode(bytes, &opts)
        .map(|d| d.samples)
        .map_err(|e| decode_error(&e, param))
}

fn decode_error(e: &omnivox_audio::Error, param: &str) -> ApiError {
    use omnivox_audio::Error as E;
    match e {
        E::TooLarge { .. } | E::TooLong { .. } => {
            ApiError::too_large(Some(param), format!("Audio input '{param}': {e}."))
        }
        _ => ApiError::invalid(
            param,
            format!("Audio input '{param}' could not be decoded: {e}."),
        ),
    }
}

/// Encodes a whole reply.
pub fn encode_whole(samples: &[f32], format: Format) -> Result<Vec<u8>, ApiError> {
    omnivox_audio::encode(
        samples,
        OUTPUT_SAMPLE_RATE,
        format,
        &EncodeOptions::default(),
    )
    .map_err(ApiError::internal)
}

/// Encodes a reply as it is produced.
#[derive(Debug)]
pub struct StreamEncoder(omnivox_audio::StreamEncoder);

impl StreamEncoder {
    pub fn new(format: Format) -> Result<Self, ApiError> {
        omnivox_audio::StreamEncoder::new(format, OUTPUT_SAMPLE_RATE, &EncodeOptions::default())
            .map(Self)
            .map_err(ApiError::internal)
    }

    /// Encodes more samples; zero or more chunks come out.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<Chunk>, ApiError> {
        self.0.push(samples).map_err(ApiError::internal)
    }

    /// Flushes and ends the stream.
    pub fn finish(self) -> Result<Vec<Chunk>, ApiError> {
        self.0.finish().map_err(ApiError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_labels() {
        let p = "audio.format";
        assert_eq!(
            output_format("pcm16", p, CHAT_OUTPUT_FORMATS).ok(),
            Some(Format::Pcm16)
        );
        assert_eq!(
            output_format("WAV", p, CHAT_OUTPUT_FORMATS).ok(),
            Some(Format::Wav)
        );
        assert_eq!(
            output_format("g711_ulaw", p, CHAT_OUTPUT_FORMATS).ok(),
            Some(Format::Mulaw)
        );
        let e = output_format("aac", p, CHAT_OUTPUT_FORMATS).expect_err("aac");
        assert_eq!(e.param.as_deref(), Some(p));
        assert!(output_format("pcm", p, CHAT_OUTPUT_FORMATS).is_err());
        assert_eq!(
            output_format("pcm", "response_format", SPEECH_OUTPUT_FORMATS).ok(),
            Some(Format::Pcm16)
        );
    }

    #[test]
    fn mime_types() {
        assert_eq!(format_from_mime("audio/wav"), Some(Format::Wav));
        assert_eq!(format_from_mime("audio/x-wav"), Some(Format::Wav));
        assert_eq!(format_from_mime("audio/mpeg"), Some(Format::Mp3));
        assert_eq!(
            format_from_mime("audio/ogg; codecs=opus"),
            Some(Format::Opus)
        );
        assert_eq!(format_from_mime("audio/webm"), Some(Format::WebM));
        assert_eq!(format_from_mime("text/plain"), None);
    }
}
