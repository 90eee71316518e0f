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
    /// Bytes the detokenizer has handed out.
    decoded: usize,
    /// Bytes of text given to the stop matcher; the text emitted
    /// (`text_len`) is always a prefix of it: the rest is held back (it may
    /// start a stop string) or, once a stop string matched, cut.
    text_in: usize,
    /// Bytes of text emitted.
    text_len: usize,
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
            decoded: 0,
            text_in: 0,
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

    /// Where the text of every token fed so far ends, counted in bytes the
    /// detokenizer hands out (text that becomes a tool call included); 0
    /// when there are no stop strings, as nothing can then be cut.
    ///
    /// A token may be spoken once [`Output::settled`] reaches the mark
    /// taken right after it: its text is then emitted (or part of a tool
    /// call), never to be cut by a stop string.
    pub fn mark(&self) -> usize {
        if self.stop.is_empty() {
            return 0;
        }
        self.decoded + self.decode.as_ref().map_or(0, DecodeStream::pending_len)
    }

    /// How far, in [`Output::mark`]'s bytes, the text is final: emitted, or
    /// taken into a tool call.
    pub fn settled(&self) -> usize {
        let parser = self.parser.as_ref().map_or(0, CallParser::held_len);
        // decoded = held by the parser + given to the stop matcher + taken
        // into calls; of what the stop matcher got, `text_len` is out.
        (self.text_len + self.decoded).saturating_sub(parser + self.text_in)
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
        self.decoded += delta.len();
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
                Ok(t) => {
                    self.decoded += t.len();
                    text = t;
                }
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
                Piece::Text(t) => {
                    self.text_in += t.len();
                    match self.stop.push(&t) {
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
                    }
                }
                Piece::CallStart { index, name } => {
                    // Text held back because it may begin a stop string
                    // is text after all: a stop string never spans a call.
                    let held = self.stop.finish();
                    self.send_text(held, out);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::api::{ToolChoice, ToolSpec};
    use crate::engine::speaking::Held;
    use crate::engine::stream::channel;
    use crate::tools::ToolSetup;
    use futures::StreamExt;
    use omnivox_model::testing::fixture_dir;
    use omnivox_tokenizer::Tokenizer;
    use serde_json::json;

    fn tokenizer() -> Tokenizer {
        Tokenizer::from_dir(&fixture_dir("qwen3_omni_thinker")).unwrap()
    }

    /// The text deltas of `events`, joined.
    fn text_of(events: &[Event]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                Event::TextDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Feeds a reply's tokens through an output with `stop`; its text, and
    /// whether all of that text came before the first tool-call event.
    fn text_and_order(tok: &Tokenizer, reply: &str, stop: &[String]) -> (String, bool) {
        let vocab = ToolVocab::new(tok);
        let weather = ToolSpec {
            name: "get_weather".into(),
            description: None,
            parameters: json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            }),
            strict: false,
        };
        let setup = ToolSetup::new(&[weather], ToolChoice::Auto, false, &vocab).unwrap();
        let mut output = Output::new(
            tok.decode_stream(true),
            Some(Constraint::new(setup)),
            stop,
            Vec::new(),
        );
        let (emitter, stream) = channel();
        let ids = tok.encode(reply, false).unwrap();
        for (i, &id) in ids.iter().enumerate() {
            if let Verdict::Finish(reason) = output.token(&vocab, id, 100, &emitter) {
                assert_eq!(reason, FinishReason::ToolCalls);
                assert_eq!(i, ids.len() - 1, "finished at the call's end");
                break;
            }
        }
        drop(emitter);
        let events = futures::executor::block_on(stream.collect::<Vec<_>>());
        let text = text_of(&events);
        let first_call = events
            .iter()
            .position(|e| matches!(e, Event::ToolCallDelta(_)))
            .expect("a tool call");
        let last_text = events
            .iter()
            .rposition(|e| matches!(e, Event::TextDelta(_)));
        (text, last_text.is_none_or(|t| t < first_call))
    }

    /// A stop string that never occurs changes nothing, even when the text
    /// just before a tool call could have begun it: that text comes out,
    /// before the call.
    #[test]
    fn text_held_for_a_stop_string_comes_out_before_a_tool_call() {
        let tok = tokenizer();
        let reply = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        let (plain, ordered) = text_and_order(&tok, reply, &[]);
        assert!(plain.contains("check."), "{plain:?}");
        assert!(ordered);
        // The text right before the call, `check.\n`, begins this one.
        let stop = vec!["check.\n!".to_owned()];
        let (held, ordered) = text_and_order(&tok, reply, &stop);
        assert_eq!(held, plain);
        assert!(ordered, "the held text comes before the call");
    }

    /// Feeds `ids` through an output with `stop` and no tools, handing
    /// tokens to the talker as the engine does: the text emitted and the
    /// tokens spoken.
    fn spoken_under_stop(tok: &Tokenizer, ids: &[u32], stop: &[String]) -> (String, Vec<u32>) {
        let vocab = ToolVocab::new(tok);
        let mut output = Output::new(tok.decode_stream(true), None, stop, Vec::new());
        let (emitter, stream) = channel();
        let mut held = Held::default();
        let mut spoken = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let verdict = output.token(&vocab, id, ids.len() - 1 - i, &emitter);
            let last = matches!(verdict, Verdict::Finish(_));
            if !last {
                held.push(id, output.mark());
            }
            spoken.extend(held.take_settled(output.settled()));
            if last {
                break;
            }
        }
        drop(emitter);
        let events = futures::executor::block_on(stream.collect::<Vec<_>>());
        (text_of(&events), spoken)
    }

    /// For a stop string at every place in a reply (multi-byte characters
    /// and byte-level tokens included): the text ends before it, what is
    /// spoken is a prefix of that text, and the first token not spoken
    /// reaches into the stop string. Without stop strings every token but
    /// the last is spoken, at once.
    #[test]
    fn only_emitted_text_is_spoken() {
        let tok = tokenizer();
        let reply = "Hello, wörld! Ça va? Ok \u{1F600} done. Thé au lait.";
        let ids = tok.encode(reply, false).unwrap();
        let (text, spoken) = spoken_under_stop(&tok, &ids, &[]);
        assert_eq!(text, reply);
        assert_eq!(spoken, ids[..ids.len() - 1]);
        let starts: Vec<usize> = reply.char_indices().map(|(i, _)| i).collect();
        for (k, &at) in starts.iter().enumerate() {
            for n in 1..=3 {
                let end = starts.get(k + n).copied().unwrap_or(reply.len());
                let stop = &reply[at..end];
                let (text, spoken) = spoken_under_stop(&tok, &ids, &[stop.to_owned()]);
                let cut = reply.find(stop).unwrap();
                assert_eq!(text, reply[..cut], "stop {stop:?}");
                let said = tok.decode(&spoken, true).unwrap();
                assert!(
                    text.starts_with(&said),
                    "stop {stop:?}: said {said:?}, text {text:?}"
                );
                let next = tok.decode(&ids[..spoken.len() + 1], true).unwrap();
                assert!(!text.starts_with(&next), "stop {stop:?}: {next:?} waits");
            }
        }
    }
}
