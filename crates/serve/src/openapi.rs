//! The OpenAPI document, generated from the request and response types and
//! the handlers' annotations. `crates/serve/openapi.json` is a committed copy;
//! the `openapi` test fails when it is stale (regenerate with
//! `OMNIVOX_BLESS=1 cargo test -p omnivox-serve --test openapi`).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "omnivox",
        description = "OpenAI-compatible speech-to-speech API. See docs/api.md.",
        license(name = "Apache-2.0"),
    ),
    paths(
        routes::chat::chat_completions,
        routes::speech::speech,
        routes::transcriptions::transcriptions,
        routes::models::list,
        routes::models::get,
        routes::health::health,
        routes::health::ready,
        routes::health::metrics,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "chat", description = "Chat completions with audio in and out."),
        (name = "audio", description = "Speech and transcription."),
        (name = "models", description = "Served model ids."),
        (name = "operations", description = "Probes and metrics (no key needed)."),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON, with a trailing newline (as committed).
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// `GET /openapi.json`.
pub async fn serve_document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
