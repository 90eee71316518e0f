//! JSON Schema → grammar nodes: the [`Builder`], keyword by keyword.

use super::*;
use serde_json::{Map, Value};

/// Builds grammars node by node.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    nodes: Vec<Node>,
    /// `$ref` target → its node, so recursive schemas close into cycles.
    refs: std::collections::HashMap<String, NodeId>,
    /// `any[d]`: any JSON value nested at most `d` deep.
    any: Vec<NodeId>,
}

/// Keywords that only annotate and never constrain.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "format",
    "$schema",
    "$id",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
    "strict",
    "contentMediaType",
    "contentEncoding",
];

impl Builder {
    /// Any one of `alts`: a single alternative is itself, no node added.
    pub fn any_of(&mut self, alts: Vec<NodeId>) -> Result<NodeId, SchemaError> {
        match alts.as_slice() {
            [one] => Ok(*one),
            _ => self.add(Node::Alt(alts)),
        }
    }

    pub fn add(&mut self, node: Node) -> Result<NodeId, SchemaError> {
        if self.nodes.len() >= MAX_NODES {
            return Err(SchemaError {
                at: String::new(),
                reason: format!("the schema is too large (over {MAX_NODES} grammar nodes)"),
            });
        }
        self.nodes.push(node);
        Ok((self.nodes.len() - 1) as NodeId)
    }

    pub fn lit(&mut self, bytes: &[u8]) -> Result<NodeId, SchemaError> {
        self.add(Node::Lit(bytes.to_vec()))
    }

    /// Finishes with `root`, computing shortest completions; a grammar
    /// with no finite document (a required recursion) is refused.
    pub fn finish(self, root: NodeId) -> Result<Grammar, SchemaError> {
        let min_len = min_lengths(&self.nodes);
        if let Some(at) = left_recursion(&self.nodes) {
            return Err(SchemaError {
                at: String::new(),
                reason: format!("the schema refers to itself before any value starts (node {at})"),
            });
        }
        if min_len[root as usize] >= UNKNOWN {
            return Err(SchemaError {
                at: String::new(),
                reason: "the schema admits no finite value (a required recursion)".into(),
            });
        }
        Ok(Grammar {
            nodes: self.nodes,
            root,
            min_len,
        })
    }

    /// Any JSON value (nested at most a few levels deep).
    pub fn any(&mut self) -> Result<NodeId, SchemaError> {
        self.any_at(ANY_DEPTH)
    }

    fn any_at(&mut self, depth: u8) -> Result<NodeId, SchemaError> {
        if let Some(&id) = self.any.get(depth as usize) {
            return Ok(id);
        }
        let string = self.add(Node::Str { min: 0, max: None })?;
        let mut alts = vec![
            string,
            self.add(Node::Num)?,
            self.lit(b"true")?,
            self.lit(b"false")?,
            self.lit(b"null")?,
        ];
        if depth > 0 {
            let inner = self.any_at(depth - 1)?;
            let key = self.add(Node::Str { min: 0, max: None })?;
            alts.push(self.add(Node::Obj {
                props: Vec::new(),
                free: Some((key, inner)),
            })?);
            alts.push(self.add(Node::Arr {
                items: inner,
                min: 0,
                max: None,
            })?);
        }
        let id = self.add(Node::Alt(alts))?;
        // Filled bottom-up, so `any[d]` lands at index `d`.
        self.any.push(id);
        Ok(id)
    }

    /// Compiles `schema` (whose document root is `root`, for `$ref`).
    pub fn schema(&mut self, schema: &Value, root: &Value) -> Result<NodeId, SchemaError> {
        self.compile(schema, root, "", 0)
    }

    fn compile(
        &mut self,
        schema: &Value,
        root: &Value,
        at: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        let err = |reason: String| SchemaError {
            at: at.to_owned(),
            reason,
        };
        if depth > MAX_DEPTH {
            return Err(err(format!("the schema nests deeper than {MAX_DEPTH}")));
        }
        let obj = match schema {
            Value::Bool(true) => return self.any(),
            Value::Bool(false) => return Err(err("`false` admits no value".into())),
            Value::Object(o) => o,
            _ => return Err(err("a schema must be an object or a boolean".into())),
        };
        if let Some(r) = obj.get("$ref") {
            let key = r.to_string();
            if let Some(&id) = self.refs.get(&key) {
                return Ok(id);
            }
            let target =
                resolve_ref(r, root).ok_or_else(|| err(format!("cannot resolve `$ref` {r}")))?;
            // Reserve the node first so that a reference back to it closes a cycle.
            let id = self.add(Node::Alt(Vec::new()))?;
            self.refs.insert(key, id);
            let body = self.compile(target, root, &format!("{at}/$ref"), depth + 1)?;
            self.nodes[id as usize] = Node::Alt(vec![body]);
            return Ok(id);
        }
        for key in obj.keys() {
            let known = ANNOTATIONS.contains(&key.as_str())
                || matches!(
                    key.as_str(),
                    "type"
                        | "enum"
                        | "const"
                        | "anyOf"
                        | "oneOf"
                        | "allOf"
                        | "properties"
                        | "required"
                        | "additionalProperties"
                        | "items"
                        | "minItems"
                        | "maxItems"
                        | "minLength"
                        | "maxLength"
                        | "minimum"
                        | "maximum"
                        | "exclusiveMinimum"
                        | "exclusiveMaximum"
                        | "$defs"
                        | "definitions"
                        | "nullable"
                );
            if !known {
                return Err(err(format!(
                    "the keyword `{key}` is not supported in a constrained tool call"
                )));
            }
        }
        if let Some(c) = obj.get("const") {
            return self.literals(std::slice::from_ref(c), at);
        }
        if let Some(e) = obj.get("enum") {
            let values = e
                .as_array()
                .ok_or_else(|| err("`enum` must be an array".into()))?;
            return self.literals(values, at);
        }
        if let Some(all) = obj.get("allOf") {
            return match all.as_array().map(Vec::as_slice) {
                Some([one]) => self.compile(one, root, &format!("{at}/allOf/0"), depth + 1),
                _ => Err(err("`allOf` is supported with exactly one member".into())),
            };
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = obj.get(key) {
                return self.branches(key, branches, root, at, depth);
            }
        }
        let types = types_of(obj).map_err(&err)?;
        let mut alts = Vec::with_capacity(types.len());
        for t in &types {
            alts.push(self.typed(t, obj, root, at, depth)?);
        }
        self.any_of(alts)
    }

    fn branches(
        &mut self,
        key: &str,
        v: &Value,
        root: &Value,
        at: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        let err = |reason: String| SchemaError {
            at: at.to_owned(),
            reason,
        };
        let list = v
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| err(format!("`{key}` must be a non-empty array")))?;
        if key == "oneOf" {
            // Exactly one branch must hold: only when the branches cannot overlap.
            let mut seen = Vec::new();
            for b in list {
                let t = b.get("type").and_then(Value::as_str).ok_or_else(|| {
                    err(
                        "`oneOf` is supported when every branch has a single, distinct `type`"
                            .into(),
                    )
                })?;
                if seen.contains(&t)
                    || (t == "integer" && seen.contains(&"number"))
                    || (t == "number" && seen.contains(&"integer"))
                {
                    return Err(err(
                        "`oneOf` branches of overlapping types are not supported".into(),
                    ));
                }
                seen.push(t);
            }
        }
        let mut alts = Vec::with_capacity(list.len());
        for (i, b) in list.iter().enumerate() {
            alts.push(self.compile(b, root, &format!("{at}/{key}/{i}"), depth + 1)?);
        }
        self.add(Node::Alt(alts))
    }

    fn literals(&mut self, values: &[Value], at: &str) -> Result<NodeId, SchemaError> {
        if values.is_empty() {
            return Err(SchemaError {
                at: at.to_owned(),
                reason: "an empty `enum` admits no value".into(),
            });
        }
        let mut alts = Vec::with_capacity(values.len());
        for v in values {
            let text = serde_json::to_string(v).map_err(|e| SchemaError {
                at: at.to_owned(),
                reason: e.to_string(),
            })?;
            alts.push(self.lit(text.as_bytes())?);
        }
        self.any_of(alts)
    }

    fn typed(
        &mut self,
        t: &str,
        obj: &Map<String, Value>,
        root: &Value,
        at: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        let err = |reason: String| SchemaError {
            at: at.to_owned(),
            reason,
        };
        match t {
            "string" => {
                let min = count(obj, "minLength").map_err(&err)?.unwrap_or(0);
                let max = count(obj, "maxLength").map_err(&err)?;
                if max.is_some_and(|m| m < min) {
                    return Err(err("`maxLength` is below `minLength`".into()));
                }
                self.add(Node::Str { min, max })
            }
            "integer" | "number" => self.number(t, obj, at),
            "boolean" => {
                let (a, b) = (self.lit(b"true")?, self.lit(b"false")?);
                self.add(Node::Alt(vec![a, b]))
            }
            "null" => self.lit(b"null"),
            "array" => {
                let items = match obj.get("items") {
                    None => self.any()?,
                    Some(s) => self.compile(s, root, &format!("{at}/items"), depth + 1)?,
                };
                let min = count(obj, "minItems").map_err(&err)?.unwrap_or(0);
                let max = count(obj, "maxItems").map_err(&err)?;
                if max.is_some_and(|m| m < min) {
                    return Err(err("`maxItems` is below `minItems`".into()));
                }
                self.add(Node::Arr { items, min, max })
            }
            "object" => self.object(obj, root, at, depth),
            other => Err(err(format!("unknown type `{other}`"))),
        }
    }

    fn number(
        &mut self,
        t: &str,
        obj: &Map<String, Value>,
        at: &str,
    ) -> Result<NodeId, SchemaError> {
        let err = |reason: String| SchemaError {
            at: at.to_owned(),
            reason,
        };
        let bound = |k: &str| {
            obj.get(k)
                .map(|v| {
                    v.as_f64()
                        .ok_or_else(|| err(format!("`{k}` must be a number")))
                })
                .transpose()
        };
        let (min, max) = (bound("minimum")?, bound("maximum")?);
        let (xmin, xmax) = (bound("exclusiveMinimum")?, bound("exclusiveMaximum")?);
        if t == "number" && min.is_none() && max.is_none() && xmin.is_none() && xmax.is_none() {
            return self.add(Node::Num);
        }
        let mut lo = -MAX_INT;
        let mut hi = MAX_INT;
        if let Some(m) = min {
            lo = lo.max(clamp_int(m.ceil()));
        }
        if let Some(m) = xmin {
            lo = lo.max(clamp_int(m.floor()) + 1);
        }
        if let Some(m) = max {
            hi = hi.min(clamp_int(m.floor()));
        }
        if let Some(m) = xmax {
            hi = hi.min(clamp_int(m.ceil()) - 1);
        }
        if lo > hi {
            return Err(err("the bounds admit no integer".into()));
        }
        self.add(Node::Int { lo, hi })
    }

    fn object(
        &mut self,
        obj: &Map<String, Value>,
        root: &Value,
        at: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        let err = |reason: String| SchemaError {
            at: at.to_owned(),
            reason,
        };
        let required: Vec<&str> = match obj.get("required") {
            None => Vec::new(),
            Some(Value::Array(r)) => r
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| err("`required` must list strings".into()))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(err("`required` must be an array".into())),
        };
        let empty = Map::new();
        let props_schema = match obj.get("properties") {
            None => &empty,
            Some(Value::Object(p)) => p,
            Some(_) => return Err(err("`properties` must be an object".into())),
        };
        if let Some(missing) = required.iter().find(|r| !props_schema.contains_key(**r)) {
            return Err(err(format!(
                "required property `{missing}` is not declared in `properties`"
            )));
        }
        let additional = obj.get("additionalProperties");
        if props_schema.is_empty() {
            let value = match additional {
                Some(Value::Bool(false)) => None,
                None | Some(Value::Bool(true)) => Some(self.any()?),
                Some(s) => {
                    Some(self.compile(s, root, &format!("{at}/additionalProperties"), depth + 1)?)
                }
            };
            let free = match value {
                Some(v) => Some((self.add(Node::Str { min: 0, max: None })?, v)),
                None => None,
            };
            return self.add(Node::Obj {
                props: Vec::new(),
                free,
            });
        }
        let mut props = Vec::with_capacity(props_schema.len());
        for (key, s) in props_schema {
            let value = self.compile(s, root, &format!("{at}/properties/{key}"), depth + 1)?;
            let key_json = serde_json::to_string(key).map_err(|e| err(e.to_string()))?;
            props.push(Prop {
                key: key_json.into_bytes(),
                value,
                required: required.contains(&key.as_str()),
            });
        }
        self.add(Node::Obj { props, free: None })
    }
}

fn clamp_int(x: f64) -> i128 {
    if x.is_nan() {
        0
    } else {
        (x.clamp(-(MAX_INT as f64) - 1.0, MAX_INT as f64 + 1.0)) as i128
    }
}

fn count(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, String> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a non-negative integer")),
    }
}

/// The types a schema admits: its `type` (one or a list), else every type.
fn types_of(obj: &Map<String, Value>) -> Result<Vec<String>, String> {
    let mut types: Vec<String> = match obj.get("type") {
        None => {
            // Untyped: infer from the keywords, else anything.
            if obj.contains_key("properties") || obj.contains_key("additionalProperties") {
                vec!["object".into()]
            } else if obj.contains_key("items") {
                vec!["array".into()]
            } else {
                ["object", "array", "string", "number", "boolean", "null"]
                    .map(String::from)
                    .to_vec()
            }
        }
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .map(|t| {
                t.as_str()
                    .map(String::from)
                    .ok_or_else(|| "`type` must list strings".to_owned())
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`type` must be a string or a list of strings".into()),
    };
    if obj.get("nullable") == Some(&Value::Bool(true)) && !types.iter().any(|t| t == "null") {
        types.push("null".into());
    }
    if types.iter().any(|t| t == "number") {
        types.retain(|t| t != "integer");
    }
    if types.is_empty() {
        return Err("`type` lists no type".into());
    }
    Ok(types)
}

fn resolve_ref<'a>(r: &Value, root: &'a Value) -> Option<&'a Value> {
    let path = r.as_str()?.strip_prefix('#')?;
    if path.is_empty() {
        return Some(root);
    }
    root.pointer(path)
}
