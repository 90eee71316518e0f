//! Bearer-token authentication for `/v1/*`.
//!
//! Keys are compared in constant time: both the presented token and each
//! configured key are hashed with SHA-256 (so lengths leak nothing) and the
//! digests compared with `subtle`; every configured key is checked, with no
//! early exit. With no keys configured the server is open.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api_error::ApiError;
use crate::state::AppState;

/// The configured keys, as SHA-256 digests.
#[derive(Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

impl ApiKeys {
    pub fn new(keys: &[String]) -> Self {
        Self {
            digests: keys.iter().map(|k| digest(k.as_bytes())).collect(),
        }
    }

    /// No keys: every request is allowed.
    pub fn is_open(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `token` is one of the keys, in time independent of which
    /// (if any) and of where it differs.
    pub fn accepts(&self, token: &[u8]) -> bool {
        let presented = digest(token);
        let mut found = subtle::Choice::from(0u8);
        for d in &self.digests {
            found |= d.ct_eq(&presented);
        }
        bool::from(found)
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Middleware: 401 unless the request carries an accepted Bearer token.
pub async fn require_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let keys = state.keys();
    if keys.is_open() {
        return next.run(req).await;
    }
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return ApiError::no_api_key().into_response();
    };
    let bytes = value.as_bytes();
    let token = match bytes.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => &bytes[7..],
        _ => return ApiError::no_api_key().into_response(),
    };
    let token = token.trim_ascii();
    if token.is_empty() {
        return ApiError::no_api_key().into_response();
    }
    if keys.accepts(token) {
        next.run(req).await
    } else {
        ApiError::bad_api_key().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_keys() {
        let keys = ApiKeys::new(&["sk-one".into(), "sk-two".into()]);
        assert!(keys.accepts(b"sk-one"));
        assert!(keys.accepts(b"sk-two"));
        assert!(!keys.accepts(b"sk-on"));
        assert!(!keys.accepts(b"sk-one "));
        assert!(!keys.accepts(b""));
        assert!(!keys.is_open());
        assert!(ApiKeys::new(&[]).is_open());
    }
}
