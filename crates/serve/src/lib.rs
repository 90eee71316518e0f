//! omnivox-serve: the OpenAI-compatible HTTP API and the `omnivox` binary.
//!
//! [`app`] builds the router from an [`AppState`] (an engine behind
//! `Arc<dyn Engine>` plus configuration); [`lifecycle::serve`] runs it with
//! graceful shutdown. Only this crate knows HTTP, JSON wire types, SSE, API
//! keys and Prometheus text.
//!
//! | module          | what                                                   |
//! |-----------------|--------------------------------------------------------|
//! | [`routes`]      | one module per endpoint                                |
//! | [`wire`]        | OpenAI's JSON request/response types                   |
//! | [`api_error`]   | the one error type, rendered as OpenAI's error shape   |
//! | [`extract`]     | the JSON extractor whose rejections are API errors     |
//! | [`audio_io`]    | the door to `omnivox-audio`                            |
//! | [`catalog`]     | model ids (snapshots, aliases) and voice mapping       |
//! | [`auth`]        | Bearer keys, compared in constant time                 |
//! | [`lifecycle`]   | admission, draining, graceful shutdown                 |
//! | [`metrics`]     | Prometheus exposition                                  |
//! | [`config`]      | `omnivox.toml`                                         |
//! | [`cli`]         | `omnivox serve` / `omnivox run`                        |
//! | [`openapi`]     | the generated OpenAPI document                         |

pub mod api_error;
pub mod audio_io;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod engine_factory;
pub mod extract;
pub mod ids;
pub mod lifecycle;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod wire;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use api_error::ApiError;
pub use state::AppState;

/// The whole HTTP API.
pub fn app(state: AppState) -> Router {
    let body_limit = state.config().limits.max_body_bytes;
    let v1 = Router::new()
        .route("/chat/completions", post(routes::chat::chat_completions))
        .route("/audio/speech", post(routes::speech::speech))
        .route(
            "/audio/transcriptions",
            post(routes::transcriptions::transcriptions),
        )
        .route("/models", get(routes::models::list))
        .route("/models/{model}", get(routes::models::get))
        // Layers run outside-in from the last added: auth, then admission.
        .route_layer(from_fn_with_state(state.clone(), lifecycle::admission))
        .route_layer(from_fn_with_state(state.clone(), auth::require_key));
    Router::new()
        .nest("/v1", v1)
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route("/metrics", get(routes::health::metrics))
        .route("/openapi.json", get(openapi::serve_document))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn unknown_route(method: Method, uri: Uri) -> Response {
    ApiError::unknown_route(method.as_str(), uri.path()).into_response()
}

async fn wrong_method(method: Method, uri: Uri) -> Response {
    ApiError::method_not_allowed(method.as_str(), uri.path()).into_response()
}
