//! [`ApiJson`]: the JSON body extractor. Unlike axum's `Json`, every way a body
//! can be wrong — too big, not JSON, a wrong type, a missing or unknown field —
//! becomes an [`ApiError`] in OpenAI's shape naming the parameter at fault.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::api_error::ApiError;
use crate::state::AppState;
use crate::wire::unions::{join_path, split_mark};

/// A JSON request body, parsed into `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
            if ct.starts_with("multipart/") {
                return Err(ApiError::unsupported_media_type("a JSON body"));
            }
        }
        let limit = state.config().limits.max_body_bytes;
        let bytes = read_body(req, limit).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Reads the whole body, refusing (413) past `limit` bytes.
pub async fn read_body(req: Request, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| body_error(&e, limit))
}

/// Maps a body-reading error: over the limit is a 413; anything else (the
/// client went away mid-body) is a 400.
pub fn body_error(e: &(dyn std::error::Error + 'static), limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return ApiError::too_large(
                None,
                format!("The request body is larger than this server's limit of {limit} bytes."),
            );
        }
        source = err.source();
    }
    ApiError::bad_body(format!("Could not read the request body: {e}"))
}

/// Parses `bytes` as `T`, naming the failing parameter.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_body(
            "The request body is empty; this endpoint takes a JSON object.",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(&path, e.inner())
    })?;
    de.end().map_err(|e| json_error(".", &e))?;
    Ok(value)
}

/// Turns a serde error at `path` into OpenAI-style wording.
fn json_error(path: &str, e: &serde_json::Error) -> ApiError {
    if e.is_syntax() || e.is_eof() || e.is_io() {
        return ApiError::bad_body(format!(
            "We could not parse the JSON body of your request: {e}. The API expects a JSON object."
        ));
    }
    // serde's messages carry " at line L column C" at the end; drop it.
    let full = e.to_string();
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m)
        .to_owned();
    let (full_path, msg) = match split_mark(&msg) {
        Some((rel, m)) => (join_path(path, rel), m.to_owned()),
        None => (path.to_owned(), msg),
    };
    let path = if full_path.is_empty() {
        "."
    } else {
        full_path.as_str()
    };
    let at = |name: &str| -> String {
        match path {
            "." | "" => name.to_owned(),
            p => format!("{p}.{name}"),
        }
    };
    if let Some(field) = between(&msg, "unknown field `", "`") {
        // The path already ends at the unknown field.
        let param = if path.ends_with(field) {
            path.to_owned()
        } else {
            at(field)
        };
        return ApiError::bad_body(format!("Unrecognized request argument supplied: {param}"))
            .with_param(param)
            .with_code("unknown_parameter");
    }
    if let Some(field) = between(&msg, "missing field `", "`") {
        return ApiError::missing(at(field));
    }
    if let Some(variant) = between(&msg, "unknown variant `", "`") {
        let param = if path == "." {
            "body".into()
        } else {
            path.to_owned()
        };
        let expected = msg.split_once("expected ").map_or("", |(_, rest)| rest);
        return ApiError::invalid(
            param.clone(),
            format!("Invalid value for '{param}': '{variant}'. Expected {expected}."),
        );
    }
    if path == "." {
        return ApiError::bad_body(format!("Invalid request body: {msg}."));
    }
    ApiError::invalid(path, format!("Invalid value for '{path}': {msg}."))
}

/// The text between the first `start` and the next `end`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &s[s.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::chat_request::ChatCompletionRequest;

    fn err(body: &str) -> ApiError {
        parse_json::<ChatCompletionRequest>(body.as_bytes()).expect_err("must fail")
    }

    #[test]
    fn names_the_parameter() {
        let e = err(r#"{"model":"m","messages":[],"temperature":"hot"}"#);
        assert_eq!(e.param.as_deref(), Some("temperature"));
        let e = err(r#"{"model":"m","messages":[{"role":"user","content":5}]}"#);
        assert_eq!(e.param.as_deref(), Some("messages[0].content"));
        assert!(e.message.contains("a string or an array"), "{}", e.message);
        let e = err(r#"{"messages":[]}"#);
        assert_eq!(e.param.as_deref(), Some("model"));
        assert_eq!(e.message, "Missing required parameter: 'model'.");
        let e = err(r#"{"model":"m","messages":[],"bogus":1}"#);
        assert_eq!(e.param.as_deref(), Some("bogus"));
        let e = err(r#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#);
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
        assert!(e.message.contains("robot"), "{}", e.message);
    }

    #[test]
    fn syntax_errors_are_400_without_param() {
        for body in [
            "{",
            "not json",
            "{\"model\": }",
            "[1,2]",
            "{\"model\":\"m\",\"messages\":[]} x",
        ] {
            let e = err(body);
            assert_eq!(e.status, 400, "{body}");
            assert!(e.param.is_none() || body == "[1,2]", "{body}: {e:?}");
        }
        assert_eq!(err("").status, 400);
    }
}
