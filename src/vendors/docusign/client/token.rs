//! DocuSign's access tokens: the JWT grant (an RS256 assertion posted to
//! `{oauth}/oauth/token`), cached until shortly before it expires and fetched by one caller at
//! a time; or a token pasted into the settings, used as is. Docs:
//! <https://developers.docusign.com/platform/auth/jwt-get-token/>.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Header};
use reqwest::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::super::settings::SigningKey;
use super::super::DocuSignSettings;
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::UpstreamError;

/// The JWT grant's `grant_type`.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The scopes signgate asks for: sending (voiding) as the impersonated user.
pub const SCOPE: &str = "signature impersonation";
/// How long an assertion is valid (DocuSign accepts at most an hour).
const ASSERTION_LIFETIME: u64 = 3600;
/// A token is renewed this long before it expires (at most half its life).
const RENEW_MARGIN: Duration = Duration::from_secs(300);

/// The claims of the JWT grant's assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The integration key.
    pub iss: String,
    /// The impersonated user's GUID.
    pub sub: String,
    /// The OAuth service's bare host.
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at (seconds since the epoch).
    pub exp: u64,
    /// `signature impersonation`.
    pub scope: String,
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// DocuSign refused the credentials (a definite `vendor_auth_failed`).
    Refused {
        /// The status that carried the refusal.
        status: u16,
        /// What the operator must fix.
        message: String,
    },
    /// DocuSign named a host signgate does not send to (`learned_host`): a definite
    /// `vendor_bad_response`; nothing was sent to that host.
    UntrustedHost {
        /// The status of the answer that named it.
        status: u16,
        /// Which host, and why it is refused.
        message: String,
    },
    /// No usable answer; nothing was voided.
    Upstream(UpstreamError),
}

/// Where tokens come from.
enum Source {
    Pasted(SecretString),
    Grant(Grant),
}

/// Everything the JWT grant needs.
struct Grant {
    integration_key: String,
    user_id: String,
    audience: String,
    key: SigningKey,
    token_url: String,
}

struct Cached {
    token: SecretString,
    renew_at: Instant,
}

/// The account's access token, shared by every call of one vendor.
pub struct Tokens {
    source: Source,
    cache: Mutex<Option<Cached>>,
}

impl Tokens {
    /// The JWT grant when the settings have one, else the pasted token.
    pub fn new(settings: &DocuSignSettings) -> Self {
        let grant = match (
            &settings.integration_key,
            &settings.user_id,
            &settings.private_key,
        ) {
            (Some(integration_key), Some(user_id), Some(key)) => Some(Grant {
                integration_key: integration_key.clone(),
                user_id: user_id.clone(),
                audience: settings.audience(),
                key: key.clone(),
                token_url: format!("{}/oauth/token", settings.oauth_base_url),
            }),
            _ => None,
        };
        let source = match grant {
            Some(grant) => Source::Grant(grant),
            None => Source::Pasted(settings.access_token.clone().unwrap_or_default()),
        };
        Self {
            source,
            cache: Mutex::new(None),
        }
    }

    /// Whether a rejected token can be replaced by a new one (the JWT grant can).
    pub fn renewable(&self) -> bool {
        matches!(self.source, Source::Grant(_))
    }

    /// A token valid for a while yet: the cached one, or one fetched now. Concurrent callers
    /// wait for the one fetch in flight.
    pub async fn get(&self, client: &Client, request_id: &str) -> Result<SecretString, AuthError> {
        let grant = match &self.source {
            Source::Pasted(token) => return Ok(token.clone()),
            Source::Grant(grant) => grant,
        };
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(cached.token.clone());
        }
        let (token, expires_in) = grant.fetch(client, request_id).await?;
        *cache = Some(Cached {
            token: token.clone(),
            renew_at: http::renew_at(Instant::now(), expires_in, RENEW_MARGIN),
        });
        Ok(token)
    }

    /// Forgets `used` (DocuSign answered `401` to it), unless another caller already replaced it.
    pub async fn discard(&self, used: &SecretString) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == used.expose_secret())
        {
            *cache = None;
        }
    }
}

impl Grant {
    /// Posts a fresh assertion; the token and how long it lasts.
    async fn fetch(
        &self,
        client: &Client,
        request_id: &str,
    ) -> Result<(SecretString, Duration), AuthError> {
        let assertion = self.assertion()?;
        let form = [
            ("grant_type", GRANT_TYPE),
            ("assertion", assertion.as_str()),
        ];
        let request = client.post(&self.token_url).form(&form);
        // Nothing was sent to the eSignature API: a failed token call is safe to retry.
        let answer = http::send(request, request_id)
            .await
            .map_err(|_| AuthError::Upstream(UpstreamError::Connect))?;
        tracing::debug!(
            status = answer.status.as_u16(),
            "DocuSign answered the JWT grant."
        );
        read_token(&answer)
    }

    fn assertion(&self) -> Result<String, AuthError> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iss: self.integration_key.clone(),
            sub: self.user_id.clone(),
            aud: self.audience.clone(),
            iat,
            exp: iat + ASSERTION_LIFETIME,
            scope: SCOPE.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key.0).map_err(|e| {
            AuthError::Refused {
                status: 0,
                message: format!("The DocuSign private key cannot sign the JWT grant: {e}."),
            }
        })
    }
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
}

/// Reads the token endpoint's answer.
fn read_token(answer: &RawAnswer) -> Result<(SecretString, Duration), AuthError> {
    let status = answer.status.as_u16();
    match status {
        200..=299 => {
            let body: TokenBody = serde_json::from_slice(&answer.body)
                .map_err(|_| AuthError::Upstream(UpstreamError::BadResponse { status }))?;
            Ok((
                SecretString::from(body.access_token),
                http::token_lifetime(body.expires_in),
            ))
        }
        400 | 401 | 403 => {
            let error = serde_json::from_slice::<TokenError>(&answer.body)
                .ok()
                .and_then(|e| e.error);
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

fn refusal_message(error: Option<&str>) -> String {
    match error {
        Some("consent_required") => "DocuSign refused the JWT grant (consent_required): the user \
             must grant consent to the integration key once (signature impersonation)."
            .into(),
        Some("invalid_grant") => "DocuSign refused the JWT grant (invalid_grant): check \
             integration_key, user_id, private_key and oauth_base_url (demo or production)."
            .into(),
        Some(other) => format!("DocuSign refused the JWT grant ({}).", http::excerpt(other)),
        None => "DocuSign refused the JWT grant.".into(),
    }
}
