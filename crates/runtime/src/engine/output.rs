//! One sequence's output pipeline: token → constraint bookkeeping →
//! detokenizer → tool-call parser → stop strings → events.

use super::stream::Emitter;
use crate::api::{Event, FinishReason, ToolCallDelta};
use crate::stop::{StopMatcher, StopOutcome};
use crate::tools::parser::{CallParser, Piece};
use crate::tools::{Accepted, Constraint, ToolVocab};
use omnivox_tokenizer::DecodeStream;

/// What a token did to the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Continue,
    Finish(FinishReason),
}

/// The output pipeline (see the module docs).
#[derive(Debug)]
pub(crate) struct Output {
    decode: Option<DecodeStream>,
    parser: Option<CallParser>,
    pub constraint: Option<Constraint>,
    stop: StopMatcher,
    stop_ids: Vec<u32>,
    /// Ids of the calls reported, by index.
    call_ids: Vec<String>,
    /// Text emitted so far (the transcript, for speech).
    pub text_len: usize,
}

impl Output {
    pub fn new(
        decode: DecodeStream,
        constraint: Option<Constraint>,
        stop: &[String],
        stop_ids: Vec<u32>,
    ) -> Self {
        let mut parser = constraint.as_ref().map(|_| CallParser::new());
        if let (Some(p), Some(c)) = (parser.as_mut(), constraint.as_ref())
            && c.setup().is_forced()
        {
            p.expect_call(true);
        }
        Self {
            decode: Some(decode),
            parser,
            constraint,
            stop: StopMatcher::new(stop),
            stop_ids,
            call_ids: Vec::new(),
            text_len: 0,
        }
    }

    /// Masks `logits` for the next token (tool-call grammar).
    pub fn mask(
        &mut self,
        vocab: &ToolVocab,
        logits: &mut [f32],
        remaining: usize,
    ) -> Result<(), crate::api::EngineError> {
        match self.constraint.as_mut() {
            Some(c) => c.mask(vocab, logits, remaining),
            None => Ok(()),
        }
    }

    /// Handles a generated token; `remaining` counts the tokens that may
    /// still follow it.
    pub fn token(
        &mut self,
        vocab: &ToolVocab,
        token: u32,
        remaining: usize,
        out: &Emitter,
    ) -> Verdict {
        let mut call_closed = false;
        if let Some(c) = self.constraint.as_mut() {
            match c.accept(vocab, token, remaining) {
                Accepted::CallOpened { constrained } => {
                    if let Some(p) = self.parser.as_mut() {
                        p.expect_call(constrained);
                    }
                }
                Accepted::CallClosed => call_closed = true,
                Accepted::Token => {}
            }
        }
        if self.stop_ids.contains(&token) {
            return self.finish(FinishReason::Stop, out);
        }
        let delta = match self.decode.as_mut().map(|d| d.step(token)) {
            Some(Ok(Some(d))) => d,
            Some(Ok(None)) | None => String::new(),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "detokenizer failed; the text of one token is lost");
                String::new()
            }
        };
        if let Verdict::Finish(r) = self.text(&delta, out) {
            return Verdict::Finish(r);
        }
        let forced = self
            .constraint
            .as_ref()
            .is_some_and(|c| c.setup().is_forced());
        if call_closed && forced {
            return self.finish(FinishReason::ToolCalls, out);
        }
        if remaining == 0 {
            return self.finish(FinishReason::Length, out);
        }
        Verdict::Continue
    }

    /// Ends the output: flushes everything held back and decides the
    /// reason (a turn that called tools finishes with `tool_calls`).
    pub fn finish(&mut self, reason: FinishReason, out: &Emitter) -> Verdict {
        let mut text = String::new();
        if let Some(d) = self.decode.take() {
            match d.finish() {
                Ok(t) => text = t,
                Err(e) => tracing::warn!(error = %e, "detokenizer failed at the end"),
            }
        }
        let mut pieces = match self.parser.as_mut() {
            Some(p) => p.push(&text),
            None => vec![Piece::Text(text)],
        };
        if let Some(p) = self.parser.as_mut() {
            pieces.extend(p.finish());
        }
        if let Verdict::Finish(r) = self.emit(pieces, out, true) {
            return Verdict::Finish(r);
        }
        let rest = self.stop.finish();
        self.send_text(rest, out);
        let called = self.parser.as_ref().is_some_and(|p| p.calls() > 0);
        Verdict::Finish(if called && reason == FinishReason::Stop {
            FinishReason::ToolCalls
        } else {
            reason
        })
    }

    fn text(&mut self, delta: &str, out: &Emitter) -> Verdict {
        if delta.is_empty() {
            return Verdict::Continue;
        }
        let pieces = match self.parser.as_mut() {
            Some(p) => p.push(delta),
            None => vec![Piece::Text(delta.to_owned())],
        };
        self.emit(pieces, out, false)
    }

    fn emit(&mut self, pieces: Vec<Piece>, out: &Emitter, finishing: bool) -> Verdict {
        let parallel = self
            .constraint
            .as_ref()
            .is_some_and(|c| c.setup().parallel());
        for piece in pieces {
            match piece {
                Piece::Text(t) => match self.stop.push(&t) {
                    StopOutcome::Continue(t) => self.send_text(t, out),
                    StopOutcome::Stopped(t) => {
                        self.send_text(t, out);
                        self.decode = None;
                        let called = self.parser.as_ref().is_some_and(|p| p.calls() > 0);
                        return Verdict::Finish(if called {
                            FinishReason::ToolCalls
                        } else {
                            FinishReason::Stop
                        });
                    }
                },
                Piece::CallStart { index, name } => {
                    let id = call_id();
                    self.call_ids.push(id.clone());
                    out.send(Event::ToolCallDelta(ToolCallDelta {
                        index,
                        id: Some(id),
                        name: Some(name),
                        arguments: String::new(),
                    }));
                }
                Piece::CallArgs { index, text } => {
                    out.send(Event::ToolCallDelta(ToolCallDelta {
                        index,
                        id: None,
                        name: None,
                        arguments: text,
                    }));
                }
                Piece::CallEnd { .. } if !parallel && !finishing => {
                    self.decode = None;
                    return Verdict::Finish(FinishReason::ToolCalls);
                }
                Piece::CallEnd { .. } => {}
            }
        }
        Verdict::Continue
    }

    fn send_text(&mut self, text: String, out: &Emitter) {
        if !text.is_empty() {
            self.text_len += text.len();
            out.send(Event::TextDelta(text));
        }
    }
}

/// A fresh `call_…` id: 24 characters from a process-wide counter mixed
/// with the clock (unique, not secret).
fn call_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = String::from("call_");
    for i in 0..24 {
        if i % 10 == 0 {
            // Re-mix so that all 24 characters carry entropy.
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        }
        id.push(ALPHABET[(x % 62) as usize] as char);
        x /= 62;
    }
    id
}
