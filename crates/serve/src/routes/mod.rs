//! One file per endpoint.
//!
//! | path                            | module            |
//! |---------------------------------|-------------------|
//! | `POST /v1/chat/completions`     | [`chat`]          |
//! | `POST /v1/audio/speech`         | [`speech`]        |
//! | `POST /v1/audio/transcriptions` | [`transcriptions`]|
//! | `GET /v1/models[/{model}]`      | [`models`]        |
//! | `GET /health`, `/ready`, `/metrics` | [`health`]    |
//! | `GET /openapi.json`             | [`crate::openapi`]|

pub mod chat;
pub mod health;
pub mod models;
pub mod speech;
pub mod subtitles;
pub mod timing;
pub mod transcriptions;
