//! The internal API key check: `Bearer <key>` or the bare key (only the bare key on the Auco
//! drop-in), compared in constant time.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// The accepted keys, kept only as SHA-256 digests so every comparison has the same length.
#[derive(Clone)]
pub struct ApiKeys {
    current: [u8; 32],
    previous: Option<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeys([redacted])")
    }
}

impl ApiKeys {
    /// The current key and, during a rotation, the previous one.
    pub fn new(current: &SecretString, previous: Option<&SecretString>) -> Self {
        Self {
            current: digest(current.expose_secret()),
            previous: previous.map(|k| digest(k.expose_secret())),
        }
    }

    /// Whether the `Authorization` header carries an accepted key. Both keys are always
    /// compared, so timing tells neither which key nor how much of it matched.
    pub fn verify(&self, headers: &HeaderMap) -> bool {
        let Some(value) = authorization(headers) else {
            return false;
        };
        let key = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => value.trim(),
        };
        self.accepts(key)
    }

    /// Whether the `Authorization` header is exactly an accepted key, with no scheme, as
    /// Auco's clients send their key (`Bearer <key>` is refused, as Auco refuses it).
    pub fn verify_bare(&self, headers: &HeaderMap) -> bool {
        authorization(headers).is_some_and(|key| self.accepts(key))
    }

    fn accepts(&self, key: &str) -> bool {
        let presented = digest(key);
        let previous = self.previous.unwrap_or(self.current);
        let matches = presented.ct_eq(&self.current) | presented.ct_eq(&previous);
        !key.is_empty() && bool::from(matches)
    }
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// How a route's clients present the key in `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Bearer <key>` or the bare key (the gateway's own API).
    BearerOrBare,
    /// Exactly the key, as Auco's clients send it (the Auco drop-in).
    Bare,
}

/// Middleware: refuses requests without an accepted key, presented as `scheme` says, with
/// `401 unauthorized`.
pub async fn require_api_key(
    State((state, scheme)): State<(AppState, Scheme)>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let accepted = match scheme {
        Scheme::BearerOrBare => state.keys.verify(request.headers()),
        Scheme::Bare => state.keys.verify_bare(request.headers()),
    };
    if accepted {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(value).expect("valid header"),
        );
        h
    }

    fn keys() -> ApiKeys {
        ApiKeys::new(&"current".into(), Some(&"previous".into()))
    }

    #[test]
    fn accepts_bearer_and_bare_keys_and_the_previous_key() {
        assert!(keys().verify(&headers("Bearer current")));
        assert!(keys().verify(&headers("bearer current")));
        assert!(keys().verify(&headers("current")));
        assert!(keys().verify(&headers("Bearer previous")));
    }

    #[test]
    fn refuses_wrong_missing_and_partial_keys() {
        assert!(!keys().verify(&headers("Bearer wrong")));
        assert!(!keys().verify(&headers("curren")));
        assert!(!keys().verify(&headers("Basic current")));
        assert!(!keys().verify(&HeaderMap::new()));
        assert!(!ApiKeys::new(&"current".into(), None).verify(&headers("previous")));
    }

    #[test]
    fn the_bare_check_takes_only_the_key_itself() {
        assert!(keys().verify_bare(&headers("current")));
        assert!(keys().verify_bare(&headers("previous")));
        assert!(!keys().verify_bare(&headers("Bearer current")));
        assert!(!keys().verify_bare(&headers("current ")));
        assert!(!keys().verify_bare(&headers("wrong")));
        assert!(!keys().verify_bare(&HeaderMap::new()));
    }
}
