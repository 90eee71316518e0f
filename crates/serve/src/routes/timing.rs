//! Latency metrics measured from the events a handler consumes: time to
//! first token, time to first audio, inter-token latency; token counts from
//! `Usage`.

use std::time::Instant;

use omnivox_runtime::api::Event;

use crate::state::AppState;

/// Watches one request's events.
#[derive(Debug)]
pub struct Timing {
    state: AppState,
    start: Instant,
    first_token: bool,
    first_audio: bool,
    last_token: Option<Instant>,
}

impl Timing {
    /// Starts the clock (call when the request arrives).
    pub fn start(state: AppState, start: Instant) -> Self {
        Self {
            state,
            start,
            first_token: false,
            first_audio: false,
            last_token: None,
        }
    }

    /// Records what `event` tells about latency and usage.
    pub fn observe(&mut self, event: &Event) {
        let now = Instant::now();
        let metrics = self.state.metrics();
        match event {
            Event::TextDelta(_) | Event::ToolCallDelta(_) => {
                if !self.first_token {
                    self.first_token = true;
                    metrics.ttft.observe(now - self.start);
                }
                if let Some(last) = self.last_token {
                    metrics.itl.observe(now - last);
                }
                self.last_token = Some(now);
            }
            Event::AudioChunk(_) if !self.first_audio => {
                self.first_audio = true;
                metrics.ttfa.observe(now - self.start);
            }
            Event::Usage(usage) => metrics.add_usage(usage),
            Event::Finished(_) => metrics.count_request(true),
            Event::Error(_) => metrics.count_request(false),
            _ => {}
        }
    }
}
