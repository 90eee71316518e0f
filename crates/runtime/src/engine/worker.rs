//! The engine thread: owns the model and the KV pool, takes submissions,
//! admits them, and runs the step loop (see [`super::step`]).

use super::Shared;
use super::config::EngineConfig;
use super::model::StepModel;
use super::output::Output;
use super::prepare::Prepared;
use super::sequence::Sequence;
use super::speaking::Speaking;
use super::stream;
use crate::api::{EngineError, Event, EventStream};
use crate::audio_store::AudioStore;
use crate::kv::KvPool;
use crate::sampling::Sampler;
use crate::speech::{SpeechModel, SpokenFilter, SpokenFilterConfig};
use crate::tools::{Constraint, ToolVocab};
use burn::tensor::backend::Backend;
use omnivox_tokenizer::Tokenizer;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

/// A prepared request on its way to admission.
pub(crate) struct Submission {
    pub prepared: Prepared,
    pub reply: oneshot::Sender<Result<EventStream, EngineError>>,
    /// When it fails with `Overloaded` if still not admitted.
    pub deadline: Instant,
    /// Its queue slot, given back at admission.
    pub permit: OwnedSemaphorePermit,
}

/// How long an idle engine waits between looks at its queue's deadlines.
const POLL: Duration = Duration::from_millis(5);

/// The engine thread's state.
pub(crate) struct Worker<B: Backend, M: StepModel<B>> {
    pub model: M,
    pub pool: RefCell<KvPool<B>>,
    pub vocab: Arc<ToolVocab>,
    pub tokenizer: Tokenizer,
    pub config: EngineConfig,
    pub shared: Arc<Shared>,
    pub rx: Receiver<Submission>,
    pub waiting: VecDeque<Submission>,
    pub running: Vec<Sequence<B>>,
    pub next_order: u64,
    /// Talker, code predictor and Code2Wav; `None` for a text-only model.
    pub speech: Option<SpeechModel<B>>,
    /// What is never spoken.
    pub filter: Arc<SpokenFilterConfig>,
    /// Where spoken replies are kept for later turns.
    pub store: Arc<dyn AudioStore>,
    /// The senders are gone: finish what is queued, then stop.
    pub closing: bool,
}

impl<B: Backend, M: StepModel<B>> Worker<B, M> {
    /// Runs until the engine is dropped and every request has finished.
    pub fn run(mut self) {
        loop {
            self.intake();
            if self.closing && self.waiting.is_empty() && self.running.is_empty() {
                break;
            }
            self.housekeeping();
            self.admit();
            let stepped = if self.running.is_empty() {
                false
            } else {
                self.step_guarded()
            };
            self.publish();
            if !stepped && !self.running.is_empty() {
                // Every running sequence waits for its consumer: do not spin.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        tracing::debug!("engine thread stopped");
    }

    /// Takes new submissions: blocks when there is nothing to do.
    fn intake(&mut self) {
        if self.closing {
            return;
        }
        if self.running.is_empty() {
            let got = if self.waiting.is_empty() {
                self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                self.rx.recv_timeout(POLL)
            };
            match got {
                Ok(s) => self.waiting.push_back(s),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.closing = true,
            }
        }
        loop {
            match self.rx.try_recv() {
                Ok(s) => self.waiting.push_back(s),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.closing = true;
                    break;
                }
            }
        }
    }

    /// Drops withdrawn and cancelled work; fails requests past their
    /// admission deadline.
    fn housekeeping(&mut self) {
        let now = Instant::now();
        let retry_after = Duration::from_secs(1);
        let running = self.running.len();
        self.waiting.retain_mut(|s| {
            if s.reply.is_closed() {
                return false;
            }
            if now >= s.deadline {
                let reason =
                    format!("no room in the running batch ({running} running) or the KV pool");
                let _ = std::mem::replace(&mut s.reply, oneshot::channel().0).send(Err(
                    EngineError::Overloaded {
                        retry_after,
                        reason,
                    },
                ));
                return false;
            }
            true
        });
        let pool = &self.pool;
        self.running.retain_mut(|seq| {
            if seq.emitter.is_closed() {
                tracing::debug!(request = %seq.request_id, "cancelled by its consumer");
                pool.borrow_mut().release(&mut seq.table);
                return false;
            }
            true
        });
    }

    /// Admits waiting requests in order while there is a batch slot and
    /// room in the pool for the whole prompt (plus one block of headroom per
    /// running sequence).
    fn admit(&mut self) {
        while let Some(front) = self.waiting.front() {
            if self.running.len() >= self.config.max_running {
                break;
            }
            let prompt = front.prepared.prompt.len();
            let mut pool = self.pool.borrow_mut();
            let mut table = pool.new_table();
            let need = pool.blocks_to_grow(&table, prompt, true);
            let headroom = self.running.len();
            let fits = need
                .iter()
                .enumerate()
                .all(|(g, n)| n + headroom <= pool.free_blocks(g) || *n == 0);
            if !fits || pool.grow(&mut table, prompt, true).is_err() {
                break;
            }
            drop(pool);
            let sub = self.waiting.pop_front().expect("front exists");
            let Submission {
                prepared,
                reply,
                permit,
                ..
            } = sub;
            drop(permit);
            let (emitter, events) = stream::channel();
            let constraint = prepared.tools.clone().map(Constraint::new);
            let output = Output::new(
                self.tokenizer.decode_stream(true),
                constraint,
                &prepared.stop,
                prepared.stop_ids.clone(),
            );
            let sampler = Sampler::new(prepared.sampling.clone(), &prepared.prompt);
            let speech = prepared.speech.clone().map(|plan| {
                let filter = SpokenFilter::new(Arc::clone(&self.filter));
                Box::new(Speaking::new(plan.voice, plan.sampling, filter, plan.speed))
            });
            if let Some(sp) = &speech {
                emitter.send(Event::AudioStarted { id: sp.id.clone() });
            }
            let mut seq = Sequence::new(
                prepared,
                self.next_order,
                table,
                sampler,
                output,
                emitter,
                speech,
            );
            self.next_order += 1;
            if reply.send(Ok(events)).is_err() {
                // Withdrawn while it was being admitted.
                self.pool.borrow_mut().release(&mut seq.table);
                continue;
            }
            self.running.push(seq);
        }
    }

    /// Runs one step, turning a panic inside the model into failed
    /// requests instead of a dead engine.
    fn step_guarded(&mut self) -> bool {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step()));
        match result {
            Ok(Ok(stepped)) => stepped,
            Ok(Err(failed)) => {
                self.fail(&failed.0, failed.1);
                true
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic".into());
                tracing::error!(%what, "an engine step panicked; failing the running requests");
                let all: Vec<u64> = self.running.iter().map(|s| s.order).collect();
                self.fail(
                    &all,
                    EngineError::Internal(format!("engine step panicked: {what}")),
                );
                self.rebuild_pool();
                true
            }
        }
    }

    /// Ends the sequences `orders` with `err` and frees their blocks.
    pub(super) fn fail(&mut self, orders: &[u64], err: EngineError) {
        tracing::error!(error = %err, count = orders.len(), "failing requests");
        let pool = &self.pool;
        self.running.retain_mut(|seq| {
            if !orders.contains(&seq.order) {
                return true;
            }
            seq.emitter.send(crate::api::Event::Error(err.clone()));
            pool.borrow_mut().release(&mut seq.table);
            false
        });
    }

    /// A fresh pool of the same size (after a panic left it inconsistent).
    fn rebuild_pool(&mut self) {
        let spec = self.pool.borrow().spec().clone();
        let plan: Vec<usize> = (0..self.pool.borrow().num_groups())
            .map(|g| self.pool.borrow().group_blocks(g))
            .collect();
        let device = self.pool.borrow().device().clone();
        // Free the old storage before allocating the new one.
        let placeholder = KvPool::new(spec.clone(), &vec![0; plan.len()], &device);
        if let Ok(p) = placeholder {
            *self.pool.borrow_mut() = p;
        }
        match KvPool::new(spec, &plan, &device) {
            Ok(p) => *self.pool.borrow_mut() = p,
            Err(e) => tracing::error!(error = %e, "cannot rebuild the KV pool"),
        }
        for seq in &mut self.running {
            seq.table = self.pool.borrow().new_table();
            seq.fed = 0;
        }
    }

    /// Publishes the scheduler's state.
    fn publish(&self) {
        let pool = self.pool.borrow();
        self.shared
            .set_metrics(self.running.len(), pool.used_blocks(), pool.total_blocks());
    }
}
