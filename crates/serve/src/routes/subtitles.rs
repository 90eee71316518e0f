//! SubRip (`srt`) and WebVTT (`vtt`) renderings of timed segments.

use std::fmt::Write as _;

use omnivox_runtime::api::TranscriptSegment;

/// `HH:MM:SS<sep>mmm`.
fn stamp(ms: u64, sep: char) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    format!("{h:02}:{m:02}:{s:02}{sep}{ms:03}")
}

/// SubRip: numbered cues, `00:00:01,000 --> 00:00:02,500`.
pub fn srt(segments: &[TranscriptSegment]) -> String {
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        let _ = write!(
            out,
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            stamp(s.start_ms, ','),
            stamp(s.end_ms, ','),
            s.text.trim()
        );
    }
    out
}

/// WebVTT: a `WEBVTT` header, then `00:00:01.000 --> 00:00:02.500` cues.
pub fn vtt(segments: &[TranscriptSegment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in segments {
        let _ = write!(
            out,
            "{} --> {}\n{}\n\n",
            stamp(s.start_ms, '.'),
            stamp(s.end_ms, '.'),
            s.text.trim()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start_ms: u64, end_ms: u64, text: &str) -> TranscriptSegment {
        TranscriptSegment {
            start_ms,
            end_ms,
            text: text.into(),
        }
    }

    #[test]
    fn formats_cues() {
        let s = [seg(0, 1500, " hello "), seg(3_723_004, 3_724_000, "x")];
        assert_eq!(
            srt(&s),
            "1\n00:00:00,000 --> 00:00:01,500\nhello\n\n2\n01:02:03,004 --> 01:02:04,000\nx\n\n"
        );
        assert_eq!(
            vtt(&s),
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nhello\n\n01:02:03.004 --> 01:02:04.000\nx\n\n"
        );
    }
}
