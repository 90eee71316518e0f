//! The minijinja environment, configured like transformers'
//! `_cached_compile_jinja_template` (`utils/chat_template_utils.py`):
//! an `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
//! extensions=[loopcontrols])` with `tojson`, `raise_exception`,
//! `strftime_now`, `dict` and `namespace`; Python string/dict/list methods
//! come from minijinja-contrib's pycompat, and `{{ value }}` prints what
//! Python's `str(value)` prints.

use super::pyfmt::{self, JsonOptions};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior, Value};
use std::fmt::Write as _;

/// The error a template's `raise_exception(message)` produces; kept as the
/// minijinja error's source so that rendering can report it as
/// [`crate::Error::TemplateRaised`].
#[derive(Debug)]
pub(crate) struct Raised(pub String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// Templates are data from the checkpoint; this bounds runaway recursion
/// (macros calling themselves) well below the stack's limit.
const RECURSION_LIMIT: usize = 200;

/// A fresh environment with transformers' settings and globals.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(false)
        .build()
        .expect("the default delimiters are valid");
    env.set_syntax(syntax);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_formatter(|out, _state, value| {
        let mut s = String::new();
        pyfmt::write_py_str(&mut s, value);
        out.write_str(&s)
            .map_err(|_| Error::new(ErrorKind::WriteFailure, "writing template output"))
    });
    env.add_filter("tojson", tojson);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env
}

/// `raise_exception(message)`: aborts rendering with the template's message.
fn raise_exception(message: Value) -> Result<Value, Error> {
    let text = match message.as_str() {
        Some(s) => s.to_owned(),
        None => message.to_string(),
    };
    Err(Error::new(ErrorKind::InvalidOperation, text.clone()).with_source(Raised(text)))
}

/// `strftime_now(format)`: the local time formatted by a C-style format.
fn strftime_now(format: &str) -> Result<Value, Error> {
    let mut out = String::new();
    write!(out, "{}", chrono::Local::now().format(format)).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("strftime_now: invalid format {format:?}"),
        )
    })?;
    Ok(Value::from(out))
}

/// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`, positional or keyword.
fn tojson(value: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if args.len() > NAMES.len() {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            "tojson takes at most 4 arguments",
        ));
    }
    let mut slots: [Option<Value>; 4] = Default::default();
    for (slot, arg) in slots.iter_mut().zip(args.iter()) {
        *slot = Some(arg.clone());
    }
    for (i, name) in NAMES.iter().enumerate() {
        if let Some(v) = kwargs.get::<Option<Value>>(name)? {
            slots[i] = Some(v);
        }
    }
    kwargs.assert_all_used()?;
    let [ensure_ascii, indent, separators, sort_keys] = slots;
    let mut opts = JsonOptions {
        ensure_ascii: ensure_ascii.is_some_and(|v| v.is_true()),
        sort_keys: sort_keys.is_some_and(|v| v.is_true()),
        ..JsonOptions::default()
    };
    opts.indent = indent.and_then(|v| indent_string(&v)).transpose()?;
    if opts.indent.is_some() {
        opts.item_separator = ",".into();
    }
    if let Some(seps) = separators.filter(|v| !v.is_none()) {
        let parts: Vec<Value> = seps.try_iter()?.collect();
        match parts.as_slice() {
            [a, b] if a.as_str().is_some() && b.as_str().is_some() => {
                opts.item_separator = a.as_str().unwrap_or_default().to_owned();
                opts.key_separator = b.as_str().unwrap_or_default().to_owned();
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "tojson: separators must be two strings",
                ));
            }
        }
    }
    pyfmt::dumps(value, &opts).map(Value::from)
}

/// Python's `indent`: a number of spaces or a string; `None` means one line.
fn indent_string(v: &Value) -> Option<Result<String, Error>> {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => None,
        ValueKind::String => Some(Ok(v.as_str().unwrap_or_default().to_owned())),
        ValueKind::Number if v.is_integer() => {
            let n = v.as_i64().unwrap_or(0).clamp(0, 64) as usize;
            Some(Ok(" ".repeat(n)))
        }
        _ => Some(Err(Error::new(
            ErrorKind::InvalidOperation,
            "tojson: indent must be an integer or a string",
        ))),
    }
}
