//! **Test double.** [`ScriptedEngine`] implements [`Engine`] without a model:
//! it answers every request with a deterministic, scripted reply. It exists so
//! that front ends (`omnivox-serve`'s tests, the OpenAI-SDK conformance suite)
//! can be tested before and independently of the real engine.
//!
//! It is compiled only with this crate's `testing` feature, which no shipped
//! binary enables; it is never a default model.
//!
//! # Default behaviour
//!
//! The reply is computed from the request (see [`script::respond`]), so tests
//! can check that what they sent arrived:
//!
//! * a chat turn answers the last message: `You said: <text>.` for text,
//!   `I heard 1.50 seconds of audio.` for a recording (its duration proves it
//!   was decoded), `Earlier I said: <transcript>.` for an earlier spoken reply
//!   sent back by id, `The tool returned: <content>.` after a tool result;
//! * with tools and `tool_choice` other than `none`, the turn calls a tool
//!   (the named one, or the first) with arguments that fill each required
//!   property with a placeholder of its JSON type, streamed in fragments;
//! * speech output is a 440 Hz tone, 60 ms per character of the reply text
//!   (at least 500 ms), divided by `speed`, in 80 ms chunks; every spoken reply
//!   is kept in an in-memory store for [`ScriptedEngine::audio_ttl`];
//! * a transcription is `Transcript of 1.50 seconds of audio.` with one
//!   segment per started second;
//! * `stop` and `max_completion_tokens` cut the reply (finish `stop` /
//!   `length`).
//!
//! Directives in the last user text trigger failure paths:
//! `[[omnivox-test:overload]]` (submit fails with `Overloaded`),
//! `[[omnivox-test:unavailable]]`, `[[omnivox-test:error-mid-stream]]` (a few
//! deltas, then `Event::Error(Internal)`), `[[omnivox-test:slow]]` (events
//! 100 ms apart, 40 of them: a stream that lasts about 4 s),
//! `[[omnivox-test:invalid]]` (submit fails with `InvalidRequest` naming
//! `messages`), `[[omnivox-test:context]]` (`ContextLengthExceeded`).
//!
//! A test can replace the behaviour entirely with
//! [`ScriptedEngine::with_script`].

pub mod script;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::api::{
    Engine, EngineError, EngineMetrics, Event, EventStream, GenerateRequest, ModelInfo, Readiness,
    SubmitFuture, VoiceInfo,
};

pub use script::Script;

/// How many submitted requests [`ScriptedEngine::requests`] remembers.
const REMEMBERED_REQUESTS: usize = 64;
/// How many spoken replies the store keeps before dropping the oldest.
const STORE_CAPACITY: usize = 1024;

/// A function that computes the reply to a request.
pub type ScriptFn = dyn Fn(&GenerateRequest, &ScriptContext<'_>) -> Script + Send + Sync;

/// **Test double**: an [`Engine`] that plays deterministic scripts. See the
/// module documentation.
#[derive(Clone)]
pub struct ScriptedEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ScriptedEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedEngine")
            .field("info", &self.inner.info)
            .finish_non_exhaustive()
    }
}

struct Inner {
    info: ModelInfo,
    pacing: Duration,
    readiness: Mutex<Readiness>,
    metrics: Mutex<EngineMetrics>,
    store: Mutex<AudioStore>,
    requests: Mutex<VecDeque<GenerateRequest>>,
    live_streams: Arc<AtomicUsize>,
    script: Option<Box<ScriptFn>>,
}

/// What a script may read besides the request: the spoken replies the engine
/// has stored.
#[derive(Debug)]
pub struct ScriptContext<'a> {
    store: &'a AudioStore,
    now: SystemTime,
    ttl: Duration,
}

impl ScriptContext<'_> {
    /// The transcript of a stored spoken reply, if it is known and unexpired.
    pub fn transcript(&self, audio_id: &str) -> Option<&str> {
        self.store.get(audio_id, self.now)
    }

    /// When a reply produced now expires.
    pub fn expires_at(&self) -> SystemTime {
        self.now + self.ttl
    }
}

/// The in-memory store of spoken replies (id → transcript, expiry).
#[derive(Debug, Default)]
pub struct AudioStore {
    entries: HashMap<String, (String, SystemTime)>,
    order: VecDeque<String>,
}

impl AudioStore {
    fn get(&self, id: &str, now: SystemTime) -> Option<&str> {
        match self.entries.get(id) {
            Some((transcript, expires)) if *expires > now => Some(transcript.as_str()),
            _ => None,
        }
    }

    fn insert(&mut self, id: String, transcript: String, expires_at: SystemTime) {
        if self.order.len() >= STORE_CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.entries.remove(&old);
        }
        self.order.push_back(id.clone());
        self.entries.insert(id, (transcript, expires_at));
    }
}

impl Default for ScriptedEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedEngine {
    /// A ready engine with the default behaviour, [`Self::default_info`] and
    /// no delay between events.
    pub fn new() -> Self {
        Self::build(Self::default_info(), Duration::ZERO, None)
    }

    /// The same, with `pacing` between consecutive events (so that streams
    /// take real time, as a model's do).
    pub fn with_pacing(pacing: Duration) -> Self {
        Self::build(Self::default_info(), pacing, None)
    }

    /// An engine whose replies come from `script` instead of the default
    /// behaviour.
    pub fn with_script(
        script: impl Fn(&GenerateRequest, &ScriptContext<'_>) -> Script + Send + Sync + 'static,
    ) -> Self {
        Self::build(Self::default_info(), Duration::ZERO, Some(Box::new(script)))
    }

    /// Replaces the model facts (e.g. to test a text-only model or the demo
    /// notice). Must be called before the engine is shared.
    pub fn with_info(self, info: ModelInfo) -> Self {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => {
                // Shared already: rebuild without the custom script.
                return Self::build(info, shared.pacing, None);
            }
        };
        Self::build(info, inner.pacing, inner.script)
    }

    fn build(info: ModelInfo, pacing: Duration, script: Option<Box<ScriptFn>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                info,
                pacing,
                readiness: Mutex::new(Readiness::Ready),
                metrics: Mutex::new(EngineMetrics::default()),
                store: Mutex::new(AudioStore::default()),
                requests: Mutex::new(VecDeque::new()),
                live_streams: Arc::new(AtomicUsize::new(0)),
                script,
            }),
        }
    }

    /// The facts a scripted engine reports: served as `omnivox-scripted`
    /// (never mistaken for a model), three Qwen3-Omni voice names, a 32k
    /// context, the API's output limits and a one-hour audio TTL.
    pub fn default_info() -> ModelInfo {
        let voice = |name: &str, description: &str| VoiceInfo {
            name: name.into(),
            description: description.into(),
        };
        ModelInfo {
            served_name: "omnivox-scripted".into(),
            // 2026-01-01T00:00:00Z.
            created: 1_767_225_600,
            owned_by: "omnivox-tests".into(),
            is_demo: false,
            voices: vec![
                voice("Chelsie", "scripted test voice (a 440 Hz tone)"),
                voice("Ethan", "scripted test voice (a 440 Hz tone)"),
                voice("Aiden", "scripted test voice (a 440 Hz tone)"),
            ],
            voice_aliases: Default::default(),
            context_limit: 32_768,
            max_output_text_tokens: 8_192,
            max_output_audio_tokens: 4_096,
            audio_ttl: Duration::from_secs(3600),
        }
    }

    /// How long spoken replies stay in the store.
    pub fn audio_ttl(&self) -> Duration {
        self.inner.info.audio_ttl
    }

    /// Sets what [`Engine::readiness`] reports.
    pub fn set_readiness(&self, readiness: Readiness) {
        *lock(&self.inner.readiness) = readiness;
    }

    /// Sets what [`Engine::metrics`] reports.
    pub fn set_metrics(&self, metrics: EngineMetrics) {
        *lock(&self.inner.metrics) = metrics;
    }

    /// The most recent submitted requests, oldest first (at most 64).
    pub fn requests(&self) -> Vec<GenerateRequest> {
        lock(&self.inner.requests).iter().cloned().collect()
    }

    /// The most recent submitted request.
    pub fn last_request(&self) -> Option<GenerateRequest> {
        lock(&self.inner.requests).back().cloned()
    }

    /// Event streams handed out and not yet dropped. A front end that stops
    /// reading when its client hangs up brings this back to 0.
    pub fn live_streams(&self) -> usize {
        self.inner.live_streams.load(Ordering::SeqCst)
    }

    fn remember(&self, request: &GenerateRequest) {
        let mut requests = lock(&self.inner.requests);
        if requests.len() >= REMEMBERED_REQUESTS {
            requests.pop_front();
        }
        requests.push_back(request.clone());
    }

    fn play(&self, request: &GenerateRequest) -> Result<EventStream, EngineError> {
        if let Readiness::Loading { .. } | Readiness::Failed { .. } = *lock(&self.inner.readiness) {
            return Err(EngineError::Unavailable {
                reason: "the scripted engine is set not ready".into(),
            });
        }
        let script = {
            let store = lock(&self.inner.store);
            let ctx = ScriptContext {
                store: &store,
                now: SystemTime::now(),
                ttl: self.inner.info.audio_ttl,
            };
            match &self.inner.script {
                Some(f) => f(request, &ctx),
                None => script::respond(request, &ctx),
            }
        };
        let Script {
            events,
            submit_error,
            pacing,
        } = script;
        if let Some(err) = submit_error {
            return Err(err);
        }
        {
            let mut store = lock(&self.inner.store);
            for event in &events {
                if let Event::AudioDone(done) = event {
                    store.insert(done.id.clone(), done.transcript.clone(), done.expires_at);
                }
            }
        }
        let pacing = pacing.unwrap_or(self.inner.pacing);
        Ok(player::stream(
            events,
            pacing,
            Arc::clone(&self.inner.live_streams),
        ))
    }
}

impl Engine for ScriptedEngine {
    fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    fn submit(&self, request: GenerateRequest) -> SubmitFuture<'_> {
        self.remember(&request);
        let result = self.play(&request);
        Box::pin(async move { result })
    }

    fn readiness(&self) -> Readiness {
        lock(&self.inner.readiness).clone()
    }

    fn metrics(&self) -> EngineMetrics {
        *lock(&self.inner.metrics)
    }
}

/// Locks a mutex, recovering the data if a panicking test poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

mod player {
    //! Turns a list of events into a paced [`EventStream`] that counts itself
    //! in `live` while it exists.

    use super::*;

    struct LiveGuard(Arc<AtomicUsize>);

    impl Drop for LiveGuard {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub(super) fn stream(
        events: Vec<Event>,
        pacing: Duration,
        live: Arc<AtomicUsize>,
    ) -> EventStream {
        live.fetch_add(1, Ordering::SeqCst);
        let guard = LiveGuard(live);
        let state = (VecDeque::from(events), guard, true);
        Box::pin(futures::stream::unfold(
            state,
            move |(mut queue, guard, first)| async move {
                let event = queue.pop_front()?;
                if !first && !pacing.is_zero() {
                    tokio::time::sleep(pacing).await;
                }
                Some((event, (queue, guard, false)))
            },
        ))
    }
}
