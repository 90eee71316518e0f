//! Multimodal rotary position ids: the three position streams (temporal,
//! height, width) of a prompt and the offset later tokens continue from.
//!
//! Reference: `Qwen3OmniMoePreTrainedModelForConditionalGeneration.get_rope_index`
//! and `get_llm_pos_ids_for_vision` in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`
//! (transformers 5.24), for one unpadded sequence:
//!
//! - with no image or video grid the reference takes its plain path: all
//!   three streams are `0, 1, 2, …` and the delta is 0 — audio does not
//!   change that, and audio + text prompts (everything this server runs)
//!   always take it;
//! - with grids it walks the prompt: text and audio advance all streams
//!   together, an image or video spreads its tokens over `t × h × w`
//!   (temporal steps of `position_id_per_seconds × seconds_per_grid`), and
//!   audio inside a video is interleaved with the video by temporal position.
//!
//! Positions are computed in `f32`, as the reference computes them: a video
//! whose seconds-per-grid makes a temporal step fractional yields fractional
//! positions, which [`RopeIndex::to_positions`] refuses (the decoder takes
//! integer positions).

use super::audio_encoder::audio_tokens;
use super::config::ThinkerConfig;
use crate::error::{Error, Result};
use crate::nn::Positions;

/// The token ids and constants the index depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeIndexConfig {
    /// `<|audio_pad|>`.
    pub audio_token_id: u32,
    /// `<|audio_start|>`.
    pub audio_start_token_id: u32,
    /// `<|image_pad|>`.
    pub image_token_id: u32,
    /// `<|video_pad|>`.
    pub video_token_id: u32,
    /// `<|vision_start|>`.
    pub vision_start_token_id: u32,
    /// `position_id_per_seconds`.
    pub position_id_per_seconds: u32,
    /// The vision tower's `spatial_merge_size`.
    pub spatial_merge_size: usize,
}

impl From<&ThinkerConfig> for RopeIndexConfig {
    fn from(c: &ThinkerConfig) -> Self {
        Self {
            audio_token_id: c.audio_token_id,
            audio_start_token_id: c.audio_start_token_id,
            image_token_id: c.image_token_id,
            video_token_id: c.video_token_id,
            vision_start_token_id: c.vision_start_token_id,
            position_id_per_seconds: c.position_id_per_seconds,
            spatial_merge_size: c.vision_config.spatial_merge_size,
        }
    }
}

/// The media of a prompt, in prompt order per kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct MediaLayout<'a> {
    /// Mel frames of each audio clip (`audio_seqlens`).
    pub audio_frames: &'a [usize],
    /// `[t, h, w]` patch grid of each image (`image_grid_thw`).
    pub image_grids: &'a [[usize; 3]],
    /// `[t, h, w]` patch grid of each video (`video_grid_thw`).
    pub video_grids: &'a [[usize; 3]],
    /// Seconds per temporal grid step of each video (`second_per_grids`).
    pub video_seconds_per_grid: &'a [f32],
    /// Videos carry their audio track interleaved (`use_audio_in_video`).
    pub use_audio_in_video: bool,
}

/// The rotary positions of a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeIndex {
    /// Temporal, height and width positions of every prompt token.
    pub positions: [Vec<f32>; 3],
    /// `mrope_position_deltas`: a token at cache index `i` after the prompt
    /// has position `i + delta` on every axis.
    pub delta: f32,
}

/// One appended block of positions: `[t, h, w]` columns.
type Block = [Vec<f32>; 3];

fn linear(len: usize, start: f32) -> Block {
    let v: Vec<f32> = (0..len).map(|i| i as f32 + start).collect();
    [v.clone(), v.clone(), v]
}

/// `max(last block) + 1`, or 0 before the first block.
fn next_start(blocks: &[Block]) -> f32 {
    blocks.last().map_or(0.0, |b| {
        b.iter()
            .flat_map(|axis| axis.iter().copied())
            .fold(f32::NEG_INFINITY, f32::max)
            + 1.0
    })
}

/// `get_llm_pos_ids_for_vision`: a `t × (h / merge) × (w / merge)` block.
fn vision(start: f32, grid: [usize; 3], t_index: &[f32], merge: usize) -> Block {
    let (gh, gw) = (grid[1] / merge, grid[2] / merge);
    let mut out: Block = [Vec::new(), Vec::new(), Vec::new()];
    for &t in t_index {
        for h in 0..gh {
            for w in 0..gw {
                out[0].push(t + start);
                out[1].push(h as f32 + start);
                out[2].push(w as f32 + start);
            }
        }
    }
    out
}

fn bad(what: impl Into<String>) -> Error {
    Error::InvalidInput(format!("rotary index: {}", what.into()))
}

/// The rotary positions of one prompt, as `get_rope_index` computes them.
pub fn rope_index(
    ids: &[u32],
    media: &MediaLayout<'_>,
    cfg: &RopeIndexConfig,
) -> Result<RopeIndex> {
    let n = ids.len();
    if media.image_grids.is_empty() && media.video_grids.is_empty() {
        let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
        return Ok(RopeIndex {
            positions: [v.clone(), v.clone(), v],
            delta: 0.0,
        });
    }
    let blocks = Walker::new(ids, media, cfg)?.run()?;
    let mut positions: Block = [
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    ];
    for b in blocks {
        for (axis, col) in positions.iter_mut().zip(b) {
            axis.extend(col);
        }
    }
    if positions[0].len() != n {
        return Err(bad(format!(
            "the media markers of a {n}-token prompt account for {} positions",
            positions[0].len()
        )));
    }
    let max = positions
        .iter()
        .flat_map(|a| a.iter().copied())
        .fold(f32::NEG_INFINITY, f32::max);
    Ok(RopeIndex {
        positions,
        delta: max + 1.0 - n as f32,
    })
}

/// The reference's per-token walk over a prompt with images or videos.
struct Walker<'a> {
    ids: &'a [u32],
    media: &'a MediaLayout<'a>,
    cfg: &'a RopeIndexConfig,
    blocks: Vec<Block>,
    st: usize,
    counts: [usize; 3], // images, videos, audios left
    next: [usize; 3],   // index of the next image, video, audio
}

impl<'a> Walker<'a> {
    fn new(ids: &'a [u32], media: &'a MediaLayout<'a>, cfg: &'a RopeIndexConfig) -> Result<Self> {
        let mut vision_tokens = Vec::new();
        for (i, &t) in ids.iter().enumerate() {
            if t == cfg.vision_start_token_id {
                vision_tokens.push(
                    *ids.get(i + 1)
                        .ok_or_else(|| bad("<|vision_start|> ends the prompt"))?,
                );
            }
        }
        let count = |v: &[u32], id: u32| v.iter().filter(|&&t| t == id).count();
        let audios = count(ids, cfg.audio_start_token_id);
        let images = count(&vision_tokens, cfg.image_token_id);
        let videos = if media.use_audio_in_video {
            count(&vision_tokens, cfg.audio_start_token_id)
        } else {
            count(&vision_tokens, cfg.video_token_id)
        };
        Ok(Self {
            ids,
            media,
            cfg,
            blocks: Vec::new(),
            st: 0,
            counts: [images, videos, audios],
            next: [0; 3],
        })
    }

    fn find(&self, id: u32) -> Result<usize> {
        self.ids[self.st.min(self.ids.len())..]
            .iter()
            .position(|&t| t == id)
            .map(|p| p + self.st)
            .ok_or_else(|| bad(format!("token {id} expected after index {}", self.st)))
    }

    fn run(mut self) -> Result<Vec<Block>> {
        let [images, videos, audios] = self.counts;
        let items = if self.media.use_audio_in_video {
            images + audios
        } else {
            images + videos + audios
        };
        let n = self.ids.len();
        let has_vision = self.ids.contains(&self.cfg.image_token_id)
            || self.ids.contains(&self.cfg.video_token_id);
        let has_audio = self.ids.contains(&self.cfg.audio_token_id);
        for _ in 0..items {
            let mut st_idx = next_start(&self.blocks);
            let [img_left, vid_left, aud_left] = self.counts;
            let ed_vision = if has_vision && (vid_left > 0 || img_left > 0) {
                self.find(self.cfg.vision_start_token_id)?
            } else {
                n + 1
            };
            let ed_audio = if has_audio && aud_left > 0 {
                self.find(self.cfg.audio_start_token_id)?
            } else {
                n + 1
            };
            let min_ed = ed_vision.min(ed_audio);
            if min_ed > n {
                return Err(bad("a media item has no placeholder tokens"));
            }
            let text_len = min_ed - self.st;
            if text_len != 0 {
                self.blocks.push(linear(text_len, st_idx));
                st_idx += text_len as f32;
            }
            let nested = min_ed == ed_vision && ed_vision + 1 == ed_audio;
            let (bos, eos) = if nested { (2, 2) } else { (1, 1) };
            self.blocks.push(linear(bos, st_idx));
            st_idx += bos as f32;
            let after = self.ids.get(ed_vision + 1).copied();
            if min_ed == ed_audio {
                let len = self.next_audio_tokens()?;
                self.blocks.push(linear(len, st_idx));
                self.st += text_len + bos + len + eos;
            } else if after == Some(self.cfg.image_token_id) {
                let i = self.item(0, self.media.image_grids.len())?;
                let grid = self.media.image_grids[i];
                let pps = self.cfg.position_id_per_seconds as f32;
                let t: Vec<f32> = (0..grid[0]).map(|k| k as f32 * pps).collect();
                self.blocks
                    .push(vision(st_idx, grid, &t, self.cfg.spatial_merge_size));
                self.st += text_len + bos + self.vision_len(grid) + eos;
            } else if after == Some(self.cfg.video_token_id) {
                let (grid, t) = self.video_times()?;
                self.blocks
                    .push(vision(st_idx, grid, &t, self.cfg.spatial_merge_size));
                self.st += text_len + bos + self.vision_len(grid) + eos;
            } else if nested {
                self.audio_in_video(st_idx, text_len, bos, eos)?;
            }
            let st_idx = next_start(&self.blocks);
            self.blocks.push(linear(eos, st_idx));
        }
        if self.st < n {
            let st_idx = next_start(&self.blocks);
            self.blocks.push(linear(n - self.st, st_idx));
        }
        Ok(self.blocks)
    }

    /// Takes the next item of `kind` (0 image, 1 video, 2 audio), checking
    /// that the caller described one.
    fn item(&mut self, kind: usize, available: usize) -> Result<usize> {
        let index = self.next[kind];
        if index >= available {
            let what = ["image grids", "video grids", "audio lengths"][kind];
            return Err(bad(format!(
                "the prompt has more media than the {available} {what} given"
            )));
        }
        self.next[kind] += 1;
        self.counts[kind] = self.counts[kind].saturating_sub(1);
        Ok(index)
    }

    /// Audio tokens of the next audio clip.
    fn next_audio_tokens(&mut self) -> Result<usize> {
        let i = self.item(2, self.media.audio_frames.len())?;
        Ok(audio_tokens(self.media.audio_frames[i]))
    }

    fn vision_len(&self, grid: [usize; 3]) -> usize {
        let m = self.cfg.spatial_merge_size;
        grid[0] * grid[1] * grid[2] / (m * m)
    }

    /// The next video's grid and temporal positions (`arange(t) *
    /// seconds_per_grid * position_id_per_seconds`, in `f32`).
    fn video_times(&mut self) -> Result<([usize; 3], Vec<f32>)> {
        let i = self.item(1, self.media.video_grids.len())?;
        let grid = self.media.video_grids[i];
        let spg = *self
            .media
            .video_seconds_per_grid
            .get(i)
            .ok_or_else(|| bad(format!("video {i} has no seconds-per-grid")))?;
        let pps = self.cfg.position_id_per_seconds as f32;
        Ok((grid, (0..grid[0]).map(|k| k as f32 * spg * pps).collect()))
    }

    /// A video with its audio track: both blocks merged column by column in
    /// temporal order (video first on ties).
    fn audio_in_video(
        &mut self,
        st_idx: f32,
        text_len: usize,
        bos: usize,
        eos: usize,
    ) -> Result<()> {
        let audio_len = self.next_audio_tokens()?;
        let audio = linear(audio_len, st_idx);
        let (grid, t) = self.video_times()?;
        let video = vision(st_idx, grid, &t, self.cfg.spatial_merge_size);
        let column =
            |b: &Block, i: usize| -> Block { [vec![b[0][i]], vec![b[1][i]], vec![b[2][i]]] };
        let rest = |b: &Block, i: usize| -> Block {
            [b[0][i..].to_vec(), b[1][i..].to_vec(), b[2][i..].to_vec()]
        };
        let (mut v, mut a) = (0, 0);
        while v < video[0].len() && a < audio[0].len() {
            if video[0][v] <= audio[0][a] {
                self.blocks.push(column(&video, v));
                v += 1;
            } else {
                self.blocks.push(column(&audio, a));
                a += 1;
            }
        }
        if v < video[0].len() {
            self.blocks.push(rest(&video, v));
        }
        if a < audio[0].len() {
            self.blocks.push(rest(&audio, a));
        }
        self.st += text_len + bos + audio_len + self.vision_len(grid) + eos;
        Ok(())
    }
}

impl RopeIndex {
    /// Number of prompt tokens.
    pub fn len(&self) -> usize {
        self.positions[0].len()
    }

    /// Whether the prompt is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The positions of prompt tokens `start..start + len`, for the decoder.
    pub fn slice(&self, start: usize, len: usize) -> Result<Positions> {
        if start + len > self.len() {
            return Err(bad(format!(
                "tokens {start}..{} of a {}-token prompt",
                start + len,
                self.len()
            )));
        }
        let axis = |a: &[f32]| integral(&a[start..start + len]);
        Ok(Positions::Multimodal([
            axis(&self.positions[0])?,
            axis(&self.positions[1])?,
            axis(&self.positions[2])?,
        ]))
    }

    /// Every prompt position, for the decoder.
    pub fn to_positions(&self) -> Result<Positions> {
        self.slice(0, self.len())
    }

    /// Positions of `len` tokens after the prompt, the first at cache index
    /// `cache_index`: `cache_index + delta, …` on every axis.
    pub fn continuation(&self, cache_index: usize, len: usize) -> Result<Positions> {
        let v: Vec<f32> = (0..len)
            .map(|i| (cache_index + i) as f32 + self.delta)
            .collect();
        let v = integral(&v)?;
        Ok(Positions::Multimodal([v.clone(), v.clone(), v]))
    }
}

fn integral(v: &[f32]) -> Result<Vec<i64>> {
    v.iter()
        .map(|&p| {
            if p.fract() == 0.0 && p.is_finite() {
                Ok(p as i64)
            } else {
                Err(bad(format!(
                    "position {p} is fractional (a video's seconds per grid); not supported"
                )))
            }
        })
        .collect()
}
