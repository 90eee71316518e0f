//! The Slaney mel filter bank, as transformers' `mel_filter_bank(…,
//! norm="slaney", mel_scale="slaney")` builds it (`audio_utils.py`), in f64.
//! Each filter is stored as its non-zero span only.

/// One triangular filter: weights for FFT bins `start..start + weights.len()`.
#[derive(Debug, Clone)]
pub(crate) struct MelFilter {
    pub start: usize,
    pub weights: Vec<f64>,
}

fn hertz_to_mel(f: f64) -> f64 {
    const MIN_LOG_HZ: f64 = 1000.0;
    const MIN_LOG_MEL: f64 = 15.0;
    if f >= MIN_LOG_HZ {
        MIN_LOG_MEL + (f / MIN_LOG_HZ).ln() * (27.0 / 6.4f64.ln())
    } else {
        3.0 * f / 200.0
    }
}

fn mel_to_hertz(m: f64) -> f64 {
    const MIN_LOG_HZ: f64 = 1000.0;
    const MIN_LOG_MEL: f64 = 15.0;
    if m >= MIN_LOG_MEL {
        MIN_LOG_HZ * ((6.4f64.ln() / 27.0) * (m - MIN_LOG_MEL)).exp()
    } else {
        200.0 * m / 3.0
    }
}

/// `numpy.linspace(start, stop, num)`: `i * step + start`, last exactly `stop`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

/// The filter bank as a dense `[num_frequency_bins][num_mel_filters]`
/// matrix, exactly as the reference lays it out.
pub(crate) fn dense_filter_bank(
    num_frequency_bins: usize,
    num_mel_filters: usize,
    min_frequency: f64,
    max_frequency: f64,
    sampling_rate: u32,
) -> Vec<Vec<f64>> {
    let mel_freqs = linspace(
        hertz_to_mel(min_frequency),
        hertz_to_mel(max_frequency),
        num_mel_filters + 2,
    );
    let filter_freqs: Vec<f64> = mel_freqs.iter().map(|&m| mel_to_hertz(m)).collect();
    let fft_freqs = linspace(0.0, f64::from(sampling_rate / 2), num_frequency_bins);
    let diff: Vec<f64> = filter_freqs.windows(2).map(|w| w[1] - w[0]).collect();
    fft_freqs
        .iter()
        .map(|&f| {
            (0..num_mel_filters)
                .map(|m| {
                    // slopes = filter_freqs - fft_freq
                    let down = -(filter_freqs[m] - f) / diff[m];
                    let up = (filter_freqs[m + 2] - f) / diff[m + 1];
                    let tri = down.min(up).max(0.0);
                    let enorm = 2.0 / (filter_freqs[m + 2] - filter_freqs[m]);
                    tri * enorm
                })
                .collect()
        })
        .collect()
}

/// The same bank stored sparsely, one span per filter.
pub(crate) fn sparse_filter_bank(dense: &[Vec<f64>], num_mel_filters: usize) -> Vec<MelFilter> {
    (0..num_mel_filters)
        .map(|m| {
            let nonzero: Vec<usize> = (0..dense.len()).filter(|&k| dense[k][m] != 0.0).collect();
            match (nonzero.first(), nonzero.last()) {
                (Some(&a), Some(&b)) => MelFilter {
                    start: a,
                    weights: (a..=b).map(|k| dense[k][m]).collect(),
                },
                _ => MelFilter {
                    start: 0,
                    weights: Vec::new(),
                },
            }
        })
        .collect()
}
