//! The host-side layout of one audio-encoder call: which frames go into which
//! conv chunk, which conv outputs are real tokens, and how the tokens fall
//! into attention windows.
//!
//! Reference: `chunk_and_pad_features`, `get_valid_indices`,
//! `get_audio_cu_seqlens` and `_get_feat_extract_output_lengths` in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`:
//!
//! - each clip is cut into chunks of 100 frames (`2 * n_window`), the last
//!   one shorter; every chunk of the call is zero-padded to the longest
//!   chunk of the call (so a short tail sees the same padding it sees in the
//!   reference, where it matters: a stride-2 convolution of an odd length
//!   reads one padded position of its input);
//! - a chunk of `f` frames yields `g(f)` tokens, `g` applying
//!   `x -> (x - 1) / 2 + 1` three times (13 for a full chunk);
//! - attention windows hold `T * (n_window_infer / 100)` tokens, where `T`
//!   is the token count of the longest chunk of the call; each clip's tokens
//!   are cut into such windows, the last one shorter.

use crate::error::{Error, Result};

/// Frames per conv chunk (`2 * n_window`, with `n_window` = 50).
pub const CHUNK_FRAMES: usize = 100;
/// Tokens a full chunk becomes.
pub const CHUNK_TOKENS: usize = 13;

/// `x -> (x - 1) / 2 + 1` (floor division; 0 stays 0): the output length of
/// a kernel-3, stride-2, padding-1 convolution.
fn halve(x: usize) -> usize {
    if x == 0 { 0 } else { (x - 1) / 2 + 1 }
}

/// Tokens the conv stack makes of one chunk of `frames` frames.
pub fn conv_tokens(frames: usize) -> usize {
    halve(halve(halve(frames)))
}

/// Audio tokens a clip of `frames` mel frames becomes
/// (`_get_feat_extract_output_lengths` with `n_window` = 50).
pub fn audio_tokens(frames: usize) -> usize {
    (frames / CHUNK_FRAMES) * CHUNK_TOKENS + conv_tokens(frames % CHUNK_FRAMES)
}

/// One conv chunk: `frames` frames of clip `clip` from frame `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// The clip it belongs to.
    pub clip: usize,
    /// Its first frame within the clip.
    pub start: usize,
    /// Its length in frames.
    pub frames: usize,
}

/// How the tokens of a call fall into attention windows.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowLayout {
    /// Each window's length in tokens, in token order.
    pub lens: Vec<usize>,
    /// The longest window: the padded width every window is computed at.
    pub width: usize,
    /// For each of the `lens.len() * width` padded slots, the token it holds
    /// (padding slots hold token 0 and are masked as keys); `None` when every
    /// window is full, so tokens map onto slots one to one.
    pub gather: Option<Vec<i64>>,
    /// For each token, its slot; `None` as for `gather`.
    pub scatter: Option<Vec<i64>>,
    /// `[windows, width]`: 0 for a real key, `-inf` for a padding slot;
    /// `None` as for `gather`.
    pub key_mask: Option<Vec<f32>>,
}

/// The layout of one encoder call over several clips.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderPlan {
    /// Every chunk, clip by clip.
    pub chunks: Vec<Chunk>,
    /// The longest chunk, in frames: every chunk is padded to it.
    pub chunk_frames: usize,
    /// Tokens the conv stack makes of a padded chunk (`conv_tokens` of
    /// `chunk_frames`).
    pub chunk_tokens: usize,
    /// Tokens of each clip.
    pub clip_tokens: Vec<usize>,
    /// The rows of the `[chunks * chunk_tokens]` conv output that are real
    /// tokens, in order.
    pub valid_rows: Vec<i64>,
    /// Attention windows.
    pub windows: WindowLayout,
}

impl EncoderPlan {
    /// Lays out clips of `clip_frames` mel frames with attention windows of
    /// `n_window_infer` frames (a multiple of 100 frames; the remainder of
    /// the division is dropped, as in the reference).
    pub fn new(clip_frames: &[usize], n_window_infer: usize) -> Result<Self> {
        if clip_frames.is_empty() {
            return Err(Error::InvalidInput(
                "the audio encoder needs at least one clip".into(),
            ));
        }
        if let Some(i) = clip_frames.iter().position(|&f| f == 0) {
            return Err(Error::InvalidInput(format!("audio clip {i} has no frames")));
        }
        let ratio = n_window_infer / CHUNK_FRAMES;
        if ratio == 0 {
            return Err(Error::InvalidInput(format!(
                "n_window_infer {n_window_infer} is shorter than a {CHUNK_FRAMES}-frame chunk"
            )));
        }
        let mut chunks = Vec::new();
        for (clip, &frames) in clip_frames.iter().enumerate() {
            let mut start = 0;
            while start < frames {
                let len = (frames - start).min(CHUNK_FRAMES);
                chunks.push(Chunk {
                    clip,
                    start,
                    frames: len,
                });
                start += len;
            }
        }
        let chunk_frames = chunks.iter().map(|c| c.frames).max().unwrap_or(0);
        let chunk_tokens = conv_tokens(chunk_frames);
        let valid_rows = chunks
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                (0..conv_tokens(c.frames)).map(move |t| (i * chunk_tokens + t) as i64)
            })
            .collect();
        let clip_tokens: Vec<usize> = clip_frames.iter().map(|&f| audio_tokens(f)).collect();
        let windows = WindowLayout::new(&clip_tokens, chunk_tokens * ratio);
        Ok(Self {
            chunks,
            chunk_frames,
            chunk_tokens,
            clip_tokens,
            valid_rows,
            windows,
        })
    }

    /// Total tokens of the call.
    pub fn tokens(&self) -> usize {
        self.valid_rows.len()
    }
}

impl WindowLayout {
    /// Windows of at most `window` tokens over clips of `clip_tokens` tokens.
    fn new(clip_tokens: &[usize], window: usize) -> Self {
        let mut lens = Vec::new();
        for &n in clip_tokens {
            lens.extend(std::iter::repeat_n(window, n / window));
            if n % window != 0 {
                lens.push(n % window);
            }
        }
        let width = lens.iter().copied().max().unwrap_or(0);
        if lens.iter().all(|&l| l == width) {
            return Self {
                lens,
                width,
                gather: None,
                scatter: None,
                key_mask: None,
            };
        }
        let slots = lens.len() * width;
        let mut gather = vec![0i64; slots];
        let mut key_mask = vec![f32::NEG_INFINITY; slots];
        let mut scatter = Vec::with_capacity(lens.iter().sum());
        let mut token = 0i64;
        for (w, &len) in lens.iter().enumerate() {
            for j in 0..len {
                let slot = w * width + j;
                gather[slot] = token;
                key_mask[slot] = 0.0;
                scatter.push(slot as i64);
                token += 1;
            }
        }
        Self {
            lens,
            width,
            gather: Some(gather),
            scatter: Some(scatter),
            key_mask: Some(key_mask),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_follow_the_reference_formula() {
        // Python: ((((x % 100) - 1) // 2 + 1 - 1) // 2 + 1 - 1) // 2 + 1 + (x // 100) * 13
        let reference = |x: i64| {
            let leave = x % 100;
            let f = (leave - 1).div_euclid(2) + 1;
            ((f - 1).div_euclid(2) + 1 - 1).div_euclid(2) + 1 + (x / 100) * 13
        };
        for frames in 0..5000usize {
            assert_eq!(
                audio_tokens(frames) as i64,
                reference(frames as i64),
                "{frames} frames"
            );
        }
    }

    #[test]
    fn chunks_tokens_and_windows_of_several_clips() {
        let plan = EncoderPlan::new(&[37, 250, 431], 200).unwrap();
        let frames: Vec<usize> = plan.chunks.iter().map(|c| c.frames).collect();
        assert_eq!(frames, [37, 100, 100, 50, 100, 100, 100, 100, 31]);
        assert_eq!((plan.chunk_frames, plan.chunk_tokens), (100, 13));
        assert_eq!(plan.clip_tokens, [5, 33, 56]);
        assert_eq!(plan.tokens(), 94);
        // Windows of 13 * 2 tokens, cut per clip.
        assert_eq!(plan.windows.lens, [5, 26, 7, 26, 26, 4]);
        let scatter = plan.windows.scatter.as_ref().unwrap();
        assert_eq!(&scatter[..7], &[0, 1, 2, 3, 4, 26, 27]);
        assert_eq!(plan.valid_rows[..6], [0, 1, 2, 3, 4, 13]);
    }

    #[test]
    fn a_lone_short_clip_is_not_padded_and_windows_shrink() {
        let plan = EncoderPlan::new(&[73], 800).unwrap();
        assert_eq!((plan.chunk_frames, plan.chunk_tokens), (73, 10));
        assert_eq!(plan.windows.lens, [10]);
        assert!(plan.windows.gather.is_none());
    }

    #[test]
    fn empty_input_is_refused() {
        assert!(EncoderPlan::new(&[], 800).is_err());
        assert!(EncoderPlan::new(&[10, 0], 800).is_err());
        assert!(EncoderPlan::new(&[10], 99).is_err());
    }
}
