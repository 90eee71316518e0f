//! The fewest bytes that finish a thread: what [`Matcher::min_remaining`]
//! adds up, frame by frame.

use super::step::{int_remaining, key_candidates};
use super::*;

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
pub(super) fn stack_remaining(g: &Grammar, stack: &Stack) -> usize {
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
