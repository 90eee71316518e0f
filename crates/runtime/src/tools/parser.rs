//! Streaming tool-call parsing: generated text in, content text and
//! structured call fragments out.
//!
//! Qwen writes a call as
//!
//! ```text
//! <tool_call>
//! {"name": "get_weather", "arguments": {"city": "Paris"}}
//! </tool_call>
//! ```
//!
//! A call the grammar constrained (see [`super::Constraint`]) is known to be
//! well formed, so it streams: the name as soon as it is read, then the
//! arguments object as it is written. A call the model wrote freely is held
//! until `</tool_call>` and checked: a valid one comes out whole, anything
//! else comes out as the text it was — a malformed call is never reported
//! as a call.

use serde_json::Value;
use std::collections::VecDeque;

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

/// A piece of parsed output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Content text.
    Text(String),
    /// Call `index` starts; its name.
    CallStart { index: u32, name: String },
    /// More of call `index`'s arguments JSON.
    CallArgs { index: u32, text: String },
    /// Call `index` is complete.
    CallEnd { index: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Text,
    /// After `<tool_call>` of a constrained call, before its arguments.
    Header,
    /// Inside the arguments value.
    Args(JsonTracker),
    /// After the arguments, up to `</tool_call>`.
    Trailer,
    /// An unconstrained call, held until `</tool_call>`.
    Raw,
}

/// Follows a JSON value character by character: knows when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct JsonTracker {
    depth: u32,
    in_string: bool,
    escape: bool,
    started: bool,
}

impl JsonTracker {
    /// Feeds one character; `true` when it ends the value.
    fn push(&mut self, c: char) -> bool {
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if c == '\\' {
                self.escape = true;
            } else if c == '"' {
                self.in_string = false;
                return self.depth == 0;
            }
            return false;
        }
        match c {
            '"' => {
                self.started = true;
                self.in_string = true;
                false
            }
            '{' | '[' => {
                self.started = true;
                self.depth += 1;
                false
            }
            '}' | ']' => {
                self.depth = self.depth.saturating_sub(1);
                self.depth == 0
            }
            c if c.is_whitespace() && !self.started => false,
            _ => {
                // A bare scalar: the constrained grammar writes objects only.
                self.started = true;
                false
            }
        }
    }
}

/// The streaming parser (see the module docs).
#[derive(Debug)]
pub(crate) struct CallParser {
    state: State,
    buf: String,
    calls: u32,
    /// For each `<tool_call>` the constraint saw, whether it constrained
    /// that call, oldest first.
    constrained: VecDeque<bool>,
}

impl CallParser {
    pub fn new() -> Self {
        Self {
            state: State::Text,
            buf: String::new(),
            calls: 0,
            constrained: VecDeque::new(),
        }
    }

    /// Bytes of text fed but not yet turned into pieces.
    pub fn held_len(&self) -> usize {
        self.buf.len()
    }

    /// Calls reported so far.
    pub fn calls(&self) -> u32 {
        self.calls
    }

    /// The constraint reports the next call's tag: whether it constrains it.
    pub fn expect_call(&mut self, constrained: bool) {
        self.constrained.push_back(constrained);
    }

    /// Feeds generated text.
    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        while self.advance(&mut out) {}
        out
    }

    /// Ends the stream: flushes held text; an unterminated call is closed
    /// when it streamed (its arguments may be cut short by the length
    /// limit) or given back as text when it was held.
    pub fn finish(&mut self) -> Vec<Piece> {
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.buf);
        match std::mem::replace(&mut self.state, State::Text) {
            State::Text => push_text(&mut out, rest),
            State::Raw => push_text(&mut out, format!("{OPEN}{rest}")),
            State::Header => push_text(&mut out, format!("{OPEN}{rest}")),
            State::Args(_) => {
                if !rest.is_empty() {
                    out.push(Piece::CallArgs {
                        index: self.calls - 1,
                        text: rest,
                    });
                }
                out.push(Piece::CallEnd {
                    index: self.calls - 1,
                });
            }
            State::Trailer => out.push(Piece::CallEnd {
                index: self.calls - 1,
            }),
        }
        out
    }

    /// One transition; `false` when more text is needed.
    fn advance(&mut self, out: &mut Vec<Piece>) -> bool {
        match self.state.clone() {
            State::Text => {
                if let Some(at) = self.buf.find(OPEN) {
                    let before: String = self.buf.drain(..at + OPEN.len()).collect();
                    push_text(out, before[..at].to_owned());
                    let constrained = self.constrained.pop_front().unwrap_or(false);
                    self.state = if constrained {
                        State::Header
                    } else {
                        State::Raw
                    };
                    return true;
                }
                let keep = partial_suffix(&self.buf, OPEN);
                let cut = self.buf.len() - keep;
                let text: String = self.buf.drain(..cut).collect();
                push_text(out, text);
                false
            }
            State::Header => match header(&self.buf) {
                Header::Incomplete => false,
                Header::Mismatch => {
                    self.state = State::Raw;
                    true
                }
                Header::Match { name, consumed } => {
                    self.buf.drain(..consumed);
                    out.push(Piece::CallStart {
                        index: self.calls,
                        name,
                    });
                    self.calls += 1;
                    self.state = State::Args(JsonTracker::default());
                    true
                }
            },
            State::Args(mut tracker) => {
                let mut end = None;
                for (i, c) in self.buf.char_indices() {
                    if tracker.push(c) {
                        end = Some(i + c.len_utf8());
                        break;
                    }
                }
                let index = self.calls - 1;
                match end {
                    Some(e) => {
                        let args: String = self.buf.drain(..e).collect();
                        out.push(Piece::CallArgs { index, text: args });
                        self.state = State::Trailer;
                        true
                    }
                    None => {
                        let args = std::mem::take(&mut self.buf);
                        if !args.is_empty() {
                            out.push(Piece::CallArgs { index, text: args });
                        }
                        self.state = State::Args(tracker);
                        false
                    }
                }
            }
            State::Trailer => match self.buf.find(CLOSE) {
                Some(at) => {
                    self.buf.drain(..at + CLOSE.len());
                    out.push(Piece::CallEnd {
                        index: self.calls - 1,
                    });
                    self.state = State::Text;
                    true
                }
                None => false,
            },
            State::Raw => match self.buf.find(CLOSE) {
                Some(at) => {
                    let body: String = self.buf.drain(..at + CLOSE.len()).collect();
                    let body = &body[..at];
                    match whole_call(body) {
                        Some((name, args)) => {
                            let index = self.calls;
                            self.calls += 1;
                            out.push(Piece::CallStart { index, name });
                            out.push(Piece::CallArgs { index, text: args });
                            out.push(Piece::CallEnd { index });
                        }
                        None => push_text(out, format!("{OPEN}{body}{CLOSE}")),
                    }
                    self.state = State::Text;
                    true
                }
                None => false,
            },
        }
    }
}

fn push_text(out: &mut Vec<Piece>, text: String) {
    if text.is_empty() {
        return;
    }
    if let Some(Piece::Text(t)) = out.last_mut() {
        t.push_str(&text);
    } else {
        out.push(Piece::Text(text));
    }
}

/// Length of the longest tail of `s` that is a proper prefix of `tag`.
fn partial_suffix(s: &str, tag: &str) -> usize {
    (1..tag.len().min(s.len() + 1))
        .rev()
        .find(|&k| s.is_char_boundary(s.len() - k) && tag.starts_with(&s[s.len() - k..]))
        .unwrap_or(0)
}

enum Header {
    Incomplete,
    Mismatch,
    Match { name: String, consumed: usize },
}

/// Reads `\s*{\s*"name"\s*:\s*"<name>"\s*,\s*"arguments"\s*:\s*`.
fn header(s: &str) -> Header {
    let b = s.as_bytes();
    let mut i = 0;
    let ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let lit = |i: &mut usize, l: &str| -> Option<bool> {
        let l = l.as_bytes();
        let n = l.len().min(b.len() - *i);
        if b[*i..*i + n] != l[..n] {
            return Some(false);
        }
        if n < l.len() {
            return None;
        }
        *i += n;
        Some(true)
    };
    macro_rules! expect {
        ($l:expr) => {
            ws(&mut i);
            match lit(&mut i, $l) {
                None => return Header::Incomplete,
                Some(false) => return Header::Mismatch,
                Some(true) => {}
            }
        };
    }
    expect!("{");
    expect!("\"name\"");
    expect!(":");
    ws(&mut i);
    if i >= b.len() {
        return Header::Incomplete;
    }
    if b[i] != b'"' {
        return Header::Mismatch;
    }
    let start = i;
    i += 1;
    let mut escape = false;
    loop {
        if i >= b.len() {
            return Header::Incomplete;
        }
        match b[i] {
            _ if escape => escape = false,
            b'\\' => escape = true,
            b'"' => break,
            _ => {}
        }
        i += 1;
    }
    i += 1;
    let Ok(name) = serde_json::from_str::<String>(&s[start..i]) else {
        return Header::Mismatch;
    };
    expect!(",");
    expect!("\"arguments\"");
    expect!(":");
    ws(&mut i);
    if i >= b.len() {
        return Header::Incomplete;
    }
    Header::Match { name, consumed: i }
}

/// A complete call body: `{"name": …, "arguments": {…} | "…"}` → name and
/// the arguments as JSON text.
fn whole_call(body: &str) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    let name = v.get("name")?.as_str()?.to_owned();
    let args = match v.get("arguments") {
        Some(Value::Object(o)) => serde_json::to_string(o).ok()?,
        Some(Value::String(s)) if serde_json::from_str::<Value>(s).is_ok_and(|a| a.is_object()) => {
            s.clone()
        }
        None => "{}".to_owned(),
        _ => return None,
    };
    Some((name, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(parser: &mut CallParser, pieces: &[&str]) -> Vec<Piece> {
        let mut out = Vec::new();
        for p in pieces {
            out.extend(parser.push(p));
        }
        out.extend(parser.finish());
        out
    }

    fn text(s: &str) -> Piece {
        Piece::Text(s.into())
    }

    #[test]
    fn a_constrained_call_streams_its_name_then_its_arguments() {
        let mut p = CallParser::new();
        p.expect_call(true);
        let call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Pa}ris\"}}\n</tool_call>";
        // Cut into small pieces at every 3 characters.
        let chars: Vec<char> = format!("Let me check. {call}").chars().collect();
        let pieces: Vec<String> = chars.chunks(3).map(|c| c.iter().collect()).collect();
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let out = run(&mut p, &refs);
        let content: String = out
            .iter()
            .filter_map(|p| {
                if let Piece::Text(t) = p {
                    Some(t.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(content, "Let me check. ");
        assert!(out.contains(&Piece::CallStart {
            index: 0,
            name: "get_weather".into()
        }));
        let args: String = out
            .iter()
            .filter_map(|p| {
                if let Piece::CallArgs { text, .. } = p {
                    Some(text.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(args, "{\"city\": \"Pa}ris\"}");
        assert!(
            out.iter()
                .filter(|p| matches!(p, Piece::CallArgs { .. }))
                .count()
                > 3,
            "streamed: {out:?}"
        );
        assert_eq!(out.last(), Some(&Piece::CallEnd { index: 0 }));
        assert_eq!(p.calls(), 1);
    }

    #[test]
    fn a_free_call_is_checked_before_it_is_reported() {
        let mut p = CallParser::new();
        let out = run(
            &mut p,
            &[
                "<tool_",
                "call>{\"arguments\": {\"a\": 1}, \"name\": \"f\"}</tool_call>",
                " then <tool_call>{oops}</tool_call>",
            ],
        );
        assert_eq!(
            out,
            vec![
                Piece::CallStart {
                    index: 0,
                    name: "f".into()
                },
                Piece::CallArgs {
                    index: 0,
                    text: "{\"a\":1}".into()
                },
                Piece::CallEnd { index: 0 },
                text(" then <tool_call>{oops}</tool_call>"),
            ]
        );
        // Cut off by the end of the stream: given back as text.
        let mut p = CallParser::new();
        let out = run(&mut p, &["a <tool_call>{\"name\": \"f\""]);
        assert!(out.iter().all(|p| matches!(p, Piece::Text(_))));
        let all: String = out
            .iter()
            .filter_map(|p| {
                if let Piece::Text(t) = p {
                    Some(t.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(all, "a <tool_call>{\"name\": \"f\"");
    }

    #[test]
    fn partial_tags_are_held_back_and_released() {
        let mut p = CallParser::new();
        assert_eq!(p.push("a <tool"), vec![text("a ")]);
        assert_eq!(p.push("box>"), vec![text("<toolbox>")]);
        assert_eq!(p.finish(), vec![]);
    }
}
