//! Acrobat Sign's access tokens: `POST {api_access_point}/oauth/v2/refresh` with the consent's
//! refresh token, cached until shortly before `expires_in` runs out and fetched by one caller at
//! a time. A refresh token in the answer replaces the one in use (kept in memory only). Docs:
//! <https://opensource.adobe.com/acrobat-sign/developer_guide/oauth.html>.

use std::time::Duration;

use reqwest::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::super::AdobeSignSettings;
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::UpstreamError;

/// The refresh grant's `grant_type`.
pub const GRANT_TYPE: &str = "refresh_token";
/// A token is renewed this long before it expires (at most half its life).
const RENEW_MARGIN: Duration = Duration::from_secs(300);

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Acrobat Sign refused the credentials (a definite `vendor_auth_failed`).
    Refused {
        /// The status that carried the refusal.
        status: u16,
        /// What the operator must fix.
        message: String,
    },
    /// Acrobat Sign named a host signgate does not send to (`learned_host`): a definite
    /// `vendor_bad_response`; nothing was sent to that host.
    UntrustedHost {
        /// The status of the answer that named it.
        status: u16,
        /// Which host, and why it is refused.
        message: String,
    },
    /// No usable answer; nothing was cancelled.
    Upstream(UpstreamError),
}

struct Cached {
    token: SecretString,
    renew_at: Instant,
}

/// What the cache holds under its one lock: the access token and the newest refresh token.
struct State {
    cached: Option<Cached>,
    refresh_token: SecretString,
}

/// The account's access token, shared by every call of one vendor.
pub struct Tokens {
    url: String,
    client_id: String,
    client_secret: SecretString,
    state: Mutex<State>,
}

impl Tokens {
    /// The refresh grant at `{token_host}/oauth/v2/refresh`; the settings have credentials.
    pub fn new(settings: &AdobeSignSettings, token_host: &str) -> Self {
        Self {
            url: format!("{token_host}/oauth/v2/refresh"),
            client_id: settings.client_id.clone().unwrap_or_default(),
            client_secret: settings.client_secret.clone().unwrap_or_default(),
            state: Mutex::new(State {
                cached: None,
                refresh_token: settings.refresh_token.clone().unwrap_or_default(),
            }),
        }
    }

    /// A token valid for a while yet: the cached one, or one refreshed now. Concurrent callers
    /// wait for the one refresh in flight.
    pub async fn get(&self, client: &Client, request_id: &str) -> Result<SecretString, AuthError> {
        let mut state = self.state.lock().await;
        if let Some(cached) = state
            .cached
            .as_ref()
            .filter(|c| Instant::now() < c.renew_at)
        {
            return Ok(cached.token.clone());
        }
        let fresh = self
            .refresh(client, &state.refresh_token, request_id)
            .await?;
        if let Some(rotated) = fresh.refresh_token {
            tracing::info!("Acrobat Sign sent a new refresh token; using it from now on.");
            state.refresh_token = rotated;
        }
        state.cached = Some(Cached {
            token: fresh.access_token.clone(),
            renew_at: http::renew_at(Instant::now(), fresh.expires_in, RENEW_MARGIN),
        });
        Ok(fresh.access_token)
    }

    /// Forgets `used` (Acrobat Sign answered `401` to it), unless another caller replaced it.
    pub async fn discard(&self, used: &SecretString) {
        let mut state = self.state.lock().await;
        if state
            .cached
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == used.expose_secret())
        {
            state.cached = None;
        }
    }

    async fn refresh(
        &self,
        client: &Client,
        refresh_token: &SecretString,
        request_id: &str,
    ) -> Result<Fresh, AuthError> {
        let form = [
            ("grant_type", GRANT_TYPE),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        let request = client.post(&self.url).form(&form);
        // Nothing was sent to the agreements API: a failed refresh is safe to retry.
        let answer = http::send(request, request_id)
            .await
            .map_err(|_| AuthError::Upstream(UpstreamError::Connect))?;
        tracing::debug!(
            status = answer.status.as_u16(),
            "Acrobat Sign answered the token refresh."
        );
        read_token(&answer)
    }
}

/// A refresh's answer.
struct Fresh {
    access_token: SecretString,
    expires_in: Duration,
    refresh_token: Option<SecretString>,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// An OAuth error (`error`, RFC 6749) or an Acrobat Sign one (`code`), whichever came.
#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
    code: Option<String>,
}

/// Reads the refresh endpoint's answer.
fn read_token(answer: &RawAnswer) -> Result<Fresh, AuthError> {
    let status = answer.status.as_u16();
    match status {
        200..=299 => {
            let body: TokenBody = serde_json::from_slice(&answer.body)
                .map_err(|_| AuthError::Upstream(UpstreamError::BadResponse { status }))?;
            Ok(Fresh {
                access_token: SecretString::from(body.access_token),
                expires_in: http::token_lifetime(body.expires_in),
                refresh_token: body
                    .refresh_token
                    .filter(|t| !t.is_empty())
                    .map(SecretString::from),
            })
        }
        400 | 401 | 403 => {
            let error = serde_json::from_slice::<TokenError>(&answer.body)
                .ok()
                .and_then(|e| e.error.or(e.code));
            Err(AuthError::Refused {
                status,
                message: refusal_message(error.as_deref()),
            })
        }
        0..=199 | 300..=399 | 402 | 404..=u16::MAX => {
            Err(AuthError::Upstream(http::common_error(answer)))
        }
    }
}

/// What the operator must do about a refused refresh, by the error's name (either case).
fn refusal_message(error: Option<&str>) -> String {
    let Some(error) = error else {
        return "Acrobat Sign refused the token refresh.".into();
    };
    match error.to_ascii_lowercase().as_str() {
        "invalid_grant" | "invalid_token" | "expired_token" | "invalid_refresh_token" => format!(
            "Acrobat Sign refused the refresh token ({}): it expired (60 days unused) or was \
             revoked; grant consent again and set refresh_token.",
            http::excerpt(error)
        ),
        "invalid_client" | "unauthorized_client" => format!(
            "Acrobat Sign refused the OAuth app ({}): check client_id and client_secret.",
            http::excerpt(error)
        ),
        "invalid_request" => "Acrobat Sign refused the token refresh (invalid_request): check \
             client_id, client_secret, refresh_token and api_access_point."
            .into(),
        _ => format!(
            "Acrobat Sign refused the token refresh ({}).",
            http::excerpt(error)
        ),
    }
}
