//! Voices: the checkpoint's speakers, selectable by name, and OpenAI's voice
//! names mapped onto them.
//!
//! A Qwen3-Omni checkpoint names its speakers in `talker_config.speaker_id`
//! (name → codec id; the 30B-A3B release has `chelsie`, `ethan` and
//! `aiden`). transformers' `generate(speaker=…)` looks the name up
//! lower-cased, so names are case-insensitive here too.
//!
//! OpenAI's voices are aliases. [`OPENAI_VOICES`] is the default table
//! (documented in docs/architecture.md); the operator overrides or extends
//! it with [`VoiceConfig::aliases`]. An alias whose speaker the checkpoint
//! lacks falls back to the default speaker; an override naming a speaker
//! the checkpoint lacks is a configuration error. An unknown voice is
//! [`VoiceError::Unknown`], listing every accepted name.

use std::collections::BTreeMap;

/// OpenAI's voice names and the speaker each maps to by default:
/// voices OpenAI presents as female to `chelsie`, the rest to `ethan` or
/// `aiden` (the two male speakers of the released checkpoint).
pub const OPENAI_VOICES: &[(&str, &str)] = &[
    ("alloy", "chelsie"),
    ("ash", "aiden"),
    ("ballad", "aiden"),
    ("cedar", "ethan"),
    ("coral", "chelsie"),
    ("echo", "ethan"),
    ("fable", "aiden"),
    ("marin", "chelsie"),
    ("nova", "chelsie"),
    ("onyx", "ethan"),
    ("sage", "chelsie"),
    ("shimmer", "chelsie"),
    ("verse", "ethan"),
];

/// The speaker used when a request names none and when a default alias's
/// speaker is missing: transformers' `generate(speaker="Ethan")`.
pub const REFERENCE_DEFAULT_SPEAKER: &str = "ethan";

/// The operator's voice settings: plain data the server's configuration
/// fills.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoiceConfig {
    /// Alias → speaker name, on top of (and overriding) [`OPENAI_VOICES`].
    /// Both sides are case-insensitive.
    pub aliases: BTreeMap<String, String>,
    /// The default speaker; `None` means `ethan` when the checkpoint has
    /// it, else its first speaker in alphabetical order.
    pub default_speaker: Option<String>,
}

/// A resolved voice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voice {
    /// The checkpoint's speaker name (lower case).
    pub speaker: String,
    /// Its codec id.
    pub id: u32,
}

/// A voice that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoiceError {
    /// The requested voice is neither a speaker nor an alias.
    #[error("unknown voice `{voice}`; available voices: {}", available.join(", "))]
    Unknown {
        /// What was asked for.
        voice: String,
        /// Every accepted name (speakers and aliases), sorted.
        available: Vec<String>,
    },
    /// The operator's configuration names a speaker the checkpoint lacks.
    #[error("voice configuration: `{name}` maps to speaker `{speaker}`, which the checkpoint does not have (it has: {})", speakers.join(", "))]
    UnknownSpeaker {
        /// The alias (or `default_speaker`).
        name: String,
        /// The missing speaker.
        speaker: String,
        /// The checkpoint's speakers.
        speakers: Vec<String>,
    },
    /// The checkpoint declares no speakers (`talker_config.speaker_id`).
    #[error("the checkpoint declares no speakers (talker_config.speaker_id is empty)")]
    NoSpeakers,
}

/// Speakers and aliases of one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceTable {
    speakers: BTreeMap<String, u32>,
    aliases: BTreeMap<String, String>,
    default: String,
}

impl VoiceTable {
    /// Builds the table for a checkpoint's `speaker_id` map.
    pub fn new(speaker_id: &BTreeMap<String, u32>, cfg: &VoiceConfig) -> Result<Self, VoiceError> {
        let speakers: BTreeMap<String, u32> = speaker_id
            .iter()
            .map(|(k, &v)| (k.to_lowercase(), v))
            .collect();
        let names = || speakers.keys().cloned().collect::<Vec<_>>();
        let default = match &cfg.default_speaker {
            Some(s) => {
                let s = s.to_lowercase();
                if !speakers.contains_key(&s) {
                    return Err(VoiceError::UnknownSpeaker {
                        name: "default_speaker".into(),
                        speaker: s,
                        speakers: names(),
                    });
                }
                s
            }
            None if speakers.contains_key(REFERENCE_DEFAULT_SPEAKER) => {
                REFERENCE_DEFAULT_SPEAKER.to_string()
            }
            None => speakers
                .keys()
                .next()
                .cloned()
                .ok_or(VoiceError::NoSpeakers)?,
        };
        let mut aliases: BTreeMap<String, String> = OPENAI_VOICES
            .iter()
            .map(|&(alias, speaker)| {
                let target = if speakers.contains_key(speaker) {
                    speaker
                } else {
                    default.as_str()
                };
                (alias.to_string(), target.to_string())
            })
            .collect();
        for (alias, speaker) in &cfg.aliases {
            let speaker = speaker.to_lowercase();
            if !speakers.contains_key(&speaker) {
                return Err(VoiceError::UnknownSpeaker {
                    name: alias.clone(),
                    speaker,
                    speakers: names(),
                });
            }
            aliases.insert(alias.to_lowercase(), speaker);
        }
        // A speaker's own name always means that speaker.
        aliases.retain(|alias, _| !speakers.contains_key(alias));
        Ok(Self {
            speakers,
            aliases,
            default,
        })
    }

    /// Resolves a voice name (a speaker or an alias, any case).
    pub fn resolve(&self, voice: &str) -> Result<Voice, VoiceError> {
        let key = voice.to_lowercase();
        let speaker = self.aliases.get(&key).unwrap_or(&key);
        match self.speakers.get(speaker) {
            Some(&id) => Ok(Voice {
                speaker: speaker.clone(),
                id,
            }),
            None => Err(VoiceError::Unknown {
                voice: voice.to_string(),
                available: self.names(),
            }),
        }
    }

    /// The default voice.
    pub fn default_voice(&self) -> Voice {
        let id = self
            .speakers
            .get(&self.default)
            .copied()
            .unwrap_or_default();
        Voice {
            speaker: self.default.clone(),
            id,
        }
    }

    /// Every accepted name, speakers and aliases, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .speakers
            .keys()
            .chain(self.aliases.keys())
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// The checkpoint's speakers (lower case) and their codec ids.
    pub fn speakers(&self) -> &BTreeMap<String, u32> {
        &self.speakers
    }

    /// The alias table in force (alias → speaker).
    pub fn aliases(&self) -> &BTreeMap<String, String> {
        &self.aliases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn released() -> BTreeMap<String, u32> {
        [("chelsie", 2301), ("ethan", 2302), ("aiden", 2303)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    #[test]
    fn speakers_resolve_case_insensitively() {
        let t = VoiceTable::new(&released(), &VoiceConfig::default()).unwrap();
        assert_eq!(
            t.resolve("Ethan").unwrap(),
            Voice {
                speaker: "ethan".into(),
                id: 2302
            }
        );
        assert_eq!(t.resolve("CHELSIE").unwrap().id, 2301);
        assert_eq!(t.default_voice().speaker, "ethan");
    }

    #[test]
    fn every_openai_voice_maps_to_a_speaker() {
        let t = VoiceTable::new(&released(), &VoiceConfig::default()).unwrap();
        for (alias, speaker) in OPENAI_VOICES {
            assert_eq!(&t.resolve(alias).unwrap().speaker, speaker, "{alias}");
            assert_eq!(t.resolve(&alias.to_uppercase()).unwrap().speaker, *speaker);
        }
    }

    #[test]
    fn unknown_voices_list_what_is_available() {
        let t = VoiceTable::new(&released(), &VoiceConfig::default()).unwrap();
        let VoiceError::Unknown { voice, available } = t.resolve("Morgan").unwrap_err() else {
            panic!("wrong error");
        };
        assert_eq!(voice, "Morgan");
        assert!(
            available.contains(&"alloy".to_string()) && available.contains(&"aiden".to_string())
        );
        assert_eq!(available.len(), 3 + OPENAI_VOICES.len());
        let msg = t.resolve("morgan").unwrap_err().to_string();
        assert!(
            msg.contains("unknown voice `morgan`") && msg.contains("chelsie"),
            "{msg}"
        );
    }

    #[test]
    fn the_operator_overrides_the_table() {
        let cfg = VoiceConfig {
            aliases: [
                ("Alloy".to_string(), "Aiden".to_string()),
                ("narrator".into(), "chelsie".into()),
            ]
            .into(),
            default_speaker: Some("Chelsie".into()),
        };
        let t = VoiceTable::new(&released(), &cfg).unwrap();
        assert_eq!(t.resolve("alloy").unwrap().speaker, "aiden");
        assert_eq!(t.resolve("Narrator").unwrap().speaker, "chelsie");
        assert_eq!(t.default_voice().speaker, "chelsie");
        let bad = VoiceConfig {
            aliases: [("alloy".to_string(), "serena".to_string())].into(),
            ..VoiceConfig::default()
        };
        let err = VoiceTable::new(&released(), &bad).unwrap_err();
        assert!(
            matches!(err, VoiceError::UnknownSpeaker { ref speaker, .. } if speaker == "serena"),
            "{err}"
        );
    }

    #[test]
    fn missing_speakers_fall_back_to_the_default() {
        let one: BTreeMap<String, u32> = [("Tina".to_string(), 7)].into();
        let t = VoiceTable::new(&one, &VoiceConfig::default()).unwrap();
        assert_eq!(
            t.default_voice(),
            Voice {
                speaker: "tina".into(),
                id: 7
            }
        );
        assert_eq!(t.resolve("shimmer").unwrap().speaker, "tina");
        assert_eq!(
            VoiceTable::new(&BTreeMap::new(), &VoiceConfig::default()).unwrap_err(),
            VoiceError::NoSpeakers
        );
    }
}
