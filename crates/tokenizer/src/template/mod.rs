//! Chat templates rendered with minijinja exactly as transformers'
//! `apply_chat_template` renders them.
//!
//! - [`ChatTemplates::from_dir`] finds a checkpoint's templates where
//!   transformers looks, in its precedence order, for a tokenizer or for a
//!   processor ([`TemplateOwner`]).
//! - [`ChatTemplate::render`] prepares messages, tools and flags as
//!   transformers does (see `input`) and renders them in an environment
//!   configured like transformers' sandbox (see `env`), with Python's
//!   `json.dumps` behind `tojson` and Python's `str()` behind `{{ … }}`
//!   (see `pyfmt`).
//!
//! Known difference: minijinja's `~` operator and `|string` filter spell
//! booleans and none as `true`/`none` where Python writes `True`/`None`;
//! `{{ value }}` and `tojson` match Python.

mod env;
mod input;
mod pyfmt;

pub use input::ChatInput;

use crate::error::{Error, Result, read_json, read_to_string};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Whose loading rules to follow: a tokenizer's `from_pretrained` and a
/// processor's `from_pretrained` look in different files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateOwner {
    /// `chat_template.jinja` (+ `additional_chat_templates/*.jinja`), else
    /// `tokenizer_config.json`'s `chat_template` (a string or a list of
    /// named templates).
    Tokenizer,
    /// `processor_config.json`'s `chat_template`, else the legacy
    /// `chat_template.json`, else `chat_template.jinja` (+
    /// `additional_chat_templates/*.jinja`).
    Processor,
}

/// One compiled chat template.
pub struct ChatTemplate {
    source: String,
    env: minijinja::Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source_len", &self.source.len())
            .finish()
    }
}

const NAME: &str = "chat_template";

impl ChatTemplate {
    /// Compiles a template; a syntax error is [`Error::TemplateSyntax`].
    pub fn new(source: impl Into<String>) -> Result<Self> {
        let source = source.into();
        let mut env = env::environment();
        env.add_template_owned(NAME, source.clone())
            .map_err(|e| Error::TemplateSyntax(e.to_string()))?;
        Ok(Self { source, env })
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template. `special_tokens` are the tokenizer's named
    /// special tokens (`bos_token`, `eos_token`, …), which transformers
    /// passes as template variables; `input.kwargs` override them.
    pub fn render(
        &self,
        input: &ChatInput<'_>,
        special_tokens: &BTreeMap<String, String>,
    ) -> Result<String> {
        if input.sanitize_control_tokens {
            return Err(Error::InvalidChatInput(
                "sanitize_control_tokens needs tokenization: use Tokenizer::apply_chat_template"
                    .into(),
            ));
        }
        self.render_unchecked(input, special_tokens)
    }

    /// Renders without looking at `sanitize_control_tokens` (the caller has
    /// marked the input).
    pub(crate) fn render_unchecked(
        &self,
        input: &ChatInput<'_>,
        special_tokens: &BTreeMap<String, String>,
    ) -> Result<String> {
        let ctx = input::context(input, special_tokens)?;
        let tmpl = self
            .env
            .get_template(NAME)
            .map_err(|e| Error::TemplateRender(e.to_string()))?;
        tmpl.render(ctx).map_err(render_error)
    }
}

/// `raise_exception` becomes [`Error::TemplateRaised`] with the template's
/// message; everything else [`Error::TemplateRender`] with minijinja's
/// description (which names the line).
fn render_error(e: minijinja::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(raised) = s.downcast_ref::<env::Raised>() {
            return Error::TemplateRaised(raised.0.clone());
        }
        source = s.source();
    }
    Error::TemplateRender(e.to_string())
}

/// A checkpoint's chat templates: one, or several by name.
#[derive(Debug)]
pub struct ChatTemplates {
    /// `true` when the checkpoint has a single unnamed template.
    single: bool,
    templates: BTreeMap<String, ChatTemplate>,
}

impl ChatTemplates {
    /// A single unnamed template.
    pub fn single(source: impl Into<String>) -> Result<Self> {
        let mut templates = BTreeMap::new();
        templates.insert("default".to_owned(), ChatTemplate::new(source)?);
        Ok(Self {
            single: true,
            templates,
        })
    }

    /// Named templates (`default`, `tool_use`, …).
    pub fn named(named: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut templates = BTreeMap::new();
        for (name, source) in named {
            templates.insert(name, ChatTemplate::new(source)?);
        }
        Ok(Self {
            single: false,
            templates,
        })
    }

    /// Loads the templates of a checkpoint directory the way `owner`'s
    /// `from_pretrained` does; `Ok(None)` when there are none.
    pub fn from_dir(dir: &Path, owner: TemplateOwner) -> Result<Option<Self>> {
        let found = match owner {
            TemplateOwner::Tokenizer => tokenizer_sources(dir)?,
            TemplateOwner::Processor => processor_sources(dir)?,
        };
        found.map(Self::from_sources).transpose()
    }

    fn from_sources(mut named: BTreeMap<String, String>) -> Result<Self> {
        if named.len() == 1
            && let Some(source) = named.remove("default")
        {
            return Self::single(source);
        }
        Self::named(named)
    }

    /// The names of the templates (`["default"]` for a single one).
    pub fn names(&self) -> Vec<String> {
        self.templates.keys().cloned().collect()
    }

    /// A template by name.
    pub fn get(&self, name: &str) -> Result<&ChatTemplate> {
        self.templates.get(name).ok_or_else(|| self.not_found(name))
    }

    /// The template a tokenizer's `apply_chat_template` picks when none is
    /// named: the only one; else `tool_use` when tools are given and it
    /// exists; else `default`.
    pub fn for_tokenizer(&self, with_tools: bool) -> Result<&ChatTemplate> {
        if !self.single
            && with_tools
            && let Some(t) = self.templates.get("tool_use")
        {
            return Ok(t);
        }
        self.get("default")
    }

    /// The template a processor's `apply_chat_template` picks when none is
    /// named: the only one, else `default` (tools play no part).
    pub fn for_processor(&self) -> Result<&ChatTemplate> {
        self.get("default")
    }

    fn not_found(&self, name: &str) -> Error {
        Error::TemplateNotFound {
            wanted: name.to_owned(),
            available: self.names(),
        }
    }
}

/// `chat_template.jinja` as `default` plus
/// `additional_chat_templates/<name>.jinja`; `None` when neither exists.
fn jinja_files(dir: &Path) -> Result<Option<BTreeMap<String, String>>> {
    let mut named = BTreeMap::new();
    let extra = dir.join("additional_chat_templates");
    if extra.is_dir() {
        let entries = std::fs::read_dir(&extra).map_err(|source| Error::Io {
            path: extra.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(stem) = name.strip_suffix(".jinja") {
                named.insert(stem.to_owned(), read_to_string(&path)?);
            }
        }
    }
    let main = dir.join("chat_template.jinja");
    if main.is_file() {
        named.insert("default".to_owned(), read_to_string(&main)?);
    }
    Ok((!named.is_empty()).then_some(named))
}

fn tokenizer_sources(dir: &Path) -> Result<Option<BTreeMap<String, String>>> {
    if let Some(files) = jinja_files(dir)? {
        return Ok(Some(files));
    }
    let path = dir.join("tokenizer_config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let config: serde_json::Map<String, Value> = read_json(&path)?;
    config_entry(
        config.get("chat_template"),
        "tokenizer_config.json chat_template",
    )
}

fn processor_sources(dir: &Path) -> Result<Option<BTreeMap<String, String>>> {
    let path = dir.join("processor_config.json");
    if path.is_file() {
        let config: serde_json::Map<String, Value> = read_json(&path)?;
        if let Some(found) = config_entry(
            config.get("chat_template"),
            "processor_config.json chat_template",
        )? {
            return Ok(Some(found));
        }
    }
    let legacy = dir.join("chat_template.json");
    if legacy.is_file() {
        if dir.join("additional_chat_templates").is_dir() {
            return Err(Error::Config {
                field: "chat_template.json",
                reason: "a legacy chat_template.json next to additional_chat_templates/ is \
                         ambiguous (transformers refuses it too)"
                    .into(),
            });
        }
        let json: serde_json::Map<String, Value> = read_json(&legacy)?;
        return config_entry(
            json.get("chat_template"),
            "chat_template.json chat_template",
        );
    }
    jinja_files(dir)
}

/// A `chat_template` entry: a string, a list of `{"name", "template"}`, or
/// a `{name: template}` object.
fn config_entry(
    entry: Option<&Value>,
    field: &'static str,
) -> Result<Option<BTreeMap<String, String>>> {
    let bad = |reason: &str| Error::Config {
        field,
        reason: reason.to_owned(),
    };
    let mut named = BTreeMap::new();
    match entry {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => {
            named.insert("default".to_owned(), s.clone());
        }
        Some(Value::Array(items)) => {
            for item in items {
                let name = item.get("name").and_then(Value::as_str);
                let template = item.get("template").and_then(Value::as_str);
                match (name, template) {
                    (Some(n), Some(t)) => {
                        named.insert(n.to_owned(), t.to_owned());
                    }
                    _ => return Err(bad("list items need string `name` and `template`")),
                }
            }
        }
        Some(Value::Object(map)) => {
            for (name, t) in map {
                let t = t.as_str().ok_or_else(|| bad("templates must be strings"))?;
                named.insert(name.clone(), t.to_owned());
            }
        }
        Some(_) => return Err(bad("expected a string or a list of named templates")),
    }
    Ok(Some(named))
}
