//! [`ApiError`]: the one error type of every endpoint. It renders OpenAI's
//! `{"error":{"message","type","param","code"}}` with OpenAI's status, as a
//! response or as an SSE event in the middle of a stream. It never shows a
//! client internal details: those go to the log.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omnivox_runtime::api::EngineError;

use crate::wire::models::{ErrorObject, ErrorResponse};

/// `type` of a client mistake (400, 401, 404, 405, 413, 415).
pub const INVALID_REQUEST: &str = "invalid_request_error";
/// `type` of a failure of ours (500, 503).
pub const SERVER_ERROR: &str = "server_error";
/// `type` of a 429.
pub const RATE_LIMIT: &str = "requests";

/// A failed request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<String>,
    /// Seconds, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

/// What every handler returns.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// Sets `param`.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Sets `code`.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// 400 for an invalid value of `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, message)
            .with_param(param)
            .with_code("invalid_value")
    }

    /// 400 for a request body that is not what the endpoint takes.
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, message)
    }

    /// 400: `Missing required parameter: 'x'.`
    pub fn missing(param: impl Into<String>) -> Self {
        let param = param.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            format!("Missing required parameter: '{param}'."),
        )
        .with_param(param)
        .with_code("missing_required_parameter")
    }

    /// 400: `Unsupported value: 'x' does not support 'v'. Supported values
    /// are: …`.
    pub fn unsupported_value(param: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let param = param.into();
        let list = supported
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        Self::new(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            format!("Unsupported value: '{param}' does not support '{value}'. Supported values are: {list}."),
        )
        .with_param(param)
        .with_code("unsupported_value")
    }

    /// 400 for a parameter this server does not implement.
    pub fn unsupported_param(param: impl Into<String>, why: &str) -> Self {
        let param = param.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            format!("Unsupported parameter: '{param}' {why}"),
        )
        .with_param(param)
        .with_code("unsupported_parameter")
    }

    /// 404 `model_not_found`.
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            format!(
                "The model '{model}' does not exist or you do not have access to it. GET /v1/models lists the served models."
            ),
        )
        .with_param("model")
        .with_code("model_not_found")
    }

    /// 404 for an unknown path.
    pub fn unknown_route(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            format!("Unknown request URL: {method} {path}."),
        )
        .with_code("unknown_url")
    }

    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            INVALID_REQUEST,
            format!("Method {method} is not allowed for {path}."),
        )
        .with_code("method_not_allowed")
    }

    /// 401 without a key.
    pub fn no_api_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            INVALID_REQUEST,
            "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.",
        )
        .with_code("missing_api_key")
    }

    /// 401 with a wrong key.
    pub fn bad_api_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            INVALID_REQUEST,
            "Incorrect API key provided.",
        )
        .with_code("invalid_api_key")
    }

    /// 413 for a body or an audio input over the configured limit.
    pub fn too_large(param: Option<&str>, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::PAYLOAD_TOO_LARGE, INVALID_REQUEST, message)
            .with_code("request_too_large");
        e.param = param.map(str::to_owned);
        e
    }

    /// 415 for a body that is not JSON (or not multipart, for uploads).
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            INVALID_REQUEST,
            format!("Unsupported Content-Type: this endpoint takes {expected}."),
        )
        .with_code("unsupported_media_type")
    }

    /// 429 with Retry-After: the server's own concurrency limit is reached.
    pub fn too_many_requests(retry_after: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            RATE_LIMIT,
            "Too many concurrent requests; retry after the time in the Retry-After header.",
        )
        .with_code("rate_limit_exceeded");
        e.retry_after = Some(retry_after.as_secs().max(1));
        e
    }

    /// 503 with Retry-After.
    pub fn unavailable(message: impl Into<String>, code: &str, retry_after: Duration) -> Self {
        let mut e =
            Self::new(StatusCode::SERVICE_UNAVAILABLE, SERVER_ERROR, message).with_code(code);
        e.retry_after = Some(retry_after.as_secs().max(1));
        e
    }

    /// 500. The details are logged, never sent.
    pub fn internal(details: impl std::fmt::Display) -> Self {
        tracing::error!(%details, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            SERVER_ERROR,
            "The server had an error while processing your request.",
        )
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            error: ErrorObject {
                message: self.message.clone(),
                kind: self.kind.to_owned(),
                param: self.param.clone(),
                code: self.code.clone(),
            },
        }
    }

    /// The JSON body as text, for an SSE `data:` line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_else(|_| {
            r#"{"error":{"message":"error","type":"server_error","param":null,"code":null}}"#
                .to_owned()
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidRequest { param, message } => Self::invalid(param, message),
            EngineError::ContextLengthExceeded { requested, limit } => Self::invalid(
                "messages",
                format!(
                    "This model's maximum context length is {limit} tokens. However, your messages resulted in {requested} tokens. Please reduce the length of the messages."
                ),
            )
            .with_code("context_length_exceeded"),
            EngineError::UnknownAudioId { id } => Self::invalid(
                "messages",
                format!("Audio with id '{id}' is unknown or has expired."),
            )
            .with_code("audio_not_found"),
            EngineError::Overloaded {
                retry_after,
                reason,
            } => {
                tracing::warn!(%reason, "engine overloaded");
                Self::unavailable(
                    "The engine is currently overloaded, please try again later.",
                    "overloaded",
                    retry_after,
                )
            }
            EngineError::Unavailable { reason } => {
                tracing::warn!(%reason, "engine unavailable");
                Self::unavailable(
                    "The model is not ready to serve requests; try again later.",
                    "model_not_ready",
                    Duration::from_secs(5),
                )
            }
            EngineError::Unsupported { param, message } => {
                Self::invalid(param, message).with_code("unsupported_value")
            }
            other => Self::internal(other),
        }
    }
}
