//! Tool calls: parsing them out of the generated text as it streams, and
//! constraining decoding so that a call is always valid JSON satisfying
//! its tool's schema.
//!
//! - [`grammar`]: JSON Schema → a byte-level grammar of the call
//!   `<tool_call>\n{"name": "<tool>", "arguments": <args>}\n</tool_call>`.
//! - [`matcher`]: the grammar's state after a prefix: next bytes allowed,
//!   fewest bytes to finish.
//! - [`vocab`]: the vocabulary as a byte trie; the token mask of a state.
//! - [`parser`]: generated text → content and call fragments.
//! - [`ToolSetup`] (per request) and [`Constraint`] (per sequence) tie them
//!   to `tool_choice`:
//!   - `none`: tools are not shown to the model, nothing is parsed;
//!   - `auto`: the model decides; when it emits the `<tool_call>` token the
//!     grammar takes over until the call is closed, so even a free call is
//!     well formed (a call spelled without that token is parsed and
//!     checked instead);
//!   - `required` / a named function: the grammar holds from the first
//!     token: exactly one call (of that function), then the turn ends.
//!
//! A forced call always fits the token budget: the mask only keeps tokens
//! after which the shortest completion still fits, and every single byte is
//! a token of its own, so some token always does.

pub(crate) mod grammar;
pub(crate) mod matcher;
pub(crate) mod parser;
mod vocab;

pub use vocab::ToolVocab;

use crate::api::{EngineError, ToolChoice, ToolSpec};
use grammar::{Builder, Grammar, Node, NodeId};
use matcher::Matcher;
use std::sync::Arc;
use vocab::CALL_OPEN;

/// A request's tools, compiled.
#[derive(Debug, Clone)]
pub struct ToolSetup {
    choice: ToolChoice,
    parallel: bool,
    grammar: Arc<Grammar>,
    min_tokens: usize,
}

impl ToolSetup {
    /// Compiles `tools` for `choice` (not `none`). With `required` or a
    /// named function every schema involved must compile (else
    /// `InvalidRequest` naming `tools[i].function.parameters`); with `auto`
    /// a schema that does not compile constrains only to a JSON object.
    pub fn new(
        tools: &[ToolSpec],
        choice: ToolChoice,
        parallel: bool,
        vocab: &ToolVocab,
    ) -> Result<Self, EngineError> {
        let forced = matches!(choice, ToolChoice::Required | ToolChoice::Function(_));
        let picked: Vec<(usize, &ToolSpec)> = match &choice {
            ToolChoice::Function(name) => {
                let hit = tools
                    .iter()
                    .enumerate()
                    .find(|(_, t)| &t.name == name)
                    .ok_or_else(|| {
                        EngineError::invalid(
                            "tool_choice",
                            format!("no tool named `{name}` was given"),
                        )
                    })?;
                vec![hit]
            }
            _ => tools.iter().enumerate().collect(),
        };
        let grammar = compile(&picked, forced).map_err(|(i, e)| {
            EngineError::invalid(format!("tools[{i}].function.parameters"), e.to_string())
        })?;
        let mut min_tokens = grammar.min_len[grammar.root as usize];
        if vocab.call_token().is_some() {
            min_tokens -= CALL_OPEN.len() - 1;
        }
        Ok(Self {
            choice,
            parallel,
            grammar: Arc::new(grammar),
            min_tokens,
        })
    }

    /// Whether a call is required (`required` or a named function).
    pub fn is_forced(&self) -> bool {
        matches!(self.choice, ToolChoice::Required | ToolChoice::Function(_))
    }

    /// Whether several calls may come in one turn.
    pub fn parallel(&self) -> bool {
        self.parallel && !self.is_forced()
    }

    /// Fewest tokens a complete call takes.
    pub fn min_tokens(&self) -> usize {
        self.min_tokens
    }
}

/// The grammar of one call of any of `tools`. Errors carry the tool's index.
fn compile(
    tools: &[(usize, &ToolSpec)],
    forced: bool,
) -> Result<Grammar, (usize, grammar::SchemaError)> {
    let mut b = Builder::default();
    let at = |i: usize| move |e| (i, e);
    let mut branches = Vec::with_capacity(tools.len());
    for &(i, t) in tools {
        let args = match b.schema(&t.parameters, &t.parameters) {
            Ok(a) => a,
            Err(e) if forced => return Err((i, e)),
            Err(_) => free_object(&mut b).map_err(at(i))?,
        };
        let name = serde_json::to_string(&t.name).map_err(|e| {
            (
                i,
                grammar::SchemaError {
                    at: String::new(),
                    reason: e.to_string(),
                },
            )
        })?;
        let name = b
            .lit(format!("{name}, \"arguments\": ").as_bytes())
            .map_err(at(i))?;
        branches.push(b.add(Node::Seq(vec![name, args])).map_err(at(i))?);
    }
    let first = tools.first().map_or(0, |t| t.0);
    let choice = b.any_of(branches).map_err(at(first))?;
    let open = b
        .lit(format!("{CALL_OPEN}\n{{\"name\": ").as_bytes())
        .map_err(at(first))?;
    let close = b.lit(b"}\n</tool_call>").map_err(at(first))?;
    let root = b
        .add(Node::Seq(vec![open, choice, close]))
        .map_err(at(first))?;
    b.finish(root).map_err(at(first))
}

fn free_object(b: &mut Builder) -> Result<NodeId, grammar::SchemaError> {
    let value = b.any()?;
    let key = b.add(Node::Str { min: 0, max: None })?;
    b.add(Node::Obj {
        props: Vec::new(),
        free: Some((key, value)),
    })
}

/// What accepting a token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Nothing to report.
    Token,
    /// The `<tool_call>` token started a call (`auto`); whether the grammar
    /// holds it. (A forced call is held from the start.)
    CallOpened { constrained: bool },
    /// The constrained call is complete.
    CallClosed,
}

/// One sequence's grammar state.
#[derive(Debug)]
pub(crate) struct Constraint {
    setup: ToolSetup,
    /// The grammar state while a call is being constrained.
    state: Option<Matcher>,
    /// Scratch mask, one entry per token.
    allowed: Vec<bool>,
}

impl Constraint {
    pub fn new(setup: ToolSetup) -> Self {
        let state = setup.is_forced().then(|| Matcher::new(&setup.grammar));
        Self {
            setup,
            state,
            allowed: Vec::new(),
        }
    }

    pub fn setup(&self) -> &ToolSetup {
        &self.setup
    }

    /// Whether the grammar holds the next token.
    #[cfg(test)]
    pub fn is_active(&self) -> bool {
        self.state.is_some()
    }

    /// Sets every logit the grammar does not allow to `-inf`. `remaining`
    /// counts the tokens that may still be generated, this one included.
    /// `Err` when nothing is allowed (an engine bug, never the model's).
    pub fn mask(
        &mut self,
        vocab: &ToolVocab,
        logits: &mut [f32],
        remaining: usize,
    ) -> Result<(), EngineError> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        self.allowed.clear();
        self.allowed.resize(logits.len(), false);
        let budget = remaining.saturating_sub(1);
        let n = vocab.allowed(&self.setup.grammar, state, budget, &mut self.allowed);
        if n == 0 {
            return Err(EngineError::Internal(format!(
                "the tool-call grammar allows no token ({remaining} tokens left)"
            )));
        }
        for (l, ok) in logits.iter_mut().zip(&self.allowed) {
            if !ok {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }

    /// Records the chosen token. `remaining` counts the tokens that may
    /// follow it.
    pub fn accept(&mut self, vocab: &ToolVocab, token: u32, remaining: usize) -> Accepted {
        let g = &self.setup.grammar;
        match &self.state {
            None => {
                if self.setup.is_forced() || Some(token) != vocab.call_token() {
                    return Accepted::Token;
                }
                // Auto: the model opened a call; hold it if it can still be finished.
                let m = Matcher::new(g).feed_all(g, CALL_OPEN.as_bytes());
                let constrained = !m.is_dead() && m.min_remaining(g) <= remaining;
                if constrained {
                    self.state = Some(m);
                }
                Accepted::CallOpened { constrained }
            }
            Some(m) => {
                let next = m.feed_all(g, vocab.bytes(token).unwrap_or(&[]));
                if next.is_done() {
                    self.state = None;
                    return Accepted::CallClosed;
                }
                // A dead state cannot happen (the token was masked); if it
                // did, the parser's own check takes over.
                self.state = (!next.is_dead()).then_some(next);
                Accepted::Token
            }
        }
    }
}

#[cfg(test)]
mod tests;
