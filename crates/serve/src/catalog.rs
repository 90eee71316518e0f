//! Which model ids and voice names the server accepts, and what they map to.
//!
//! * Model ids: the engine's served name, a date-stamped snapshot id
//!   (`<served>-YYYY-MM-DD` from the checkpoint's date), and the configured
//!   aliases. Responses always name the snapshot id, as OpenAI's do.
//! * Voices: the model's own voice names (case-insensitive), and OpenAI's
//!   built-in names mapped onto them — by default spread over the model's
//!   voices in order, overridable per name in `[voices]`.

use std::collections::BTreeMap;

use omnivox_runtime::api::ModelInfo;

use crate::api_error::ApiError;
use crate::wire::unions::Voice;

/// OpenAI's built-in voice names, in the order the default mapping uses.
pub const OPENAI_VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
    "marin", "cedar",
];

/// The accepted model ids.
#[derive(Debug, Clone)]
pub struct ModelCatalog {
    /// `<served>-YYYY-MM-DD`.
    pub snapshot: String,
    /// Every accepted id, in listing order: served name, snapshot, aliases.
    pub ids: Vec<String>,
}

impl ModelCatalog {
    pub fn new(info: &ModelInfo, aliases: &[String]) -> Self {
        let snapshot = format!("{}-{}", info.served_name, utc_date(info.created));
        let mut ids = vec![info.served_name.clone(), snapshot.clone()];
        for alias in aliases {
            if !ids.contains(alias) {
                ids.push(alias.clone());
            }
        }
        Self { snapshot, ids }
    }

    /// Checks a request's `model`; 404 `model_not_found` when unknown.
    pub fn resolve(&self, model: &str) -> Result<&str, ApiError> {
        if self.ids.iter().any(|id| id == model) {
            Ok(&self.snapshot)
        } else {
            Err(ApiError::model_not_found(model))
        }
    }
}

/// Maps request voices to the engine's.
#[derive(Debug, Clone)]
pub struct VoiceResolver {
    /// The engine's voice names.
    engine: Vec<String>,
    /// API name (lowercase) → engine name.
    aliases: BTreeMap<String, String>,
}

impl VoiceResolver {
    /// The default mapping, then `overrides` (API name → engine voice).
    /// Overrides naming a voice the model lacks are ignored with a warning.
    pub fn new(info: &ModelInfo, overrides: &BTreeMap<String, String>) -> Self {
        let engine: Vec<String> = info.voices.iter().map(|v| v.name.clone()).collect();
        let mut aliases = BTreeMap::new();
        if !info.voice_aliases.is_empty() {
            // The engine's own table (documented with the runtime's voices).
            aliases.extend(info.voice_aliases.clone());
        } else if !engine.is_empty() {
            for (i, name) in OPENAI_VOICES.iter().enumerate() {
                aliases.insert((*name).to_owned(), engine[i % engine.len()].clone());
            }
        }
        for (api, target) in overrides {
            match engine.iter().find(|e| e.eq_ignore_ascii_case(target)) {
                Some(e) => {
                    aliases.insert(api.to_ascii_lowercase(), e.clone());
                }
                None => tracing::warn!(
                    voice = %api, target = %target,
                    "[voices] maps to a voice the model does not have; ignored"
                ),
            }
        }
        Self { engine, aliases }
    }

    /// Whether the model can speak at all.
    pub fn can_speak(&self) -> bool {
        !self.engine.is_empty()
    }

    /// The engine voice for a request's `voice`; 400 naming `param` when it
    /// is unknown.
    pub fn resolve(&self, voice: &Voice, param: &str) -> Result<String, ApiError> {
        let name = match voice {
            Voice::Name(name) => name,
            Voice::Custom(custom) => {
                return Err(ApiError::invalid(
                    param,
                    format!(
                        "Custom voice '{}' is not available: this server has no custom voices. Use one of: {}.",
                        custom.id,
                        self.names().join(", ")
                    ),
                ));
            }
        };
        if let Some(e) = self.engine.iter().find(|e| e.eq_ignore_ascii_case(name)) {
            return Ok(e.clone());
        }
        if let Some(e) = self.aliases.get(&name.to_ascii_lowercase()) {
            return Ok(e.clone());
        }
        let names = self.names();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        Err(ApiError::unsupported_value(param, name, &refs))
    }

    /// Every accepted name: API names, then the model's own.
    pub fn names(&self) -> Vec<String> {
        self.aliases
            .keys()
            .cloned()
            .chain(self.engine.iter().cloned())
            .collect()
    }

    /// API name → engine voice, for docs and logs.
    pub fn mapping(&self) -> &BTreeMap<String, String> {
        &self.aliases
    }
}

/// `YYYY-MM-DD` (UTC) of Unix seconds.
pub fn utc_date(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_gnu_date() {
        // Reference values from `date -u -d @SECS +%F`.
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_727_740_800), "2024-10-01");
        assert_eq!(utc_date(1_767_225_599), "2025-12-31");
        assert_eq!(utc_date(4_107_542_400), "2100-03-01");
    }
}
