//! The two ends of one request's events: the engine thread's [`Emitter`]
//! and the consumer's [`EventStream`](crate::api::EventStream).
//!
//! The channel is unbounded, but never grows without bound: the emitter
//! counts what the consumer has not read yet, and the scheduler stops
//! stepping a sequence whose backlog reaches the configured limit until the
//! consumer catches up. Dropping the stream closes the channel, which the
//! engine sees at its next step (cancellation).

use crate::api::{Event, EventStream};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The engine's end.
#[derive(Debug)]
pub(crate) struct Emitter {
    tx: mpsc::UnboundedSender<Event>,
    backlog: Arc<AtomicUsize>,
}

/// A pair of ends.
pub(crate) fn channel() -> (Emitter, EventStream) {
    let (tx, rx) = mpsc::unbounded_channel();
    let backlog = Arc::new(AtomicUsize::new(0));
    let stream = Receiver {
        rx,
        backlog: Arc::clone(&backlog),
    };
    (Emitter { tx, backlog }, Box::pin(stream))
}

impl Emitter {
    /// Sends an event; `false` when the consumer is gone.
    pub fn send(&self, event: Event) -> bool {
        self.backlog.fetch_add(1, Ordering::Relaxed);
        self.tx.send(event).is_ok()
    }

    /// Whether the consumer dropped its stream.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Events sent and not read yet.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }
}

struct Receiver {
    rx: mpsc::UnboundedReceiver<Event>,
    backlog: Arc<AtomicUsize>,
}

impl futures_core::Stream for Receiver {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(_)) = &polled {
            self.backlog.fetch_sub(1, Ordering::Relaxed);
        }
        polled
    }
}
