//! One step of the loop: choose what each running sequence contributes
//! (a decode token, or a prefill chunk within the step's token budget),
//! make room in the KV pool (preempting the youngest sequences when it is
//! full), run one forward pass for all of them, then sample and emit.

use super::model::StepModel;
use super::output::Verdict;
use super::sequence::Sequence;
use super::speaking::thinker_finished;
use super::worker::Worker;
use crate::api::EngineError;
use crate::kv::PagedKv;
use crate::tools::ToolVocab;
use burn::tensor::backend::Backend;
use omnivox_model::BatchSeq;
use omnivox_model::qwen3_omni::{AudioSpan, MelFeatures};

/// Sequences to fail and why (a step that could not run).
pub(crate) struct StepFailure(pub Vec<u64>, pub EngineError);

impl<B: Backend, M: StepModel<B>> Worker<B, M> {
    /// Runs one step; `Ok(false)` when no sequence could be stepped.
    pub(super) fn step(&mut self) -> Result<bool, StepFailure> {
        let mut plan = self.plan();
        self.make_room(&mut plan);
        plan.retain(|&(_, n)| n > 0);
        if plan.is_empty() {
            return Ok(self.speech_step());
        }
        let prefill: usize = plan
            .iter()
            .filter(|&&(i, _)| self.running[i].pending() > 1)
            .map(|p| p.1)
            .sum();
        let decode: usize = plan.iter().map(|p| p.1).sum::<usize>() - prefill;
        self.shared.stats.step(plan.len(), prefill, decode);
        self.encode_audio(&plan)?;
        let rows = self.forward(&plan)?;
        self.sample(&plan, rows)?;
        self.speech_step();
        Ok(true)
    }

    /// `(index in running, tokens)` for every sequence that takes part:
    /// decodes first, then prefill chunks in admission order within the
    /// budget. Sequences whose consumer lags are left out.
    fn plan(&self) -> Vec<(usize, usize)> {
        let ready =
            |s: &&super::sequence::Sequence<B>| s.emitter.backlog() < self.config.max_event_backlog;
        let mut plan: Vec<(usize, usize)> = self
            .running
            .iter()
            .enumerate()
            .filter(|(_, s)| s.pending() == 1 && ready(s))
            .map(|(i, _)| (i, 1))
            .collect();
        let mut budget = self.config.step_tokens.saturating_sub(plan.len());
        for (i, s) in self.running.iter().enumerate() {
            if budget == 0 {
                break;
            }
            if s.pending() > 1 && ready(&s) {
                let n = s.pending().min(budget);
                plan.push((i, n));
                budget -= n;
            }
        }
        plan
    }

    /// Grows every planned sequence's blocks. When the pool is short, a
    /// younger sequence gives its blocks back (it is preempted: prefilled
    /// again later, its output so far kept); a sequence with none younger
    /// waits for this step.
    fn make_room(&mut self, plan: &mut [(usize, usize)]) {
        for k in 0..plan.len() {
            let (i, n) = plan[k];
            if n == 0 {
                continue;
            }
            loop {
                let upto = self.running[i].fed + n;
                let grown = self
                    .pool
                    .borrow_mut()
                    .grow(&mut self.running[i].table, upto, false);
                if grown.is_ok() {
                    break;
                }
                let me = self.running[i].order;
                let victim = self
                    .running
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.order > me && s.table.blocks() > 0)
                    .max_by_key(|(_, s)| s.order)
                    .map(|(j, _)| j);
                let Some(j) = victim else {
                    plan[k].1 = 0;
                    break;
                };
                tracing::debug!(request = %self.running[j].request_id, "preempted: the KV pool is full");
                self.shared.stats.preempted();
                let v = &mut self.running[j];
                self.pool.borrow_mut().release(&mut v.table);
                v.fed = 0;
                if let Some(sp) = v.speech.as_mut().filter(|sp| sp.capturing()) {
                    sp.captured.clear(); // captured again with the prompt
                }
                if let Some(p) = plan.iter_mut().find(|(x, _)| *x == j) {
                    p.1 = 0;
                }
            }
        }
    }

    /// Runs the audio encoder for planned sequences about to prefill audio.
    fn encode_audio(&mut self, plan: &[(usize, usize)]) -> Result<(), StepFailure> {
        for &(i, _) in plan {
            let seq = &self.running[i];
            if !seq.needs_audio() {
                continue;
            }
            let clips: Vec<MelFeatures<'_>> = seq
                .mels
                .iter()
                .map(|m| MelFeatures {
                    data: &m.data,
                    n_mels: m.n_mels,
                    frames: m.n_frames,
                })
                .collect();
            let spans = self
                .model
                .encode_audio(&seq.tokens[..seq.prompt_len], &clips)
                .map_err(|e| {
                    StepFailure(
                        vec![seq.order],
                        EngineError::Internal(format!("audio encoder: {e}")),
                    )
                })?;
            let seq = &mut self.running[i];
            seq.audio = Some(spans);
            seq.mels = Vec::new();
        }
        Ok(())
    }

    /// One forward pass over the plan; the logits rows (host) of the
    /// sequences whose chunk reaches their last known token, with their
    /// plan index.
    fn forward(&mut self, plan: &[(usize, usize)]) -> Result<Vec<(usize, Vec<f32>)>, StepFailure> {
        let orders: Vec<u64> = plan.iter().map(|&(i, _)| self.running[i].order).collect();
        let fail = |what: &str, e: String| {
            StepFailure(
                orders.clone(),
                EngineError::Internal(format!("{what}: {e}")),
            )
        };
        let mut ids = Vec::new();
        let mut audio: Vec<AudioSpan<B>> = Vec::new();
        let mut rows = Vec::new();
        let mut positions = Vec::with_capacity(plan.len());
        for (k, &(i, n)) in plan.iter().enumerate() {
            let s = &self.running[i];
            let offset = ids.len();
            ids.extend_from_slice(&s.tokens[s.fed..s.fed + n]);
            audio.extend(s.audio_in(s.fed, n, offset));
            positions.push(
                s.positions(s.fed, n)
                    .map_err(|e| fail("positions", e.to_string()))?,
            );
            if s.fed + n == s.tokens.len() {
                rows.push((k, offset + n - 1));
            }
        }
        let row_index: Vec<usize> = rows.iter().map(|r| r.1).collect();
        let capture = self.capture_layers(plan);
        let (logits, captured) = {
            let pool = &self.pool;
            let mut handles: Vec<PagedKv<'_, B>> = Vec::with_capacity(plan.len());
            // Handles in plan order: each borrows its own sequence's table.
            let mut tables: Vec<Option<&mut crate::kv::BlockTable>> = self
                .running
                .iter_mut()
                .map(|s| Some(&mut s.table))
                .collect();
            for &(i, _) in plan {
                let table = tables[i].take().expect("a sequence is planned once");
                handles.push(PagedKv::new(pool, table));
            }
            let mut seqs: Vec<BatchSeq<'_, B>> = handles
                .iter_mut()
                .zip(positions)
                .map(|(h, positions)| BatchSeq {
                    positions,
                    cache: h,
                })
                .collect();
            // Prefill chunks only need no logits, but the pass must run (one
            // row keeps the head's work tiny).
            let wanted: &[usize] = if row_index.is_empty() {
                &[0]
            } else {
                &row_index
            };
            let (logits, captured) = self
                .model
                .forward(ids, audio, &mut seqs, wanted, &capture)
                .map_err(|e| fail("forward", e.to_string()))?;
            ((!row_index.is_empty()).then_some(logits), captured)
        };
        self.keep_captured(plan, &captured);
        for &(i, n) in plan {
            self.running[i].fed += n;
        }
        let Some(logits) = logits else {
            return Ok(Vec::new());
        };
        let vocab = logits.dims()[1];
        let host = logits
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| fail("logits", format!("{e:?}")))?;
        Ok(rows
            .iter()
            .zip(host.chunks(vocab))
            .map(|(&(k, _), row)| (k, row.to_vec()))
            .collect())
    }

    /// Picks each sequence's next token and emits what it completes.
    fn sample(
        &mut self,
        plan: &[(usize, usize)],
        rows: Vec<(usize, Vec<f32>)>,
    ) -> Result<(), StepFailure> {
        let mut failed: Vec<(u64, EngineError)> = Vec::new();
        for (k, mut row) in rows {
            let (i, _) = plan[k];
            if self.running[i]
                .speech
                .as_ref()
                .is_some_and(|sp| sp.capturing())
                && let Err(e) = self.start_talker(i)
            {
                failed.push((self.running[i].order, e));
                continue;
            }
            let seq = &mut self.running[i];
            let token = match seq.forced.pop_front() {
                Some(t) => t,
                None => match next_token(seq, &self.vocab, &mut row) {
                    Ok(t) => t,
                    Err(e) => {
                        failed.push((seq.order, e));
                        continue;
                    }
                },
            };
            seq.tokens.push(token);
            let left = seq.max_tokens.saturating_sub(seq.generated());
            let verdict = seq.output.token(&self.vocab, token, left, &seq.emitter);
            let last = matches!(verdict, Verdict::Finish(_));
            if let Some(sp) = seq.speech.as_mut() {
                sp.thinker_token(token, seq.output.mark(), seq.output.settled(), last);
            }
            if let Verdict::Finish(reason) = verdict {
                thinker_finished(seq, reason, &self.pool);
            }
        }
        for (order, e) in failed {
            self.fail(&[order], e);
        }
        self.close_finished();
        Ok(())
    }
}

/// Masks (tool-call grammar) and samples a sequence's next token.
fn next_token<B: Backend>(
    seq: &mut Sequence<B>,
    vocab: &ToolVocab,
    row: &mut [f32],
) -> Result<u32, EngineError> {
    let remaining = seq.max_tokens.saturating_sub(seq.generated());
    if let Err(e) = seq.output.mask(vocab, row, remaining) {
        tracing::error!(request = %seq.request_id, error = %e, "constraint failed");
        return Err(EngineError::Internal("no token could be sampled".into()));
    }
    seq.sampler.sample(row).map_err(|e| {
        tracing::error!(request = %seq.request_id, error = %e, "sampling failed");
        EngineError::Internal("no token could be sampled".into())
    })
}
