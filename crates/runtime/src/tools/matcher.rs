//! A byte-level matcher over a [`Grammar`]: which bytes may come next, and
//! how few bytes can still finish the document.
//!
//! The state is a small set of *threads*, each a stack of [`Frame`]s (the
//! innermost value being written on top). JSON decides almost everything
//! from the next byte, so there is one thread nearly always; `anyOf`, type
//! lists and object keys fork threads that die on the first byte that
//! tells them apart. Every live thread can be finished (the grammar admits
//! no dead ends), so the matcher never has to backtrack.

use super::grammar::{Grammar, MAX_INT, Node, NodeId, Prop};

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

fn step_str(g: &Grammar, f: Frame, b: u8) -> Step {
    let Frame::Str {
        node,
        open,
        chars,
        esc,
        left,
        lo,
        hi,
    } = f
    else {
        return Step::Reject;
    };
    let Node::Str { min, max } = g.nodes[node as usize] else {
        return Step::Reject;
    };
    let with = |chars, esc, left, lo, hi| {
        Step::Consumed(Frame::Str {
            node,
            open: true,
            chars,
            esc,
            left,
            lo,
            hi,
        })
    };
    if !open {
        return if b == b'"' {
            with(0, false, 0, 0, 0)
        } else {
            Step::Reject
        };
    }
    if left > 0 {
        if !(lo..=hi).contains(&b) {
            return Step::Reject;
        }
        let chars = if left == 1 { chars + 1 } else { chars };
        return with(chars, false, left - 1, 0x80, 0xBF);
    }
    if esc {
        return if b"\"\\/bfnrt".contains(&b) {
            with(chars + 1, false, 0, 0, 0)
        } else {
            Step::Reject
        };
    }
    if b == b'"' {
        return if chars >= min {
            Step::Done
        } else {
            Step::Reject
        };
    }
    if max.is_some_and(|m| chars >= m) {
        return Step::Reject;
    }
    match b {
        b'\\' => with(chars, true, 0, 0, 0),
        0x00..=0x1F => Step::Reject,
        0x20..=0x7F => with(chars + 1, false, 0, 0, 0),
        // Well-formed UTF-8 (Unicode table 3-7).
        0xC2..=0xDF => with(chars, false, 1, 0x80, 0xBF),
        0xE0 => with(chars, false, 2, 0xA0, 0xBF),
        0xE1..=0xEC | 0xEE..=0xEF => with(chars, false, 2, 0x80, 0xBF),
        0xED => with(chars, false, 2, 0x80, 0x9F),
        0xF0 => with(chars, false, 3, 0x90, 0xBF),
        0xF1..=0xF3 => with(chars, false, 3, 0x80, 0xBF),
        0xF4 => with(chars, false, 3, 0x80, 0x8F),
        _ => Step::Reject,
    }
}

/// Whether an integer with `k` digits so far (magnitude `p`, sign `neg`)
/// can be finished with `j` more digits inside `lo..=hi`.
fn int_reachable(lo: i128, hi: i128, neg: bool, p: u64, k: u8, j: u8) -> bool {
    if k + j > MAX_DIGITS || (k == 0 && j == 0) {
        return false;
    }
    let (min_mag, max_mag): (i128, i128) = if k == 0 {
        let low = if j == 1 {
            if neg { 1 } else { 0 }
        } else {
            10i128.pow(u32::from(j) - 1)
        };
        (low, 10i128.pow(u32::from(j)) - 1)
    } else if p == 0 {
        if j > 0 {
            return false; // no leading zeros
        }
        (0, 0)
    } else {
        let scale = 10i128.pow(u32::from(j));
        (i128::from(p) * scale, i128::from(p) * scale + scale - 1)
    };
    let (a, z) = if neg {
        (-max_mag, -min_mag)
    } else {
        (min_mag, max_mag)
    };
    a <= hi && z >= lo
}

/// Fewest digits that finish an integer from this state.
fn int_remaining(lo: i128, hi: i128, neg: bool, p: u64, k: u8) -> usize {
    let mut best = usize::MAX;
    for j in 0..=MAX_DIGITS.saturating_sub(k) {
        if int_reachable(lo, hi, neg, p, k, j) {
            best = j as usize;
            break;
        }
    }
    if k == 0 && !neg {
        // Or a minus sign and a negative number.
        for j in 1..=MAX_DIGITS {
            if int_reachable(lo, hi, true, 0, 0, j) {
                best = best.min(j as usize + 1);
                break;
            }
        }
    }
    best
}

fn step_int(g: &Grammar, node: NodeId, neg: bool, digits: u8, mag: u64, b: u8) -> Step {
    let Node::Int { lo, hi } = g.nodes[node as usize] else {
        return Step::Reject;
    };
    let lo = lo.max(-MAX_INT);
    let hi = hi.min(MAX_INT);
    let next = |neg, digits, mag| {
        Step::Consumed(Frame::Int {
            node,
            neg,
            digits,
            mag,
        })
    };
    if b == b'-' && digits == 0 && !neg {
        let ok = (1..=MAX_DIGITS).any(|j| int_reachable(lo, hi, true, 0, 0, j));
        return if ok { next(true, 0, 0) } else { Step::Reject };
    }
    if b.is_ascii_digit() {
        let d = u64::from(b - b'0');
        if digits > 0 && mag == 0 {
            return Step::Reject;
        }
        if neg && digits == 0 && d == 0 {
            return Step::Reject; // no "-0"
        }
        let p = mag * 10 + d;
        let k = digits + 1;
        let ok = (0..=MAX_DIGITS - k.min(MAX_DIGITS)).any(|j| int_reachable(lo, hi, neg, p, k, j));
        return if ok { next(neg, k, p) } else { Step::Reject };
    }
    if digits > 0 {
        let v = if neg {
            -i128::from(mag)
        } else {
            i128::from(mag)
        };
        if (lo..=hi).contains(&v) {
            return Step::Complete;
        }
    }
    Step::Reject
}

fn step_num(p: NumPhase, b: u8) -> Step {
    use NumPhase::*;
    let next = |p| Step::Consumed(Frame::Num(p));
    let digit = b.is_ascii_digit();
    match p {
        Start if b == b'-' => next(Minus),
        Start | Minus if b == b'0' => next(Zero),
        Start | Minus if digit => next(Int(1)),
        Start | Minus => Step::Reject,
        Int(n) if digit && n < MAX_DIGITS => next(Int(n + 1)),
        Zero | Int(_) if b == b'.' => next(Dot),
        Zero | Int(_) => Step::Complete,
        Dot if digit => next(Frac(1)),
        Dot => Step::Reject,
        Frac(n) if digit && n < MAX_FRAC => next(Frac(n + 1)),
        Frac(_) => Step::Complete,
    }
}

/// The properties a key may name from `from` on: up to and including the
/// first required one.
fn key_candidates(props: &[Prop], from: u32) -> std::ops::Range<u32> {
    let from_us = from as usize;
    let end = props[from_us.min(props.len())..]
        .iter()
        .position(|p| p.required)
        .map_or(props.len(), |i| from_us + i + 1);
    from..end as u32
}

fn required_after(props: &[Prop], prop: u32) -> bool {
    props.iter().skip(prop as usize + 1).any(|p| p.required)
}

fn step_obj(g: &Grammar, node: NodeId, phase: ObjPhase, b: u8) -> Step {
    let (props, free) = props(g, node);
    let obj = |phase| Frame::Obj { node, phase };
    let keys = |from: u32| -> Step {
        if let Some((key, _)) = free {
            return Step::Push(obj(ObjPhase::FreeKey), key);
        }
        let forks: Vec<Frame> = key_candidates(props, from)
            .filter(|&k| props[k as usize].key.first() == Some(&b))
            .map(|k| obj(ObjPhase::Key { prop: k, pos: 1 }))
            .collect();
        if forks.is_empty() {
            Step::Reject
        } else {
            Step::Fork(forks)
        }
    };
    match phase {
        ObjPhase::Open => {
            if b == b'{' {
                Step::Consumed(obj(ObjPhase::AfterOpen))
            } else {
                Step::Reject
            }
        }
        ObjPhase::AfterOpen => match b {
            b'}' if free.is_some() || !props.iter().any(|p| p.required) => Step::Done,
            b'"' if free.is_some() || !props.is_empty() => keys(0),
            _ => Step::Reject,
        },
        ObjPhase::Key { prop, pos } => {
            let key = &props[prop as usize].key;
            match key.get(pos as usize) {
                Some(&x) if x == b && pos as usize + 1 == key.len() => {
                    Step::Consumed(obj(ObjPhase::Colon { prop, pos: 0 }))
                }
                Some(&x) if x == b => Step::Consumed(obj(ObjPhase::Key { prop, pos: pos + 1 })),
                _ => Step::Reject,
            }
        }
        ObjPhase::Colon { prop, pos: 0 } if b == b':' => {
            Step::Consumed(obj(ObjPhase::Colon { prop, pos: 1 }))
        }
        ObjPhase::Colon { prop, pos: 1 } if b == b' ' => {
            let value = match (prop, free) {
                (FREE, Some((_, v))) => v,
                _ => props[prop as usize].value,
            };
            Step::ConsumedPush(obj(ObjPhase::Value { prop }), value)
        }
        ObjPhase::AfterValue { prop } => {
            let (more, must) = if prop == FREE {
                (true, false)
            } else {
                (
                    (prop as usize + 1) < props.len(),
                    required_after(props, prop),
                )
            };
            match b {
                b',' if more => Step::Consumed(obj(ObjPhase::Comma { after: prop })),
                b'}' if !must => Step::Done,
                _ => Step::Reject,
            }
        }
        ObjPhase::Comma { after } if b == b' ' => {
            let from = if after == FREE { 0 } else { after + 1 };
            Step::Consumed(obj(ObjPhase::NextKey { from }))
        }
        ObjPhase::NextKey { from } if b == b'"' => keys(from),
        _ => Step::Reject,
    }
}

fn step_arr(g: &Grammar, node: NodeId, count: u32, phase: ArrPhase, b: u8) -> Step {
    let Node::Arr { items, min, max } = g.nodes[node as usize] else {
        return Step::Reject;
    };
    let arr = |count, phase| Frame::Arr { node, count, phase };
    let room = max.is_none_or(|m| count < m);
    match phase {
        ArrPhase::Open => {
            if b == b'[' {
                Step::Consumed(arr(0, ArrPhase::AfterOpen))
            } else {
                Step::Reject
            }
        }
        ArrPhase::AfterOpen if b == b']' && min == 0 => Step::Done,
        ArrPhase::AfterOpen if room => Step::Push(arr(count, ArrPhase::Value), items),
        ArrPhase::AfterValue if b == b',' && room => Step::Consumed(arr(count, ArrPhase::Comma)),
        ArrPhase::AfterValue if b == b']' && count >= min => Step::Done,
        ArrPhase::Comma if b == b' ' => Step::ConsumedPush(arr(count, ArrPhase::Value), items),
        _ => Step::Reject,
    }
}

/// Bytes the required properties from `from` on need, each preceded by
/// `, ` (less the first separator when `first`).
fn required_cost(g: &Grammar, props: &[Prop], from: usize, first: bool) -> usize {
    let mut n = 0;
    let mut cost = 0usize;
    for p in props.iter().skip(from).filter(|p| p.required) {
        cost = cost
            .saturating_add(2 + p.key.len() + 2)
            .saturating_add(g.min_len[p.value as usize]);
        n += 1;
    }
    if first && n > 0 { cost - 2 } else { cost }
}

/// Fewest bytes that finish one thread.
fn stack_remaining(g: &Grammar, stack: &Stack) -> usize {
    stack
        .iter()
        .map(|&f| frame_remaining(g, f))
        .fold(0usize, usize::saturating_add)
}

fn frame_remaining(g: &Grammar, f: Frame) -> usize {
    match f {
        Frame::Start(id) => g.min_len[id as usize],
        Frame::Lit { node, pos } => match &g.nodes[node as usize] {
            Node::Lit(b) => b.len() - pos as usize,
            _ => 0,
        },
        Frame::Seq { node, next } => match &g.nodes[node as usize] {
            Node::Seq(c) => c
                .iter()
                .skip(next as usize + 1)
                .map(|&c| g.min_len[c as usize])
                .sum(),
            _ => 0,
        },
        Frame::Str {
            node,
            open,
            chars,
            esc,
            left,
            ..
        } => {
            let Node::Str { min, .. } = g.nodes[node as usize] else {
                return 0;
            };
            if !open {
                return 2 + min as usize;
            }
            let pending = usize::from(esc) + left as usize;
            let counted = chars + u32::from(esc || left > 0);
            pending + min.saturating_sub(counted) as usize + 1
        }
        Frame::Int {
            node,
            neg,
            digits,
            mag,
        } => match g.nodes[node as usize] {
            Node::Int { lo, hi } => int_remaining(lo, hi, neg, mag, digits),
            _ => 0,
        },
        Frame::Num(p) => usize::from(matches!(
            p,
            NumPhase::Start | NumPhase::Minus | NumPhase::Dot
        )),
        Frame::Obj { node, phase } => obj_remaining(g, node, phase),
        Frame::Arr { node, count, phase } => {
            let Node::Arr { items, min, .. } = g.nodes[node as usize] else {
                return 0;
            };
            let item = g.min_len[items as usize];
            let more = |done: u32| (min.saturating_sub(done) as usize).saturating_mul(2 + item);
            match phase {
                ArrPhase::Open => g.min_len[node as usize],
                ArrPhase::AfterOpen if min == 0 => 1,
                ArrPhase::AfterOpen => more(0) - 2 + 1,
                ArrPhase::Value => more(count + 1) + 1,
                ArrPhase::AfterValue => more(count) + 1,
                ArrPhase::Comma => 1 + item + more(count + 1) + 1,
            }
        }
    }
}

fn obj_remaining(g: &Grammar, node: NodeId, phase: ObjPhase) -> usize {
    let (props, free) = props(g, node);
    let value_len = |prop: u32| match (prop, free) {
        (FREE, Some((_, v))) => g.min_len[v as usize],
        (FREE, None) => 0,
        _ => g.min_len[props[prop as usize].value as usize],
    };
    let after = |prop: u32| {
        if prop == FREE {
            0
        } else {
            required_cost(g, props, prop as usize + 1, false)
        }
    };
    let next_key = |from: u32| -> usize {
        if let Some((_, v)) = free {
            return 2 + 2 + g.min_len[v as usize];
        }
        key_candidates(props, from)
            .map(|k| {
                let p = &props[k as usize];
                (p.key.len() + 2 + g.min_len[p.value as usize]).saturating_add(after(k))
            })
            .min()
            .unwrap_or(usize::MAX / 4)
    };
    match phase {
        ObjPhase::Open => g.min_len[node as usize],
        ObjPhase::AfterOpen => required_cost(g, props, 0, true) + 1,
        ObjPhase::Key { prop, pos } => {
            (props[prop as usize].key.len() - pos as usize + 2 + value_len(prop))
                .saturating_add(after(prop))
                + 1
        }
        ObjPhase::FreeKey => 2 + value_len(FREE) + 1,
        ObjPhase::Colon { prop, pos } => {
            (2 - pos as usize + value_len(prop)).saturating_add(after(prop)) + 1
        }
        ObjPhase::Value { prop } | ObjPhase::AfterValue { prop } => after(prop) + 1,
        ObjPhase::Comma { after: a } => {
            let from = if a == FREE { 0 } else { a + 1 };
            1 + next_key(from).saturating_add(1)
        }
        ObjPhase::NextKey { from } => next_key(from).saturating_add(1),
    }
}
