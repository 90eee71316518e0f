//! How the top frame of a thread takes one byte, per kind of value:
//! strings, integers and numbers, objects and arrays.

use super::*;

pub(super) fn step_str(g: &Grammar, f: Frame, b: u8) -> Step {
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
pub(super) fn int_remaining(lo: i128, hi: i128, neg: bool, p: u64, k: u8) -> usize {
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

pub(super) fn step_int(g: &Grammar, node: NodeId, neg: bool, digits: u8, mag: u64, b: u8) -> Step {
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

pub(super) fn step_num(p: NumPhase, b: u8) -> Step {
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
pub(super) fn key_candidates(props: &[Prop], from: u32) -> std::ops::Range<u32> {
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

pub(super) fn step_obj(g: &Grammar, node: NodeId, phase: ObjPhase, b: u8) -> Step {
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

pub(super) fn step_arr(g: &Grammar, node: NodeId, count: u32, phase: ArrPhase, b: u8) -> Step {
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
