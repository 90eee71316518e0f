//! A byte-level matcher over a [`Grammar`]: which bytes may come next, and
//! how few bytes can still finish the document.
//!
//! The state is a small set of *threads*, each a stack of [`Frame`]s (the
//! innermost value being written on top). JSON decides almost everything
//! from the next byte, so there is one thread nearly always; `anyOf`, type
//! lists and object keys fork threads that die on the first byte that
//! tells them apart. Every live thread can be finished (the grammar admits
//! no dead ends), so the matcher never has to backtrack.

mod remaining;
mod step;

use super::grammar::{Grammar, MAX_INT, Node, NodeId, Prop};
use remaining::stack_remaining;
use step::{step_arr, step_int, step_num, step_obj, step_str};

/// Threads kept at most (extra ones are dropped; any single live thread can
/// finish the document, so dropping one never makes the state dead).
const MAX_THREADS: usize = 16;
/// Digits of an integer part, and of a fraction.
const MAX_DIGITS: u8 = 16;
const MAX_FRAC: u8 = 8;
/// "Any free key" in [`ObjPhase`].
const FREE: u32 = u32::MAX;

/// Where an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ObjPhase {
    Open,
    AfterOpen,
    /// Matching the key of property `prop` (quotes included).
    Key {
        prop: u32,
        pos: u32,
    },
    /// The free key's string is on the stack above.
    FreeKey,
    /// `": "` after property `prop`'s key.
    Colon {
        prop: u32,
        pos: u8,
    },
    /// Property `prop`'s value is on the stack above.
    Value {
        prop: u32,
    },
    AfterValue {
        prop: u32,
    },
    /// After `,`: the space.
    Comma {
        after: u32,
    },
    /// After `, `: the next key, from property `from`.
    NextKey {
        from: u32,
    },
}

/// Where an array is; `count` values are complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ArrPhase {
    Open,
    AfterOpen,
    Value,
    AfterValue,
    Comma,
}

/// Where an unbounded number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum NumPhase {
    Start,
    Minus,
    Zero,
    Int(u8),
    Dot,
    Frac(u8),
}

/// One level of a thread's stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Frame {
    /// A node not started yet.
    Start(NodeId),
    Lit {
        node: NodeId,
        pos: u32,
    },
    /// Child `next` is on the stack above.
    Seq {
        node: NodeId,
        next: u32,
    },
    /// Inside a string: `chars` code points written, a pending escape, and
    /// `left` continuation bytes of a UTF-8 character in `lo..=hi`.
    Str {
        node: NodeId,
        open: bool,
        chars: u32,
        esc: bool,
        left: u8,
        lo: u8,
        hi: u8,
    },
    Int {
        node: NodeId,
        neg: bool,
        digits: u8,
        mag: u64,
    },
    Num(NumPhase),
    Obj {
        node: NodeId,
        phase: ObjPhase,
    },
    Arr {
        node: NodeId,
        count: u32,
        phase: ArrPhase,
    },
}

type Stack = Vec<Frame>;

/// What the top frame does with a byte.
enum Step {
    /// Consumed; the frame becomes this.
    Consumed(Frame),
    /// Consumed; the frame becomes this and a child starts above it.
    ConsumedPush(Frame, NodeId),
    /// Consumed, and the frame is complete.
    Done,
    /// Not consumed: the frame becomes this and a child starts, which gets
    /// the byte.
    Push(Frame, NodeId),
    /// Not consumed: the frame is complete; its parent gets the byte.
    Complete,
    /// Consumed in several ways (object keys).
    Fork(Vec<Frame>),
    Reject,
}

/// The matcher state: live threads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Matcher {
    threads: Vec<Stack>,
}

impl Matcher {
    /// The state before the grammar's first byte.
    pub fn new(g: &Grammar) -> Self {
        Self {
            threads: vec![vec![Frame::Start(g.root)]],
        }
    }

    /// Whether no byte sequence led here (a rejected byte).
    pub fn is_dead(&self) -> bool {
        self.threads.is_empty()
    }

    /// Whether the document is complete (nothing more may follow).
    pub fn is_done(&self) -> bool {
        self.threads.iter().any(Vec::is_empty)
    }

    /// The state after `b`; dead when `b` cannot come next.
    pub fn feed(&self, g: &Grammar, b: u8) -> Matcher {
        let mut out = Vec::with_capacity(self.threads.len());
        for t in &self.threads {
            feed_stack(g, t.clone(), b, &mut out);
        }
        if out.len() > 1 {
            out.sort();
            out.dedup();
            out.truncate(MAX_THREADS);
        }
        Matcher { threads: out }
    }

    /// The state after `bytes` (dead at the first rejected byte).
    pub fn feed_all(&self, g: &Grammar, bytes: &[u8]) -> Matcher {
        let mut m = self.clone();
        for &b in bytes {
            m = m.feed(g, b);
            if m.is_dead() {
                break;
            }
        }
        m
    }

    /// The fewest bytes that finish the document from here (`usize::MAX`
    /// when dead).
    pub fn min_remaining(&self, g: &Grammar) -> usize {
        self.threads
            .iter()
            .map(|t| stack_remaining(g, t))
            .min()
            .unwrap_or(usize::MAX)
    }
}

fn props(g: &Grammar, node: NodeId) -> (&[Prop], Option<(NodeId, NodeId)>) {
    match &g.nodes[node as usize] {
        Node::Obj { props, free } => (props, *free),
        _ => (&[], None),
    }
}

/// Feeds `b` to one thread, pushing every resulting live thread to `out`.
fn feed_stack(g: &Grammar, mut stack: Stack, b: u8, out: &mut Vec<Stack>) {
    loop {
        let Some(&top) = stack.last() else {
            return; // complete: nothing may follow
        };
        if let Frame::Start(id) = top {
            match &g.nodes[id as usize] {
                Node::Alt(children) => {
                    stack.pop();
                    for &c in children {
                        let mut s = stack.clone();
                        s.push(Frame::Start(c));
                        feed_stack(g, s, b, out);
                    }
                    return;
                }
                Node::Seq(children) => {
                    *stack.last_mut().expect("non-empty") = Frame::Seq { node: id, next: 0 };
                    match children.first() {
                        Some(&c) => stack.push(Frame::Start(c)),
                        None => pop_done(g, &mut stack),
                    }
                }
                Node::Lit(bytes) if bytes.is_empty() => pop_done(g, &mut stack),
                _ => *stack.last_mut().expect("non-empty") = initial(g, id),
            }
            continue;
        }
        match step(g, top, b) {
            Step::Consumed(f) => {
                *stack.last_mut().expect("non-empty") = f;
                out.push(stack);
                return;
            }
            Step::ConsumedPush(f, child) => {
                *stack.last_mut().expect("non-empty") = f;
                stack.push(Frame::Start(child));
                out.push(stack);
                return;
            }
            Step::Done => {
                pop_done(g, &mut stack);
                out.push(stack);
                return;
            }
            Step::Push(f, child) => {
                *stack.last_mut().expect("non-empty") = f;
                stack.push(Frame::Start(child));
            }
            Step::Complete => pop_done(g, &mut stack),
            Step::Fork(frames) => {
                for f in frames {
                    let mut s = stack.clone();
                    *s.last_mut().expect("non-empty") = f;
                    out.push(s);
                }
                return;
            }
            Step::Reject => return,
        }
    }
}

/// The first frame of a node that consumes bytes itself.
fn initial(g: &Grammar, id: NodeId) -> Frame {
    match &g.nodes[id as usize] {
        Node::Lit(_) => Frame::Lit { node: id, pos: 0 },
        Node::Str { .. } => Frame::Str {
            node: id,
            open: false,
            chars: 0,
            esc: false,
            left: 0,
            lo: 0,
            hi: 0,
        },
        Node::Int { .. } => Frame::Int {
            node: id,
            neg: false,
            digits: 0,
            mag: 0,
        },
        Node::Num => Frame::Num(NumPhase::Start),
        Node::Obj { .. } => Frame::Obj {
            node: id,
            phase: ObjPhase::Open,
        },
        Node::Arr { .. } => Frame::Arr {
            node: id,
            count: 0,
            phase: ArrPhase::Open,
        },
        Node::Seq(_) | Node::Alt(_) => Frame::Start(id),
    }
}

/// Pops the (complete) top frame and tells its parents.
fn pop_done(g: &Grammar, stack: &mut Stack) {
    stack.pop();
    while let Some(parent) = stack.last_mut() {
        match *parent {
            Frame::Seq { node, next } => {
                let Node::Seq(children) = &g.nodes[node as usize] else {
                    return;
                };
                let next = next + 1;
                if let Some(&c) = children.get(next as usize) {
                    *parent = Frame::Seq { node, next };
                    stack.push(Frame::Start(c));
                    return;
                }
                stack.pop(); // the sequence is complete too
            }
            Frame::Obj {
                node,
                phase: ObjPhase::Value { prop },
            } => {
                *parent = Frame::Obj {
                    node,
                    phase: ObjPhase::AfterValue { prop },
                };
                return;
            }
            Frame::Obj {
                node,
                phase: ObjPhase::FreeKey,
            } => {
                *parent = Frame::Obj {
                    node,
                    phase: ObjPhase::Colon { prop: FREE, pos: 0 },
                };
                return;
            }
            Frame::Arr {
                node,
                count,
                phase: ArrPhase::Value,
            } => {
                *parent = Frame::Arr {
                    node,
                    count: count + 1,
                    phase: ArrPhase::AfterValue,
                };
                return;
            }
            _ => return,
        }
    }
}

fn step(g: &Grammar, f: Frame, b: u8) -> Step {
    match f {
        Frame::Lit { node, pos } => {
            let Node::Lit(bytes) = &g.nodes[node as usize] else {
                return Step::Reject;
            };
            match bytes.get(pos as usize) {
                Some(&x) if x == b && pos as usize + 1 == bytes.len() => Step::Done,
                Some(&x) if x == b => Step::Consumed(Frame::Lit { node, pos: pos + 1 }),
                _ => Step::Reject,
            }
        }
        Frame::Str { .. } => step_str(g, f, b),
        Frame::Int {
            node,
            neg,
            digits,
            mag,
        } => step_int(g, node, neg, digits, mag, b),
        Frame::Num(p) => step_num(p, b),
        Frame::Obj { node, phase } => step_obj(g, node, phase, b),
        Frame::Arr { node, count, phase } => step_arr(g, node, count, phase, b),
        Frame::Start(_) | Frame::Seq { .. } => Step::Reject,
    }
}
