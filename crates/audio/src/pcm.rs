//! Sample conversions shared by the decoders and encoders: f32 ↔ 16-bit PCM
//! (scaled by 32768, as ffmpeg does, so lossless round trips are bit-exact),
//! G.711 µ-law and A-law (ITU-T G.711), and channel mixdown.

/// f32 in [-1, 1] to 16-bit PCM: `round(x * 32768)`, clamped. NaN becomes 0.
#[inline]
pub fn f32_to_i16(x: f32) -> i16 {
    let v = (x * 32768.0).round();
    if v.is_nan() {
        0
    } else {
        v.clamp(-32768.0, 32767.0) as i16
    }
}

/// 16-bit PCM to f32: `x / 32768`.
#[inline]
pub fn i16_to_f32(x: i16) -> f32 {
    f32::from(x) / 32768.0
}

/// 16-bit PCM to a G.711 µ-law byte, as the ITU-T G.191 reference
/// (`ulaw_compress`) does: 14-bit magnitude (one's complement for negative
/// input), bias 33, segment and mantissa, inverted.
pub fn linear_to_ulaw(pcm: i16) -> u8 {
    let x = i32::from(pcm);
    let magnitude = if x < 0 { (!x) >> 2 } else { x >> 2 };
    let biased = (magnitude + 33).min(0x1FFF);
    // Segment 1..=8: one more than the position of the highest bit above bit 5.
    let segment = (32 - ((biased >> 6) as u32).leading_zeros() + 1) as i32;
    let high = 8 - segment;
    let low = 0x0F - ((biased >> segment) & 0x0F);
    let code = (high << 4) | low;
    (if x >= 0 { code | 0x80 } else { code }) as u8
}

/// A G.711 µ-law byte to 16-bit PCM (ITU-T G.191 `ulaw_expand`).
pub fn ulaw_to_linear(u: u8) -> i16 {
    let m = !u;
    let exponent = i32::from((m >> 4) & 7);
    let mantissa = i32::from(m & 0x0F);
    let step = 4 << (exponent + 1);
    let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
    if u < 0x80 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// 16-bit PCM to a G.711 A-law byte (ITU-T G.191 `alaw_compress`: 12-bit
/// magnitude, one's complement for negative input, even bits inverted).
pub fn linear_to_alaw(pcm: i16) -> u8 {
    let x = i32::from(pcm);
    let mut ix = if x < 0 { (!x) >> 4 } else { x >> 4 };
    if ix > 15 {
        let mut exponent = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            exponent += 1;
        }
        ix = ix - 16 + (exponent << 4);
    }
    if x >= 0 {
        ix |= 0x80;
    }
    (ix ^ 0x55) as u8
}

/// A G.711 A-law byte to 16-bit PCM.
pub fn alaw_to_linear(a: u8) -> i16 {
    let a = i32::from(a ^ 0x55);
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

/// Averages interleaved frames of `channels` samples into `out` (appended).
/// Non-finite samples count as silence.
pub fn mixdown_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    let clean = |x: f32| if x.is_finite() { x } else { 0.0 };
    if channels <= 1 {
        out.extend(interleaved.iter().map(|&x| clean(x)));
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|f| f.iter().map(|&x| clean(x)).sum::<f32>() * scale),
    );
}

/// Averages interleaved frames of `channels` samples into a new vector.
pub fn mixdown(interleaved: &[f32], channels: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(interleaved.len() / channels.max(1));
    mixdown_into(interleaved, channels, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_codes_invert_their_decoding() {
        // Every code decodes to a level that encodes back to the same code
        // (µ-law's two zeros, 0x7F and 0xFF, both decode to 0).
        for code in 0..=255u8 {
            let lin = ulaw_to_linear(code);
            let back = linear_to_ulaw(lin);
            if code != 0x7F {
                assert_eq!(back, code, "µ-law {code:#x} -> {lin} -> {back:#x}");
            }
            let lin = alaw_to_linear(code);
            assert_eq!(linear_to_alaw(lin), code, "A-law {code:#x} -> {lin}");
        }
    }

    #[test]
    fn g711_known_points() {
        // Values from the ITU-T G.711 tables: µ-law 0xFF/0x7F are ±0, 0x80 is
        // +32124, 0x00 is -32124; A-law 0xD5 is +8, 0xAA is +32256.
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn i16_round_trip_is_exact() {
        for v in [-32768i16, -1, 0, 1, 12345, 32767] {
            assert_eq!(f32_to_i16(i16_to_f32(v)), v);
        }
        assert_eq!(f32_to_i16(2.0), 32767);
        assert_eq!(f32_to_i16(f32::NAN), 0);
    }

    #[test]
    fn mixdown_averages() {
        assert_eq!(mixdown(&[1.0, 0.0, 0.5, 0.5], 2), vec![0.5, 0.5]);
        assert_eq!(mixdown(&[f32::NAN, 1.0], 2), vec![0.5]);
    }
}
