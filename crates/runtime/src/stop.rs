//! Stop sequences matched across token boundaries.
//!
//! OpenAI's `stop`: generation ends *before* the first occurrence of any stop
//! string, which is not part of the output. Tokens rarely line up with the
//! stop strings, so the matcher works on text: it releases everything that
//! can no longer be the start of a stop string and holds back the longest
//! tail that still can, until the next delta decides.

/// What one piece of text does to the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// No stop string seen: this text is final.
    Continue(String),
    /// A stop string starts here: this text precedes it, and generation ends.
    Stopped(String),
}

/// Holds back text that may begin a stop string (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

impl StopMatcher {
    /// A matcher for `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    /// Whether there is nothing to match.
    pub fn is_empty(&self) -> bool {
        self.stops.is_empty()
    }

    /// Feeds generated text.
    pub fn push(&mut self, text: &str) -> StopOutcome {
        if self.stops.is_empty() {
            return StopOutcome::Continue(text.to_owned());
        }
        self.held.push_str(text);
        let first = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first {
            let before = self.held[..at].to_owned();
            self.held.clear();
            return StopOutcome::Stopped(before);
        }
        let keep = self.partial_tail();
        let cut = self.held.len() - keep;
        StopOutcome::Continue(self.held.drain(..cut).collect())
    }

    /// Ends the stream: whatever was held back is output after all.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length in bytes of the longest tail of `held` that is a proper prefix
    /// of some stop string.
    fn partial_tail(&self) -> usize {
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let max = longest.saturating_sub(1).min(self.held.len());
        (1..=max)
            .rev()
            .filter(|&k| self.held.is_char_boundary(self.held.len() - k))
            .find(|&k| {
                let tail = &self.held[self.held.len() - k..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| (*s).to_owned()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = String::new();
        for p in pieces {
            match m.push(p) {
                StopOutcome::Continue(t) => out.push_str(&t),
                StopOutcome::Stopped(t) => {
                    out.push_str(&t);
                    return (out, true);
                }
            }
        }
        out.push_str(&m.finish());
        (out, false)
    }

    #[test]
    fn a_stop_string_split_over_tokens_is_found_and_excluded() {
        assert_eq!(
            run(&["END"], &["Hello E", "N", "D and more"]),
            ("Hello ".into(), true)
        );
        assert_eq!(run(&["\n\n"], &["a\n", "\nb"]), ("a".into(), true));
        // The earliest of several stop strings wins.
        assert_eq!(run(&["yz", "b"], &["axyzb"]), ("ax".into(), true));
    }

    #[test]
    fn held_back_text_is_released_once_it_cannot_match() {
        let stops = vec!["STOP".to_owned()];
        let mut m = StopMatcher::new(&stops);
        assert_eq!(m.push("go ST"), StopOutcome::Continue("go ".into()));
        assert_eq!(m.push("A"), StopOutcome::Continue("STA".into()));
        assert_eq!(m.push("S"), StopOutcome::Continue(String::new()));
        assert_eq!(m.finish(), "S");
        assert_eq!(
            run(&["STOP"], &["no stop here"]),
            ("no stop here".into(), false)
        );
    }

    #[test]
    fn multibyte_text_is_never_split_inside_a_character() {
        assert_eq!(run(&["é!"], &["caf", "é", "?"]), ("café?".into(), false));
        assert_eq!(run(&["é!"], &["café", "!"]), ("caf".into(), true));
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
    }
}
