//! Sample-rate conversion of mono `f32`, whole or streamed, on rubato.
//!
//! Rate pairs with a small common block (every common rate pair: 44.1k→16k
//! is 441:160) use rubato's synchronous FFT resampler, which is fast and
//! band-limited; odd pairs (a prime rate) use its sinc interpolator. Either
//! way the resampler's start-up delay is trimmed and the tail is flushed, so
//! `n` input samples become exactly `round(n * to / from)` output samples, and
//! streamed output equals whole output sample for sample. Input is clamped
//! to [-1, 1] (NaN and infinities become 0) on the way in.

use crate::{Error, Result};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

/// Largest FFT block (in input frames) before we switch to sinc interpolation.
const MAX_FFT_BLOCK: usize = 2048;
/// Target input frames per call into rubato.
const CHUNK: usize = 1024;

/// A streaming mono resampler. `push` samples at `from` Hz, get samples at
/// `to` Hz; `finish` flushes the tail.
pub struct Resampler {
    from: u32,
    to: u32,
    engine: Option<Box<dyn rubato::Resampler<f32>>>,
    /// Input not yet handed to rubato (less than one chunk).
    pending: Vec<f32>,
    /// Output frames of start-up delay still to drop.
    skip: usize,
    consumed: u64,
    produced: u64,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz (both 1 ..= 1,536,000).
    pub fn new(from: u32, to: u32) -> Result<Self> {
        const MAX: u32 = 1_536_000;
        Error::check_rate(from, 1, MAX)?;
        Error::check_rate(to, 1, MAX)?;
        let engine = if from == to {
            None
        } else {
            Some(make_engine(from, to)?)
        };
        let skip = engine.as_ref().map_or(0, |e| e.output_delay());
        let scratch = vec![0.0; engine.as_ref().map_or(0, |e| e.output_frames_max())];
        Ok(Resampler {
            from,
            to,
            engine,
            pending: Vec::new(),
            skip,
            consumed: 0,
            produced: 0,
            scratch,
        })
    }

    /// Input rate in Hz.
    pub fn input_rate(&self) -> u32 {
        self.from
    }

    /// Output rate in Hz.
    pub fn output_rate(&self) -> u32 {
        self.to
    }

    /// How many input frames can sit inside the resampler before they come
    /// out: its latency, in input frames.
    pub fn latency_frames(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| {
            e.input_frames_max() + e.output_delay() * self.from as usize / self.to as usize
        })
    }

    /// Resamples the next piece of input; returns what is ready.
    pub fn push(&mut self, input: &[f32]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        self.push_into(input, &mut out)?;
        Ok(out)
    }

    /// Like [`Resampler::push`], appending to `out`.
    pub fn push_into(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<()> {
        self.consumed += input.len() as u64;
        let Some(engine) = self.engine.as_mut() else {
            out.extend_from_slice(input);
            self.produced += input.len() as u64;
            return Ok(());
        };
        let need = engine.input_frames_next();
        let mut rest = input;
        // Top up the pending chunk, then feed whole chunks straight from `input`.
        if !self.pending.is_empty() {
            let take = (need - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() < need {
                return Ok(());
            }
            let chunk = std::mem::take(&mut self.pending);
            self.run(&chunk, None, out)?;
            self.pending = chunk;
            self.pending.clear();
        }
        while rest.len() >= need {
            let (chunk, tail) = rest.split_at(need);
            self.run(chunk, None, out)?;
            rest = tail;
        }
        self.pending.extend_from_slice(rest);
        Ok(())
    }

    /// Flushes the tail: after this, the output holds exactly
    /// `round(total_in * to / from)` samples.
    pub fn finish(mut self) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        self.finish_into(&mut out)?;
        Ok(out)
    }

    /// Like [`Resampler::finish`], appending to `out`; the resampler is then
    /// reset for a new stream.
    pub fn finish_into(&mut self, out: &mut Vec<f32>) -> Result<()> {
        let total =
            (self.consumed * u64::from(self.to) + u64::from(self.from) / 2) / u64::from(self.from);
        if self.engine.is_some() {
            let partial = std::mem::take(&mut self.pending);
            self.run(&partial, Some(partial.len()), out)?;
            // Zeros push the remaining delayed output through.
            let mut guard = 0;
            while self.produced < total && guard < 64 {
                self.run(&[], Some(0), out)?;
                guard += 1;
            }
        }
        let excess = self.produced.saturating_sub(total) as usize;
        out.truncate(out.len().saturating_sub(excess));
        self.reset();
        Ok(())
    }

    fn reset(&mut self) {
        if let Some(e) = self.engine.as_mut() {
            e.reset();
            self.skip = e.output_delay();
        }
        self.pending.clear();
        self.consumed = 0;
        self.produced = 0;
    }

    /// One call into rubato with `chunk` (or a partial, zero-padded chunk).
    fn run(&mut self, chunk: &[f32], partial: Option<usize>, out: &mut Vec<f32>) -> Result<()> {
        let Some(engine) = self.engine.as_mut() else {
            return Ok(());
        };
        let need = engine.input_frames_next();
        // NaN, infinities and absurd magnitudes would poison the FFT (and
        // make rubato panic): the input is clamped to [-1, 1] on the way in.
        let mut input: Vec<f32> = chunk.iter().map(|&x| crate::encode::sanitize(x)).collect();
        input.resize(need.max(chunk.len()), 0.0);
        let bad = |e: &dyn std::fmt::Display| Error::InvalidOption {
            what: "resampler state",
            detail: e.to_string(),
        };
        let adapter_in = InterleavedSlice::new(&input, 1, need).map_err(|e| bad(&e))?;
        let cap = self.scratch.len();
        let mut adapter_out =
            InterleavedSlice::new_mut(&mut self.scratch, 1, cap).map_err(|e| bad(&e))?;
        let indexing = partial.map(|n| rubato::Indexing::new().partial_len(n));
        let (_, written) = engine
            .process_into_buffer(&adapter_in, &mut adapter_out, indexing.as_ref())
            .map_err(|e| bad(&e))?;
        let drop = self.skip.min(written);
        self.skip -= drop;
        out.extend_from_slice(&self.scratch[drop..written]);
        self.produced += (written - drop) as u64;
        Ok(())
    }
}

fn make_engine(from: u32, to: u32) -> Result<Box<dyn rubato::Resampler<f32>>> {
    let (from_u, to_u) = (from as usize, to as usize);
    let g = gcd(from_u, to_u);
    let construction = |e: &dyn std::fmt::Display| Error::InvalidOption {
        what: "resampling rates",
        detail: format!("{from} Hz to {to} Hz: {e}"),
    };
    if from_u / g <= MAX_FFT_BLOCK && to_u / g <= MAX_FFT_BLOCK * 8 {
        let fft = Fft::<f32>::new(from_u, to_u, CHUNK, 1, FixedSync::Both)
            .map_err(|e| construction(&e))?;
        return Ok(Box::new(fft));
    }
    let params = SincInterpolationParameters {
        sinc_len: 128,
        f_cutoff: None,
        oversampling_factor: 128,
        interpolation: SincInterpolationType::Cubic,
        window: WindowFunction::BlackmanHarris2,
    };
    let ratio = f64::from(to) / f64::from(from);
    let sinc = Async::<f32>::new_sinc(ratio, 1.0, &params, CHUNK, 1, FixedAsync::Input)
        .map_err(|e| construction(&e))?;
    Ok(Box::new(sinc))
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resamples a whole mono clip.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    let mut r = Resampler::new(from, to)?;
    let mut out = Vec::with_capacity(
        usize::try_from(samples.len() as u64 * u64::from(to) / u64::from(from.max(1)))
            .unwrap_or(0)
            .saturating_add(16),
    );
    r.push_into(samples, &mut out)?;
    r.finish_into(&mut out)?;
    Ok(out)
}
