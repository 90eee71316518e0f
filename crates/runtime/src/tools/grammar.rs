//! The grammar of a tool call: JSON Schema compiled into a small arena of
//! byte-level nodes that the [`matcher`](super::matcher) walks.
//!
//! What comes out is *canonical* JSON — `{"key": value, "key2": value}`,
//! one space after `:` and `,`, nothing else between tokens, numbers without
//! exponents, strings without `\u` escapes — which is how Qwen writes tool
//! calls (`json.dumps`) and what keeps a random model from padding forever.
//! Every accepted document satisfies the schema; the supported subset is
//! what can be guaranteed that way:
//!
//! - `type` (one or several), `enum`, `const`, `anyOf`, `oneOf` (when its
//!   branches have distinct types), `allOf` with one member, local `$ref`
//!   into `$defs` / `definitions`;
//! - objects: `properties` (emitted in declared order, each optional one
//!   may be left out, every required one is written), `required`,
//!   `additionalProperties` (extra keys only when no `properties` are
//!   declared);
//! - arrays: `items`, `minItems`, `maxItems`;
//! - strings: `minLength`, `maxLength` (code points); `format` is an
//!   annotation and ignored;
//! - integers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`;
//!   numbers with bounds are written as integers within them.
//!
//! Anything else that constrains values (`pattern`, `multipleOf`,
//! `uniqueItems`, `prefixItems`, `not`, `if`, …) is refused by name, so a
//! forced call is never allowed to break its schema silently.

mod build;

pub(crate) use build::Builder;

/// Index of a node in [`Grammar::nodes`].
pub(crate) type NodeId = u32;

/// Largest magnitude an integer may have: 16 digits.
pub(crate) const MAX_INT: i128 = 9_999_999_999_999_999;
/// Nesting allowed for values of unconstrained type.
const ANY_DEPTH: u8 = 4;
/// Nesting of schemas inside schemas.
const MAX_DEPTH: usize = 64;
/// Nodes one grammar may have.
const MAX_NODES: usize = 20_000;

/// One object property.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prop {
    /// The key as JSON text, quotes included.
    pub key: Vec<u8>,
    pub value: NodeId,
    pub required: bool,
}

/// A grammar node (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// Exactly these bytes.
    Lit(Vec<u8>),
    /// Each child in turn.
    Seq(Vec<NodeId>),
    /// Any one of the children.
    Alt(Vec<NodeId>),
    /// A JSON string of `min..=max` code points.
    Str { min: u32, max: Option<u32> },
    /// An integer in `lo..=hi`.
    Int { lo: i128, hi: i128 },
    /// Any number (no bounds).
    Num,
    /// An object: declared properties in order, or free keys (`free`: the
    /// schema of their values; `key`: a string node for the keys) when none
    /// are declared.
    Obj {
        props: Vec<Prop>,
        free: Option<(NodeId, NodeId)>,
    },
    /// An array of `items`, `min..=max` of them.
    Arr {
        items: NodeId,
        min: u32,
        max: Option<u32>,
    },
}

/// A compiled grammar: the nodes, the root, and each node's shortest
/// completion in bytes.
#[derive(Debug, Clone)]
pub(crate) struct Grammar {
    pub nodes: Vec<Node>,
    pub root: NodeId,
    pub min_len: Vec<usize>,
}

/// Why a schema cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaError {
    /// JSON-pointer-like path inside the schema.
    pub at: String,
    pub reason: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "at `{}`: {}", self.at, self.reason)
        }
    }
}

/// A node that can reach itself without a byte being consumed (through
/// alternatives and first members of sequences), which the matcher would
/// expand forever.
fn left_recursion(nodes: &[Node]) -> Option<usize> {
    // 0: unvisited, 1: on the path, 2: done.
    fn visit(nodes: &[Node], i: usize, state: &mut [u8]) -> bool {
        match state[i] {
            1 => return true,
            2 => return false,
            _ => {}
        }
        state[i] = 1;
        let next: Vec<NodeId> = match &nodes[i] {
            Node::Alt(c) => c.clone(),
            Node::Seq(c) => c.first().copied().into_iter().collect(),
            _ => Vec::new(),
        };
        for c in next {
            if visit(nodes, c as usize, state) {
                return true;
            }
        }
        state[i] = 2;
        false
    }
    let mut state = vec![0u8; nodes.len()];
    (0..nodes.len()).find(|&i| visit(nodes, i, &mut state))
}

/// "No finite completion" in [`Grammar::min_len`].
const UNKNOWN: usize = usize::MAX / 4;

/// Shortest complete value of every node, in bytes (fixpoint over the
/// arena: recursive references converge from "unknown").
fn min_lengths(nodes: &[Node]) -> Vec<usize> {
    let mut len = vec![UNKNOWN; nodes.len()];
    loop {
        let mut changed = false;
        for (i, n) in nodes.iter().enumerate() {
            let v = match n {
                Node::Lit(b) => b.len(),
                Node::Seq(c) => c
                    .iter()
                    .map(|&c| len[c as usize])
                    .fold(0usize, usize::saturating_add),
                Node::Alt(c) => c.iter().map(|&c| len[c as usize]).min().unwrap_or(UNKNOWN),
                Node::Str { min, .. } => 2 + *min as usize,
                Node::Int { lo, hi } => int_min_len(*lo, *hi),
                Node::Num => 1,
                Node::Obj { props, .. } => {
                    let req: Vec<&Prop> = props.iter().filter(|p| p.required).collect();
                    let body = req
                        .iter()
                        .map(|p| (p.key.len() + 2).saturating_add(len[p.value as usize]))
                        .fold(0usize, usize::saturating_add);
                    2 + body + 2 * req.len().saturating_sub(1)
                }
                Node::Arr { items, min, .. } => {
                    let n = *min as usize;
                    2 + n.saturating_mul(len[*items as usize]) + 2 * n.saturating_sub(1)
                }
            };
            let v = v.min(UNKNOWN);
            if v < len[i] {
                len[i] = v;
                changed = true;
            }
        }
        if !changed {
            return len;
        }
    }
}

/// Bytes of the shortest integer text in `lo..=hi`.
pub(crate) fn int_min_len(lo: i128, hi: i128) -> usize {
    if lo <= 0 && hi >= 0 {
        return 1;
    }
    let closest = if lo > 0 { lo } else { hi };
    let digits = closest.unsigned_abs().to_string().len();
    digits + usize::from(closest < 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn compile(schema: Value) -> Result<Grammar, SchemaError> {
        let mut b = Builder::default();
        let root = b.schema(&schema, &schema)?;
        b.finish(root)
    }

    #[test]
    fn unsupported_keywords_are_refused_by_name() {
        let e = compile(json!({"type": "string", "pattern": "^a+$"})).unwrap_err();
        assert!(e.reason.contains("pattern"), "{e}");
        let e = compile(
            json!({"type": "object", "properties": {"a": {"type": "number", "multipleOf": 2}}}),
        )
        .unwrap_err();
        assert_eq!(e.at, "/properties/a");
        assert!(compile(json!({"oneOf": [{"type": "integer"}, {"type": "number"}]})).is_err());
        assert!(compile(json!({"type": "integer", "minimum": 5, "maximum": 4})).is_err());
        assert!(compile(json!({"type": "object", "required": ["x"]})).is_err());
        assert!(compile(json!({"enum": []})).is_err());
    }

    #[test]
    fn shortest_completions() {
        let g = compile(json!({
            "type": "object",
            "properties": {"city": {"type": "string", "minLength": 2}, "n": {"type": "integer", "minimum": 10}},
            "required": ["city", "n"]
        }))
        .unwrap();
        // {"city": "ab", "n": 10}
        assert_eq!(
            g.min_len[g.root as usize],
            r#"{"city": "ab", "n": 10}"#.len()
        );
        assert_eq!(int_min_len(-5, -3), 2);
        assert_eq!(int_min_len(-5, 3), 1);
        assert_eq!(int_min_len(120, 900), 3);
        let g = compile(json!({"$defs": {"t": {"type": "array", "items": {"$ref": "#/$defs/t"}}}, "$ref": "#/$defs/t"})).unwrap();
        assert_eq!(g.min_len[g.root as usize], 2);
        let e = compile(json!({"$defs": {"t": {"type": "object", "properties": {"next": {"$ref": "#/$defs/t"}}, "required": ["next"]}}, "$ref": "#/$defs/t"})).unwrap_err();
        assert!(e.reason.contains("finite"), "{e}");
    }
}
