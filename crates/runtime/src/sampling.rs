//! Choosing the next token from a logits row: penalties, suppressed ids,
//! temperature, top-k, top-p, min-p, and a seeded draw.
//!
//! Reference: transformers 5.24's logits processors
//! (`generation/logits_process.py`), in the order `generate` applies them
//! (`RepetitionPenaltyLogitsProcessor`, `SuppressTokensLogitsProcessor`, then
//! when sampling `TemperatureLogitsWarper`, `TopKLogitsWarper`,
//! `TopPLogitsWarper`, `MinPLogitsWarper`), plus OpenAI's presence and
//! frequency penalties (`logit -= count * frequency + (count > 0) *
//! presence`, over generated tokens, applied after the repetition penalty
//! as vLLM does). Temperature 0 means greedy: the processors that apply even
//! then (penalties, suppression) run, then the first highest logit wins (as
//! `argmax`).
//!
//! **On the host, over `&mut [f32]`, not generic over the backend.** The
//! engine reads each step's last-token logits back anyway (it has to look at
//! the chosen token to stop, stream text and parse tool calls); the penalty
//! state (token counts per request) lives on the host; top-p needs a sort,
//! which burn's backends do not share; and a host RNG makes "same seed, same
//! output" hold on every backend, CUDA included. A 152k-vocabulary row is
//! 600 kB — small next to the forward pass that produced it.
//!
//! - [`SamplingConfig`]: resolved parameters;
//!   [`SamplingConfig::resolve`] merges a request's [`SamplingOverrides`]
//!   over the checkpoint's `generation_config.json` over OpenAI's defaults.
//! - [`Sampler`]: one request's state (token counts, RNG);
//!   [`Sampler::process`] applies the processors, [`Sampler::sample`] picks
//!   and records a token.

use omnivox_model::qwen3_omni::GenerationConfig;
use std::collections::HashMap;

/// A sampling parameter out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    /// A parameter is outside its range.
    #[error("sampling parameter `{field}`: {reason}")]
    Invalid {
        /// The parameter, as the API spells it.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Every token was removed (all suppressed or not finite).
    #[error("no token can be sampled: every logit is suppressed or not finite")]
    NothingToSample,
}

/// What a request sets; `None` falls back to the checkpoint's
/// `generation_config.json`, then to OpenAI's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingOverrides {
    /// Temperature; 0 is greedy.
    pub temperature: Option<f32>,
    /// Nucleus mass in (0, 1]; 1 disables it.
    pub top_p: Option<f32>,
    /// Keep the `k` highest logits; 0 disables it.
    pub top_k: Option<usize>,
    /// Drop tokens below `min_p` times the top probability; 0 disables it.
    pub min_p: Option<f32>,
    /// OpenAI's presence penalty (−2 to 2).
    pub presence_penalty: Option<f32>,
    /// OpenAI's frequency penalty (−2 to 2).
    pub frequency_penalty: Option<f32>,
    /// The multiplicative repetition penalty (> 0; 1 disables it).
    pub repetition_penalty: Option<f32>,
    /// Ids never to generate; replaces the checkpoint's `suppress_tokens`.
    pub suppress_tokens: Option<Vec<u32>>,
    /// RNG seed; `None` draws one.
    pub seed: Option<u64>,
}

/// Resolved sampling parameters of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingConfig {
    /// 0 is greedy.
    pub temperature: f32,
    /// 1 disables it.
    pub top_p: f32,
    /// `None` disables it.
    pub top_k: Option<usize>,
    /// 0 disables it.
    pub min_p: f32,
    /// Additive, per distinct generated token.
    pub presence_penalty: f32,
    /// Additive, per occurrence of a generated token.
    pub frequency_penalty: f32,
    /// Multiplicative, over the penalty context and generated tokens.
    pub repetition_penalty: f32,
    /// Ids never generated.
    pub suppress_tokens: Vec<u32>,
    /// The RNG seed.
    pub seed: u64,
}

impl Default for SamplingConfig {
    /// OpenAI's defaults: temperature 1, top_p 1, no top-k, no penalties.
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: None,
            min_p: 0.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            repetition_penalty: 1.0,
            suppress_tokens: Vec::new(),
            seed: 0,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> SamplingError {
    SamplingError::Invalid {
        field,
        reason: reason.into(),
    }
}

impl SamplingConfig {
    /// A request's overrides over the checkpoint's defaults over OpenAI's.
    /// `do_sample: false` in the checkpoint makes its default greedy.
    pub fn resolve(
        req: &SamplingOverrides,
        defaults: &GenerationConfig,
    ) -> Result<Self, SamplingError> {
        let base = Self::default();
        let default_temperature = match defaults.do_sample {
            Some(false) => 0.0,
            _ => defaults.temperature.unwrap_or(base.temperature),
        };
        let cfg = Self {
            temperature: req.temperature.unwrap_or(default_temperature),
            top_p: req.top_p.or(defaults.top_p).unwrap_or(base.top_p),
            top_k: req.top_k.or(defaults.top_k).filter(|&k| k > 0),
            min_p: req.min_p.or(defaults.min_p).unwrap_or(base.min_p),
            presence_penalty: req
                .presence_penalty
                .or(defaults.presence_penalty)
                .unwrap_or(0.0),
            frequency_penalty: req
                .frequency_penalty
                .or(defaults.frequency_penalty)
                .unwrap_or(0.0),
            repetition_penalty: req
                .repetition_penalty
                .or(defaults.repetition_penalty)
                .unwrap_or(1.0),
            suppress_tokens: req
                .suppress_tokens
                .clone()
                .unwrap_or_else(|| defaults.suppress_tokens.clone()),
            seed: req.seed.unwrap_or_else(random_seed),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every range; names the first bad parameter.
    pub fn validate(&self) -> Result<(), SamplingError> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(invalid(
                "temperature",
                format!("{} is not a finite value >= 0", self.temperature),
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(invalid("top_p", format!("{} is not in (0, 1]", self.top_p)));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(invalid("min_p", format!("{} is not in [0, 1]", self.min_p)));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(invalid(
                "repetition_penalty",
                format!("{} is not a finite value > 0", self.repetition_penalty),
            ));
        }
        for (field, v) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            if !v.is_finite() {
                return Err(invalid(field, format!("{v} is not finite")));
            }
        }
        Ok(())
    }

    /// Whether tokens are chosen by argmax.
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }
}

/// A seed from the process's hash randomness and the clock (for requests
/// that give none).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.finish()
}

/// xoshiro256** seeded through SplitMix64: small, fast, and the same on
/// every platform.
#[derive(Debug, Clone)]
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in `[0, 1)` with 53 bits.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One request's token chooser.
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplingConfig,
    rng: Rng,
    /// Tokens the repetition penalty applies to (context + generated).
    seen: Vec<bool>,
    /// How often each generated token was generated.
    counts: HashMap<u32, u32>,
}

impl Sampler {
    /// A sampler whose repetition penalty also covers `penalty_context`
    /// (transformers applies it over the whole sequence, prompt included;
    /// pass `&[]` to penalise generated tokens only, as the talker does).
    pub fn new(config: SamplingConfig, penalty_context: &[u32]) -> Self {
        let mut s = Self {
            rng: Rng::new(config.seed),
            config,
            seen: Vec::new(),
            counts: HashMap::new(),
        };
        for &t in penalty_context {
            s.mark_seen(t);
        }
        s
    }

    /// The parameters.
    pub fn config(&self) -> &SamplingConfig {
        &self.config
    }

    fn mark_seen(&mut self, t: u32) {
        let i = t as usize;
        if i >= self.seen.len() {
            self.seen.resize(i + 1, false);
        }
        self.seen[i] = true;
    }

    /// Records a token as generated (for the penalties), when it was chosen
    /// elsewhere (e.g. forced by constrained decoding).
    pub fn accept(&mut self, token: u32) {
        self.mark_seen(token);
        *self.counts.entry(token).or_insert(0) += 1;
    }

    /// Applies every processor in place: removed tokens become `-inf`. The
    /// row is what transformers' processor list hands to `softmax` (or to
    /// `argmax` when greedy).
    pub fn process(&self, logits: &mut [f32]) {
        let c = &self.config;
        if c.repetition_penalty != 1.0 {
            for (i, l) in logits.iter_mut().enumerate() {
                if self.seen.get(i).copied().unwrap_or(false) {
                    *l = if *l < 0.0 {
                        *l * c.repetition_penalty
                    } else {
                        *l / c.repetition_penalty
                    };
                }
            }
        }
        if c.presence_penalty != 0.0 || c.frequency_penalty != 0.0 {
            for (&t, &n) in &self.counts {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l -= n as f32 * c.frequency_penalty + c.presence_penalty;
                }
            }
        }
        for &t in &c.suppress_tokens {
            if let Some(l) = logits.get_mut(t as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        if c.is_greedy() {
            return;
        }
        if c.temperature != 1.0 {
            logits.iter_mut().for_each(|l| *l /= c.temperature);
        }
        if let Some(k) = c.top_k {
            top_k(logits, k);
        }
        if c.top_p < 1.0 {
            top_p(logits, c.top_p);
        }
        if c.min_p > 0.0 {
            min_p(logits, c.min_p);
        }
    }

    /// Processes the row, chooses a token (argmax when greedy, else a draw
    /// from the softmax) and records it.
    pub fn sample(&mut self, logits: &mut [f32]) -> Result<u32, SamplingError> {
        self.process(logits);
        let token = if self.config.is_greedy() {
            argmax(logits)
        } else {
            draw(logits, self.rng.uniform())
        }
        .ok_or(SamplingError::NothingToSample)?;
        self.accept(token);
        Ok(token)
    }
}

/// The first index of the highest finite-or-infinite logit (NaN never wins);
/// `None` when every logit is `-inf` or NaN.
pub fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if l.is_nan() || l == f32::NEG_INFINITY {
            continue;
        }
        if best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    best.map(|(i, _)| i as u32)
}

/// `TopKLogitsWarper`: remove logits below the `k`-th highest (ties at the
/// boundary stay).
fn top_k(logits: &mut [f32], k: usize) {
    if k == 0 || k >= logits.len() {
        return;
    }
    let mut sorted: Vec<f32> = logits.to_vec();
    let (_, kth, _) = sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let threshold = *kth;
    logits
        .iter_mut()
        .filter(|l| **l < threshold)
        .for_each(|l| *l = f32::NEG_INFINITY);
}

/// Softmax of a row (removed tokens get 0), in `f32` as torch computes it.
fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return vec![0.0; logits.len()];
    }
    let exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// `TopPLogitsWarper`: sort ascending, remove tokens whose cumulative
/// probability is at most `1 - top_p`, keep the highest always.
fn top_p(logits: &mut [f32], p: f32) {
    let probs = softmax(logits);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[a].total_cmp(&logits[b]));
    let threshold = (1.0 - f64::from(p)) as f32;
    let mut cumulative = 0f32;
    let last = order.len().saturating_sub(1);
    for (rank, &i) in order.iter().enumerate() {
        cumulative += probs[i];
        if rank < last && cumulative <= threshold {
            logits[i] = f32::NEG_INFINITY;
        }
    }
}

/// `MinPLogitsWarper`: remove tokens whose probability is below `min_p`
/// times the top probability.
fn min_p(logits: &mut [f32], min_p: f32) {
    let probs = softmax(logits);
    let top = probs.iter().copied().fold(0f32, f32::max);
    let scaled = min_p * top;
    let keep = argmax(logits);
    for (i, (l, &q)) in logits.iter_mut().zip(&probs).enumerate() {
        if q < scaled && Some(i as u32) != keep {
            *l = f32::NEG_INFINITY;
        }
    }
}

/// A draw from the softmax of the row with a uniform `u` in `[0, 1)`.
fn draw(logits: &[f32], u: f64) -> Option<u32> {
    let max = logits
        .iter()
        .copied()
        .filter(|l| !l.is_nan())
        .fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return None;
    }
    let weights: Vec<f64> = logits
        .iter()
        .map(|&l| {
            if l.is_nan() {
                0.0
            } else {
                f64::from(l - max).exp()
            }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let target = u * total;
    let mut acc = 0.0;
    let mut last = None;
    for (i, &w) in weights.iter().enumerate() {
        if w == 0.0 {
            continue;
        }
        acc += w;
        last = Some(i as u32);
        if target < acc {
            return last;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(cfg: SamplingConfig) -> Sampler {
        Sampler::new(cfg, &[])
    }

    #[test]
    fn greedy_takes_the_first_highest_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, f32::NAN]), Some(1));
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NAN]), None);
        let mut s = sampler(SamplingConfig {
            temperature: 0.0,
            ..Default::default()
        });
        assert_eq!(s.sample(&mut [0.5, 2.0, -1.0]).unwrap(), 1);
    }

    #[test]
    fn presence_and_frequency_follow_openai_formula() {
        let cfg = SamplingConfig {
            temperature: 0.0,
            presence_penalty: 0.5,
            frequency_penalty: 0.25,
            ..Default::default()
        };
        let mut s = sampler(cfg);
        s.accept(1);
        s.accept(1);
        s.accept(2);
        let mut row = vec![0.0f32; 4];
        s.process(&mut row);
        // mu[j] - c[j] * frequency - (c[j] > 0) * presence
        assert_eq!(row, vec![0.0, -2.0 * 0.25 - 0.5, -0.25 - 0.5, 0.0]);
    }

    #[test]
    fn everything_suppressed_is_an_error() {
        let cfg = SamplingConfig {
            suppress_tokens: vec![0, 1],
            ..Default::default()
        };
        let mut s = sampler(cfg);
        assert_eq!(
            s.sample(&mut [1.0, 2.0]),
            Err(SamplingError::NothingToSample)
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_tokens() {
        let cfg = SamplingConfig {
            seed: 42,
            ..Default::default()
        };
        let row: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |cfg: SamplingConfig| {
            let mut s = sampler(cfg);
            (0..40)
                .map(|_| s.sample(&mut row.clone()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(cfg.clone()), run(cfg.clone()));
        assert_ne!(run(cfg.clone()), run(SamplingConfig { seed: 43, ..cfg }));
    }

    /// Empirical frequencies of 20,000 draws match the softmax within 2%.
    #[test]
    fn draws_follow_the_softmax() {
        let row = [0.0f32, 1.0, 2.0, f32::NEG_INFINITY];
        let probs = softmax(&row);
        let mut s = sampler(SamplingConfig {
            seed: 7,
            ..Default::default()
        });
        let mut counts = [0usize; 4];
        let n = 20_000;
        for _ in 0..n {
            counts[s.sample(&mut row.to_vec()).unwrap() as usize] += 1;
        }
        for (c, p) in counts.iter().zip(probs) {
            assert!((*c as f32 / n as f32 - p).abs() < 0.02, "{counts:?} vs {p}");
        }
        assert_eq!(counts[3], 0);
    }

    #[test]
    fn requests_override_checkpoint_defaults_which_override_openai() {
        let defaults = GenerationConfig {
            do_sample: Some(true),
            temperature: Some(0.7),
            top_k: Some(20),
            top_p: Some(0.8),
            repetition_penalty: Some(1.05),
            suppress_tokens: vec![9],
            ..Default::default()
        };
        let cfg = SamplingConfig::resolve(&SamplingOverrides::default(), &defaults).unwrap();
        assert_eq!(
            (
                cfg.temperature,
                cfg.top_k,
                cfg.top_p,
                cfg.repetition_penalty
            ),
            (0.7, Some(20), 0.8, 1.05)
        );
        assert_eq!(cfg.suppress_tokens, vec![9]);
        let req = SamplingOverrides {
            temperature: Some(0.0),
            top_k: Some(0),
            suppress_tokens: Some(vec![]),
            seed: Some(3),
            ..Default::default()
        };
        let cfg = SamplingConfig::resolve(&req, &defaults).unwrap();
        assert!(cfg.is_greedy() && cfg.top_k.is_none() && cfg.suppress_tokens.is_empty());
        assert_eq!((cfg.repetition_penalty, cfg.seed), (1.05, 3));
        let greedy = GenerationConfig {
            do_sample: Some(false),
            temperature: Some(0.7),
            ..Default::default()
        };
        assert!(
            SamplingConfig::resolve(&SamplingOverrides::default(), &greedy)
                .unwrap()
                .is_greedy()
        );
        let cfg =
            SamplingConfig::resolve(&SamplingOverrides::default(), &GenerationConfig::default())
                .unwrap();
        assert_eq!((cfg.temperature, cfg.top_p, cfg.top_k), (1.0, 1.0, None));
    }

    #[test]
    fn out_of_range_parameters_are_named() {
        let bad = |o: SamplingOverrides| {
            SamplingConfig::resolve(&o, &GenerationConfig::default()).unwrap_err()
        };
        let e = bad(SamplingOverrides {
            top_p: Some(0.0),
            ..Default::default()
        });
        assert!(e.to_string().contains("top_p"));
        let e = bad(SamplingOverrides {
            temperature: Some(f32::NAN),
            ..Default::default()
        });
        assert!(e.to_string().contains("temperature"));
        let e = bad(SamplingOverrides {
            repetition_penalty: Some(0.0),
            ..Default::default()
        });
        assert!(e.to_string().contains("repetition_penalty"));
    }
}
