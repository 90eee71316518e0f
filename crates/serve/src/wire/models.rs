//! `GET /v1/models` and errors.

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /v1/models`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<ModelObject>,
}

/// One servable id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelObject {
    /// The served name, its date-stamped snapshot id, or an alias.
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    pub owned_by: String,
    /// omnivox extension: the snapshot id this id serves.
    pub root: String,
    /// omnivox extension: `true` for the demo model, whose replies are noise.
    pub demo: bool,
    /// omnivox extension: a sentence about the model (says so for the demo).
    pub description: String,
}

/// The error body of every failure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorObject,
}

/// `{"message","type","param","code"}` — all four always present.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorObject {
    pub message: String,
    /// `invalid_request_error` (400, 401, 404, 405, 413, 415), `requests`
    /// (429) or `server_error` (500, 503).
    #[serde(rename = "type")]
    pub kind: String,
    /// The request parameter at fault (`messages[0].content[1].input_audio.data`).
    #[schema(required = true)]
    pub param: Option<String>,
    /// A machine-readable code (`model_not_found`, `invalid_api_key`, …).
    #[schema(required = true)]
    pub code: Option<String>,
}
