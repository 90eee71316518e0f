//! Admission, draining and graceful shutdown.
//!
//! Every `/v1/*` request passes [`admission`]: while draining it is refused
//! with 503; above `limits.max_concurrent_requests` with 429; otherwise it is
//! counted in flight until its response body (a stream, possibly) is done.
//! [`serve`] runs the server until its shutdown future resolves (SIGTERM,
//! Ctrl-C), then drains: `/ready` answers 503, new work is refused, and
//! in-flight requests get up to the grace period to finish.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::api_error::ApiError;
use crate::state::AppState;

/// Draining state and the in-flight count.
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    changed: Notify,
}

/// Counts one request in flight while it lives.
#[derive(Debug)]
pub struct InFlight(Arc<Lifecycle>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

impl Lifecycle {
    /// Whether new work is refused.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Starts refusing new work.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Counts a request in, unless `max` are already in flight.
    fn try_enter(self: &Arc<Self>, max: usize) -> Option<InFlight> {
        let mut current = self.in_flight.load(Ordering::SeqCst);
        loop {
            if current >= max {
                return None;
            }
            match self.in_flight.compare_exchange(
                current,
                current + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Some(InFlight(Arc::clone(self))),
                Err(actual) => current = actual,
            }
        }
    }

    /// Waits until nothing is in flight, or `grace` has passed. Returns
    /// whether everything finished.
    pub async fn wait_idle(&self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.changed.notified();
            if self.in_flight() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight() == 0;
            }
        }
    }
}

/// Middleware for `/v1/*`: refuses while draining (503) or over the
/// concurrency limit (429), and counts the request in flight until its body
/// has been sent.
pub async fn admission(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let lifecycle = state.lifecycle();
    if lifecycle.is_draining() {
        return ApiError::unavailable(
            "The server is shutting down and takes no new requests.",
            "shutting_down",
            Duration::from_secs(5),
        )
        .into_response();
    }
    let max = state.config().limits.max_concurrent_requests;
    let Some(guard) = lifecycle.try_enter(max) else {
        return ApiError::too_many_requests(Duration::from_secs(1)).into_response();
    };
    let response = next.run(req).await;
    if !is_streamed(&response) {
        // The body is already in memory; the request is done.
        return response;
    }
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _held = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// SSE and streamed audio bodies, which outlive the handler. A body already
/// in memory knows its exact size.
fn is_streamed(response: &Response) -> bool {
    use axum::body::HttpBody as _;
    response.body().size_hint().exact().is_none()
}

/// Runs the server on `listener` until `shutdown` resolves, then drains for
/// at most the configured grace period and returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = crate::app(state.clone());
    let lifecycle = Arc::clone(state.lifecycle());
    let grace = state.config().shutdown_grace();
    let stopped = Arc::new(Notify::new());
    let stopped_tx = Arc::clone(&stopped);
    let signal = async move {
        shutdown.await;
        tracing::info!(
            in_flight = lifecycle.in_flight(),
            grace_secs = grace.as_secs(),
            "shutting down: refusing new work, draining"
        );
        lifecycle.begin_drain();
        if !lifecycle.wait_idle(grace).await {
            tracing::warn!(
                in_flight = lifecycle.in_flight(),
                "grace period over; abandoning in-flight requests"
            );
        }
        stopped_tx.notify_one();
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    tokio::select! {
        result = server => result,
        () = async {
            stopped.notified().await;
            // Let connections close themselves for a moment, then go.
            tokio::time::sleep(Duration::from_millis(500)).await;
        } => Ok(()),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
