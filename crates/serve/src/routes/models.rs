//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::Json;
use axum::extract::{Path, State};

use crate::api_error::ApiResult;
use crate::state::AppState;
use crate::wire::models::{ErrorResponse, ModelList, ModelObject};

/// Every accepted model id: the served name, its date-stamped snapshot id
/// and the configured aliases.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "models",
    responses(
        (status = 200, description = "The servable ids.", body = ModelList),
        (status = 401, description = "Missing or wrong API key.", body = ErrorResponse),
    ),
    security((), ("bearer" = [])),
)]
pub async fn list(State(state): State<AppState>) -> Json<ModelList> {
    let data = state
        .models()
        .ids
        .iter()
        .map(|id| object(&state, id))
        .collect();
    Json(ModelList {
        object: "list",
        data,
    })
}

/// One model id.
#[utoipa::path(
    get,
    path = "/v1/models/{model}",
    tag = "models",
    params(("model" = String, Path, description = "A model id.")),
    responses(
        (status = 200, description = "The model.", body = ModelObject),
        (status = 404, description = "Unknown model (`model_not_found`).", body = ErrorResponse),
    ),
    security((), ("bearer" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> ApiResult<Json<ModelObject>> {
    state.models().resolve(&model)?;
    Ok(Json(object(&state, &model)))
}

fn object(state: &AppState, id: &str) -> ModelObject {
    let info = state.info();
    let description = if info.is_demo {
        "DEMO: a tiny randomly initialised Qwen3-Omni-shaped model. Its replies are noise; it exists to try the API without a download."
            .to_owned()
    } else {
        format!("{} served by omnivox.", info.served_name)
    };
    ModelObject {
        id: id.to_owned(),
        object: "model",
        created: info.created,
        owned_by: info.owned_by.clone(),
        root: state.models().snapshot.clone(),
        demo: info.is_demo,
        description,
    }
}
