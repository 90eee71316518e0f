//! Request fields that take one of two JSON shapes (a string or an
//! object/array). Each has its own `Deserialize` that dispatches on the JSON
//! type, so a wrong value is reported at its own path with a message that
//! says what was expected (serde's `untagged` would only say "did not match
//! any variant"). `Serialize` is derived `untagged`, which is also what the
//! OpenAPI document shows.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::chat_request::ContentPartParam;

/// A message's content: a string, or an array of parts.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPartParam>),
}

/// `stop`: one string or up to 4.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum StopSequences {
    One(String),
    Many(Vec<String>),
}

/// `tool_choice`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ToolChoiceParam {
    /// `none`, `auto` or `required`.
    Mode(String),
    /// `{"type":"function","function":{"name":…}}`.
    Named(NamedToolChoice),
}

/// A named tool choice.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct NamedToolChoice {
    /// `function` (other kinds are not supported).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub function: Option<FunctionName>,
}

/// `{"name": …}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct FunctionName {
    pub name: String,
}

/// Legacy `function_call`: `none`, `auto`, or `{"name": …}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum FunctionCallChoice {
    Mode(String),
    Named(FunctionName),
}

/// A voice: a name, or `{"id": …}` for a custom voice.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Voice {
    Name(String),
    Custom(CustomVoice),
}

/// `{"id": "voice_…"}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CustomVoice {
    pub id: String,
}

/// What a two-shaped field held.
enum Shape<A, B> {
    Str(String),
    Other(A),
    Seq(B),
}

/// Accepts a string, plus a map (as `A`) and/or a sequence (as `B`).
struct ShapeVisitor<A, B> {
    expecting: &'static str,
    map: bool,
    seq: bool,
    _marker: PhantomData<(A, B)>,
}

impl<A, B> ShapeVisitor<A, B> {
    fn new(expecting: &'static str, map: bool, seq: bool) -> Self {
        Self {
            expecting,
            map,
            seq,
            _marker: PhantomData,
        }
    }
}

impl<'de, A: Deserialize<'de>, B: Deserialize<'de>> Visitor<'de> for ShapeVisitor<A, B> {
    type Value = Shape<A, B>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Shape::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Shape::Str(v))
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        if !self.map {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        A::deserialize(MapAccessDeserializer::new(map)).map(Shape::Other)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Self::Value, S::Error> {
        if !self.seq {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        B::deserialize(SeqAccessDeserializer::new(seq)).map(Shape::Seq)
    }
}

/// A type no JSON value deserializes into (for the unused arm of a shape).
enum Never {}

impl<'de> Deserialize<'de> for Never {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom("unreachable shape"))
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = ShapeVisitor::<Never, Vec<ContentPartParam>>::new(
            "a string or an array of content parts",
            false,
            true,
        );
        Ok(match d.deserialize_any(v)? {
            Shape::Str(s) => Self::Text(s),
            Shape::Seq(parts) => Self::Parts(parts),
            Shape::Other(never) => match never {},
        })
    }
}

impl<'de> Deserialize<'de> for StopSequences {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v =
            ShapeVisitor::<Never, Vec<String>>::new("a string or an array of strings", false, true);
        Ok(match d.deserialize_any(v)? {
            Shape::Str(s) => Self::One(s),
            Shape::Seq(many) => Self::Many(many),
            Shape::Other(never) => match never {},
        })
    }
}

impl<'de> Deserialize<'de> for ToolChoiceParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = ShapeVisitor::<NamedToolChoice, Never>::new(
            "`none`, `auto`, `required` or {\"type\":\"function\",\"function\":{\"name\":…}}",
            true,
            false,
        );
        Ok(match d.deserialize_any(v)? {
            Shape::Str(s) => Self::Mode(s),
            Shape::Other(named) => Self::Named(named),
            Shape::Seq(never) => match never {},
        })
    }
}

impl<'de> Deserialize<'de> for FunctionCallChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v =
            ShapeVisitor::<FunctionName, Never>::new("`none`, `auto` or {\"name\":…}", true, false);
        Ok(match d.deserialize_any(v)? {
            Shape::Str(s) => Self::Mode(s),
            Shape::Other(named) => Self::Named(named),
            Shape::Seq(never) => match never {},
        })
    }
}

impl<'de> Deserialize<'de> for Voice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = ShapeVisitor::<CustomVoice, Never>::new("a voice name or {\"id\":…}", true, false);
        Ok(match d.deserialize_any(v)? {
            Shape::Str(s) => Self::Name(s),
            Shape::Other(custom) => Self::Custom(custom),
            Shape::Seq(never) => match never {},
        })
    }
}

/// Marks a path relative to where an error is reported, inside the error's
/// message: `\u{1}input_audio.data\u{1}missing field …`. Tagged enums must
/// buffer their object, which loses serde_path_to_error's path; `extract`
/// reads the mark back and names the full parameter.
pub const PATH_MARK: char = '\u{1}';

/// Splits a marked message into (relative path, message).
pub fn split_mark(msg: &str) -> Option<(&str, &str)> {
    let rest = msg.strip_prefix(PATH_MARK)?;
    rest.split_once(PATH_MARK)
}

/// Joins two paths as serde_path_to_error prints them.
pub fn join_path(outer: &str, inner: &str) -> String {
    match (outer, inner) {
        ("." | "", i) => i.to_owned(),
        (o, "." | "") => o.to_owned(),
        (o, i) if i.starts_with('[') => format!("{o}{i}"),
        (o, i) => format!("{o}.{i}"),
    }
}

/// Reads an object and its `tag` field (a string).
pub fn tagged<'de, D: Deserializer<'de>>(d: D, tag: &str) -> Result<(String, Value), D::Error> {
    let value = Value::deserialize(d)?;
    let Value::Object(map) = &value else {
        return Err(de::Error::invalid_type(unexpected(&value), &"an object"));
    };
    match map.get(tag) {
        Some(Value::String(s)) => Ok((s.clone(), value)),
        Some(_) => Err(de::Error::custom(format!(
            "{PATH_MARK}{tag}{PATH_MARK}invalid type: expected a string"
        ))),
        None => Err(de::Error::missing_field(leak_tag(tag))),
    }
}

fn leak_tag(tag: &str) -> &'static str {
    match tag {
        "role" => "role",
        "type" => "type",
        _ => "tag",
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("a number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

/// An unknown tag value, reported at the tag's own path.
pub fn unknown_tag<E: de::Error>(tag: &str, value: &str, expected: &[&str]) -> E {
    let list = expected
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ");
    E::custom(format!(
        "{PATH_MARK}{tag}{PATH_MARK}unknown variant `{value}`, expected one of {list}"
    ))
}

/// Deserializes a buffered object, keeping the path of an error inside it.
pub fn from_value<T: DeserializeOwned, E: de::Error>(value: Value) -> Result<T, E> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let (path, msg) = match split_mark(&inner) {
            Some((rel, msg)) => (join_path(&path, rel), msg.to_owned()),
            None => (path, inner),
        };
        if path == "." || path.is_empty() {
            E::custom(msg)
        } else {
            E::custom(format!("{PATH_MARK}{path}{PATH_MARK}{msg}"))
        }
    })
}
