//! `GET /health`, `GET /ready` and `GET /metrics`: unauthenticated, for
//! probes and scrapers.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use omnivox_runtime::api::Readiness;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api_error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::models::ErrorResponse;

/// `{"status": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    pub status: &'static str,
}

/// 200 while the process runs.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The process is alive.", body = Status)))]
pub async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// 200 when the model takes work; 503 while it loads, after it failed, and
/// while the server drains on SIGTERM.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready for requests.", body = Status),
        (status = 503, description = "Loading, failed or draining; see `code`.", body = ErrorResponse),
    ))]
pub async fn ready(State(state): State<AppState>) -> ApiResult<Json<Status>> {
    if state.lifecycle().is_draining() {
        return Err(ApiError::unavailable(
            "The server is shutting down.",
            "shutting_down",
            Duration::from_secs(5),
        ));
    }
    match state.engine().readiness() {
        Readiness::Ready => Ok(Json(Status { status: "ready" })),
        Readiness::Loading { stage, progress } => {
            let pct = progress
                .map(|p| format!(" ({:.0}%)", p * 100.0))
                .unwrap_or_default();
            Err(ApiError::unavailable(
                format!("The model is loading: {stage}{pct}."),
                "model_loading",
                Duration::from_secs(5),
            ))
        }
        Readiness::Failed { reason } => {
            tracing::error!(%reason, "engine failed");
            Err(ApiError::unavailable(
                "The model failed to load; see the server log.",
                "model_failed",
                Duration::from_secs(60),
            ))
        }
    }
}

/// Prometheus text: vLLM-compatible scheduler gauges, latency histograms and
/// token counters by modality.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4.", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics().render(
        &state.engine().metrics(),
        &state.info().served_name,
        state.lifecycle().is_draining(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
