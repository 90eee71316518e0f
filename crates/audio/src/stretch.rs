//! Pitch-preserving time-stretch (the API's `speed`) by WSOLA: waveform
//! similarity overlap-add (Verhelst & Roelands, ICASSP 1993).
//!
//! Output is built from 30 ms Hann-windowed frames laid down every 15 ms
//! (`hs`). Frame `k` is read from the input near `k * hs * speed`; within
//! ±7.5 ms of that point we pick the position whose waveform best matches
//! the natural continuation of the previous frame (normalised
//! cross-correlation), so overlapping frames add in phase: no pitch change,
//! no phasiness, no clicks. WSOLA suits speech (one voice, a clear period)
//! and runs in the time domain with small, fixed look-ahead, which is what a
//! live stream needs; a phase vocoder would smear transients and cost FFTs.
//!
//! Streaming: [`TimeStretch::push`] computes every frame whose input is
//! available and returns the output that no later frame can change. The
//! look-ahead is one frame plus the search tolerance plus a half frame
//! (52.5 ms of input at any rate); [`TimeStretch::finish`] flushes the rest
//! and makes the output exactly `round(input_len / speed)` samples long.
//! Streamed output equals whole output sample for sample.

use crate::{Error, Result};

/// The slowest speed accepted (4x longer).
pub const MIN_SPEED: f32 = 0.25;
/// The fastest speed accepted (4x shorter).
pub const MAX_SPEED: f32 = 4.0;

/// A streaming time-stretcher for mono audio.
#[derive(Debug, Clone)]
pub struct TimeStretch {
    speed: f64,
    /// Frame length, synthesis hop (n / 2) and search tolerance, in samples.
    n: usize,
    hs: usize,
    delta: usize,
    window: Vec<f32>,
    /// Input from absolute position `in_offset` on; `in_total` received.
    input: Vec<f32>,
    in_offset: u64,
    in_total: u64,
    /// Next frame index and where the previous frame was read from.
    k: u64,
    prev: Option<u64>,
    /// Overlap-add accumulator for output positions `k * hs ..`.
    acc: Vec<f32>,
    /// Finished output not yet returned (held back while it could run past
    /// the final length), and how much has been returned.
    ready: Vec<f32>,
    emitted: u64,
}

impl TimeStretch {
    /// A stretcher for audio at `sample_rate` Hz played at `speed` (0.25 ..= 4.0;
    /// 2.0 halves the duration). Speed 1.0 passes samples straight through.
    pub fn new(sample_rate: u32, speed: f32) -> Result<Self> {
        if !speed.is_finite() || !(MIN_SPEED..=MAX_SPEED).contains(&speed) {
            return Err(Error::InvalidSpeed(speed));
        }
        Error::check_rate(sample_rate, crate::MIN_SAMPLE_RATE, crate::MAX_SAMPLE_RATE)?;
        let hs = (sample_rate as usize * 15).div_ceil(1000); // 15 ms
        let n = 2 * hs;
        let delta = hs / 2;
        // Periodic Hann: overlapping halves sum to exactly 1.
        let window = (0..n)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
            .collect();
        Ok(TimeStretch {
            speed: f64::from(speed),
            n,
            hs,
            delta,
            window,
            input: Vec::new(),
            in_offset: 0,
            in_total: 0,
            k: 0,
            prev: None,
            acc: vec![0.0; n],
            ready: Vec::new(),
            emitted: 0,
        })
    }

    fn passthrough(&self) -> bool {
        self.speed == 1.0
    }

    /// Input samples held back before they can produce output.
    pub fn latency_samples(&self) -> usize {
        if self.passthrough() {
            0
        } else {
            self.n + self.delta + self.hs
        }
    }

    /// Stretches the next piece of input; returns the output now final.
    pub fn push(&mut self, input: &[f32]) -> Vec<f32> {
        if self.passthrough() {
            self.in_total += input.len() as u64;
            self.emitted += input.len() as u64;
            return input.to_vec();
        }
        self.input
            .extend(input.iter().map(|&x| if x.is_finite() { x } else { 0.0 }));
        self.in_total += input.len() as u64;
        while let Some(pos) = self.next_position(false) {
            self.add_frame(pos);
        }
        // Never return output past the shortest final length this input allows.
        let cap = (self.in_total as f64 / self.speed).floor() as u64;
        self.release(cap)
    }

    /// Flushes the tail: the whole output is `round(input_len / speed)` samples.
    pub fn finish(mut self) -> Vec<f32> {
        if self.passthrough() {
            return Vec::new();
        }
        let total = (self.in_total as f64 / self.speed).round() as u64;
        while self.emitted + (self.ready.len() as u64) < total {
            match self.next_position(true) {
                Some(pos) => self.add_frame(pos),
                None => break,
            }
        }
        let mut out = self.release(total);
        let short = total.saturating_sub(self.emitted) as usize;
        out.extend(std::iter::repeat_n(0.0, short));
        out
    }

    fn release(&mut self, cap: u64) -> Vec<f32> {
        let n = (cap.saturating_sub(self.emitted) as usize).min(self.ready.len());
        self.emitted += n as u64;
        self.ready.drain(..n).collect()
    }

    /// Where frame `k` reads from, if its input is there (or `finishing`).
    fn next_position(&self, finishing: bool) -> Option<u64> {
        let (n, hs, delta) = (self.n as u64, self.hs as u64, self.delta as u64);
        let nominal = (self.k as f64 * hs as f64 * self.speed).round() as u64;
        let Some(prev) = self.prev else {
            // Frame 0 is the start of the input.
            return (finishing || self.in_total >= n).then_some(0);
        };
        let need = (nominal + delta + n).max(prev + hs + n);
        if !finishing && self.in_total < need {
            return None;
        }
        // Positions past the end would read silence: keep frames inside.
        let last = self.in_total.saturating_sub(n);
        let lo = nominal.saturating_sub(delta).min(last);
        let hi = (nominal + delta).min(last);
        Some(self.best_match(prev + hs, lo, hi, nominal.min(last)))
    }

    /// The position in `lo ..= hi` whose frame best matches the frame at
    /// `target` (normalised cross-correlation; ties go to `nominal`).
    ///
    /// Coarse to fine: every second lag on every second sample first (a
    /// quarter of the work), then the three lags around the winner in full.
    fn best_match(&self, target: u64, lo: u64, hi: u64, nominal: u64) -> u64 {
        let n = self.n;
        let reference: Vec<f32> = (0..n as u64).map(|i| self.sample(target + i)).collect();
        let span: Vec<f32> = (lo..hi + n as u64).map(|i| self.sample(i)).collect();
        let lags = (hi - lo) as usize;
        let closer = |a: usize, b: usize| {
            (lo + a as u64).abs_diff(nominal) < (lo + b as u64).abs_diff(nominal)
        };

        // Coarse: lags 0, 2, 4, ... against the even samples.
        let ref_even: Vec<f32> = reference.iter().step_by(2).copied().collect();
        let span_even: Vec<f32> = span.iter().step_by(2).copied().collect();
        let half = ref_even.len();
        let mut energy: f32 = span_even[..half].iter().map(|x| x * x).sum();
        let mut best = (f32::NEG_INFINITY, 0usize);
        for m in 0..=lags / 2 {
            if m > 0 {
                let (old, new) = (span_even[m - 1], span_even[m + half - 1]);
                energy = (energy - old * old + new * new).max(0.0);
            }
            let score = dot(&ref_even, &span_even[m..m + half]) / (energy + 1e-9).sqrt();
            if score > best.0 || (score == best.0 && closer(2 * m, best.1)) {
                best = (score, 2 * m);
            }
        }

        // Fine: the coarse winner and its neighbours, every sample.
        let centre = best.1;
        let mut best = (f32::NEG_INFINITY, centre);
        for j in centre.saturating_sub(1)..=(centre + 1).min(lags) {
            let cand = &span[j..j + n];
            let energy: f32 = cand.iter().map(|x| x * x).sum();
            let score = dot(&reference, cand) / (energy + 1e-9).sqrt();
            if score > best.0 || (score == best.0 && closer(j, best.1)) {
                best = (score, j);
            }
        }
        lo + best.1 as u64
    }

    /// Input at absolute position `i`; silence past the end.
    fn sample(&self, i: u64) -> f32 {
        i.checked_sub(self.in_offset)
            .and_then(|j| self.input.get(j as usize))
            .copied()
            .unwrap_or(0.0)
    }

    /// Overlap-adds the frame read at `pos`, finalises `hs` output samples
    /// and drops input no later frame can use.
    fn add_frame(&mut self, pos: u64) {
        let (n, hs) = (self.n, self.hs);
        if self.prev.is_none() {
            // A virtual previous frame identical to this one: the output
            // starts at full level instead of fading in.
            for i in 0..hs {
                self.acc[i] += self.sample(pos + i as u64) * self.window[hs + i];
            }
        }
        for i in 0..n {
            self.acc[i] += self.sample(pos + i as u64) * self.window[i];
        }
        self.ready.extend_from_slice(&self.acc[..hs]);
        self.acc.copy_within(hs.., 0);
        self.acc[n - hs..].fill(0.0);
        self.prev = Some(pos);
        self.k += 1;
        let next_nominal = (self.k as f64 * hs as f64 * self.speed).round() as u64;
        // The next search starts here at the earliest (finishing clamps
        // positions to `in_total - n`, which only grows).
        let keep_from = next_nominal
            .saturating_sub(self.delta as u64)
            .min(pos + hs as u64)
            .min(self.in_total.saturating_sub(n as u64));
        let drop = keep_from
            .saturating_sub(self.in_offset)
            .min(self.input.len() as u64) as usize;
        self.input.drain(..drop);
        self.in_offset += drop as u64;
    }
}

/// Dot product in four independent lanes (vectorises; fixed order, so the
/// result does not depend on how the input was chunked).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Stretches a whole mono clip (see [`TimeStretch`]).
pub fn time_stretch(samples: &[f32], sample_rate: u32, speed: f32) -> Result<Vec<f32>> {
    let mut ts = TimeStretch::new(sample_rate, speed)?;
    let mut out = ts.push(samples);
    out.extend(ts.finish());
    Ok(out)
}
