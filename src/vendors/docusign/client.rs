//! DocuSign eSignature REST v2.1: one envelope per void call (`PUT …/envelopes/{id}` with
//! `{"status":"voided","voidedReason"}`), a Bearer token from the JWT grant, the account's
//! REST host from `/oauth/userinfo`, and failures as `400` + `errorCode`. Docs:
//! <https://developers.docusign.com/docs/esign-rest-api/reference/envelopes/envelopes/update/>.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::{Client, Method, RequestBuilder};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::DocuSignSettings;
use crate::model::{ErrorCode, Outcome};
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::learned_host::HostRule;
use crate::vendors::settings::VendorSettings;
use crate::vendors::{
    one_by_one, Answer, Batch, CallContext, DocState, Reply, UpstreamError, Vendor,
};

pub mod token;

use discovery::DOCUSIGN_DOMAINS;
use token::{AuthError, Tokens};

mod discovery;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

/// The OAuth hosts, which never serve the REST API: a `base_url` naming one (the default)
/// means "discover the account's REST host".
const OAUTH_HOSTS: [&str; 2] = ["account.docusign.com", "account-d.docusign.com"];

// ---- client --------------------------------------------------------------------------------

/// A DocuSign account: its token source, its REST base (configured or discovered) and pool.
pub struct DocuSign {
    client: Client,
    tokens: Tokens,
    oauth_base_url: String,
    /// `base_url`, unless it names the OAuth service (then it is discovered).
    base_url: Option<String>,
    account_id: Option<String>,
    account: OnceCell<Account>,
    /// Where a discovered `base_uri` may lie.
    hosts: HostRule,
}

/// Where the account's envelopes live.
#[derive(Debug, Clone)]
struct Account {
    /// `{base_uri}/restapi/v2.1/accounts/{account_id}`.
    envelopes: String,
}

impl fmt::Debug for DocuSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocuSign")
            .field("oauth_base_url", &self.oauth_base_url)
            .field("base_url", &self.base_url)
            .field("account_id", &self.account_id)
            .field("token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl DocuSign {
    /// Builds the client; the settings have credentials (`has_credentials`).
    pub fn new(settings: &VendorSettings, docusign: &DocuSignSettings) -> Self {
        let base_url = settings.base_url.trim_end_matches('/').to_owned();
        let oauth_base_url = docusign.oauth_base_url.clone();
        let discovered = base_url == oauth_base_url
            || reqwest::Url::parse(&base_url)
                .ok()
                .and_then(|url| url.host_str().map(|h| OAUTH_HOSTS.contains(&h)))
                .unwrap_or(false);
        Self {
            client: http::client(settings),
            tokens: Tokens::new(docusign),
            oauth_base_url: oauth_base_url.clone(),
            base_url: (!discovered).then_some(base_url),
            account_id: docusign.account_id.clone(),
            account: OnceCell::new(),
            hosts: HostRule::new(&oauth_base_url, DOCUSIGN_DOMAINS, &docusign.allowed_hosts),
        }
    }

    /// The account's envelopes URL: from the settings, or from `/oauth/userinfo` once.
    async fn account(&self, request_id: &str) -> Result<&Account, AuthError> {
        self.account
            .get_or_try_init(|| async {
                match (&self.base_url, &self.account_id) {
                    (Some(base), Some(id)) => Ok(Account::at(base, id)),
                    _ => self.discover(request_id).await,
                }
            })
            .await
    }

    /// One call on an envelope, with one new token after a `401` (DocuSign cancelled nothing).
    async fn call(
        &self,
        method: Method,
        code: &str,
        body: Option<&VoidBody<'_>>,
        request_id: &str,
    ) -> Result<Received, AuthError> {
        let account = self.account(request_id).await?;
        let url = format!("{}/envelopes/{code}", account.envelopes);
        let mut renewed = false;
        loop {
            let token = self.tokens.get(&self.client, request_id).await?;
            let mut request = self
                .client
                .request(method.clone(), &url)
                .bearer_auth(token.expose_secret());
            if let Some(body) = body {
                request = request.json(body);
            }
            let received = send(request, request_id)
                .await
                .map_err(AuthError::Upstream)?;
            if received.raw.status == 401 && self.tokens.renewable() && !renewed {
                tracing::info!("DocuSign refused the access token; getting a new one.");
                self.tokens.discard(&token).await;
                renewed = true;
                continue;
            }
            return Ok(received);
        }
    }

    async fn void_one(&self, code: &str, batch: &Batch<'_>) -> Reply {
        let body = VoidBody {
            status: "voided",
            voided_reason: batch.message,
        };
        match self
            .call(Method::PUT, code, Some(&body), batch.ctx.request_id)
            .await
        {
            Ok(received) => classify(&received),
            Err(e) => auth_reply(e),
        }
    }
}

fn auth_reply(error: AuthError) -> Reply {
    match error {
        AuthError::Refused { status, message } => Ok(Answer {
            outcome: Outcome::failed(ErrorCode::VendorAuthFailed, message),
            http_status: status,
        }),
        AuthError::UntrustedHost { status, message } => Ok(Answer {
            outcome: Outcome::failed(ErrorCode::VendorBadResponse, message),
            http_status: status,
        }),
        AuthError::Upstream(e) => Err(e),
    }
}

/// A REST answer and DocuSign's `X-RateLimit-Reset`, as a wait from now.
#[derive(Debug)]
struct Received {
    raw: RawAnswer,
    reset_in: Option<Duration>,
}

/// `http::send`, keeping `X-RateLimit-Reset` for the rate-limit codes.
async fn send(request: RequestBuilder, request_id: &str) -> Result<Received, UpstreamError> {
    let (raw, headers) = http::send_keeping_headers(request, request_id).await?;
    let reset_in = http::rate_limit_reset(&headers, SystemTime::now());
    Ok(Received { raw, reset_in })
}

// ---- trait impl ------------------------------------------------------------------------------

#[async_trait]
impl Vendor for DocuSign {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        one_by_one(batch, |code| self.void_one(code, batch)).await
    }

    fn can_read_status(&self) -> bool {
        true
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        match self.call(Method::GET, code, None, ctx.request_id).await {
            Ok(received) => classify_status(&received),
            Err(AuthError::Refused { status, .. } | AuthError::UntrustedHost { status, .. }) => {
                Err(UpstreamError::BadResponse { status })
            }
            Err(AuthError::Upstream(e)) => Err(e),
        }
    }
}

// ---- classification -------------------------------------------------------------------------

/// What an `errorCode` means, compared without case (DocuSign mixes `UPPER_SNAKE` and
/// `Mixed_Snake`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorClass {
    /// `ENVELOPE_CANNOT_VOID_INVALID_STATE`: voided, completed, declined or a draft.
    InvalidState,
    /// `ENVELOPE_DOES_NOT_EXIST`.
    DoesNotExist,
    /// The credentials, the account or the user's rights.
    Auth,
    /// The account's hourly or burst limit, or an envelope's.
    RateLimit,
    /// Any other code: the request was refused as it stands.
    Other,
}

fn error_class(code: &str) -> ErrorClass {
    match code.to_ascii_uppercase().as_str() {
        "ENVELOPE_CANNOT_VOID_INVALID_STATE" => ErrorClass::InvalidState,
        "ENVELOPE_DOES_NOT_EXIST" => ErrorClass::DoesNotExist,
        "USER_LACKS_PERMISSIONS"
        | "ACCOUNT_LACKS_PERMISSIONS"
        | "USER_AUTHENTICATION_FAILED"
        | "PARTNER_AUTHENTICATION_FAILED"
        | "AUTHORIZATION_INVALID_TOKEN"
        | "ACCOUNT_NOT_AUTHORIZED_FOR_ENVELOPE"
        | "USER_NOT_ENVELOPE_SENDER_OR_RECIPIENT"
        | "USER_DOES_NOT_BELONG_TO_SPECIFIED_ACCOUNT" => ErrorClass::Auth,
        "HOURLY_APIINVOCATION_LIMIT_EXCEEDED"
        | "BURST_APIINVOCATION_LIMIT_EXCEEDED"
        | "HOURLY_APIINVOCATION_ENVELOPE_LIMIT_EXCEEDED"
        | "BURST_APIINVOCATION_ENVELOPE_LIMIT_EXCEEDED"
        | "HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED"
        | "BURST_ENVELOPE_POLLING_LIMIT_EXCEEDED" => ErrorClass::RateLimit,
        _ => ErrorClass::Other,
    }
}

/// DocuSign's `errorDetails`: `{"errorCode", "message"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorDetails {
    error_code: String,
    #[serde(default)]
    message: String,
}

fn error_details(body: &[u8]) -> Option<ErrorDetails> {
    serde_json::from_slice(body).ok()
}

/// The one table for void answers: status first, then `errorCode`.
fn classify(received: &Received) -> Reply {
    let answer = &received.raw;
    let status = answer.status.as_u16();
    let failed = |code: ErrorCode, message: String| {
        Ok(Answer {
            outcome: Outcome::failed(code, message),
            http_status: status,
        })
    };
    match status {
        // DocuSign's `envelopeUpdateSummary` says nothing more: any 2xx is the void.
        200..=299 => Ok(Answer {
            outcome: Outcome::Cancelled,
            http_status: status,
        }),
        401 => failed(
            ErrorCode::VendorAuthFailed,
            "DocuSign rejected signgate's access token.".into(),
        ),
        400 | 403 | 404 => match error_details(&answer.body) {
            Some(details) => by_error_code(&details, received, status),
            None => match status {
                400 => failed(
                    ErrorCode::Rejected,
                    "DocuSign rejected the request as invalid.".into(),
                ),
                403 => failed(
                    ErrorCode::VendorAuthFailed,
                    "DocuSign refused signgate's credentials.".into(),
                ),
                _ => Err(http::common_error(answer)),
            },
        },
        0..=199 | 300..=399 | 402 | 405..=u16::MAX => Err(http::common_error(answer)),
    }
}

fn by_error_code(details: &ErrorDetails, received: &Received, status: u16) -> Reply {
    let code = http::excerpt(&details.error_code);
    let failed = |error: ErrorCode, message: String| {
        Ok(Answer {
            outcome: Outcome::failed(error, message),
            http_status: status,
        })
    };
    match error_class(&details.error_code) {
        // Voided, completed, declined or draft: the policy's status read tells which.
        ErrorClass::InvalidState => failed(
            ErrorCode::VendorRefused,
            "DocuSign voids only sent or delivered envelopes.".into(),
        ),
        ErrorClass::DoesNotExist => failed(
            ErrorCode::NotFound,
            "DocuSign does not know this envelope.".into(),
        ),
        ErrorClass::Auth => failed(
            ErrorCode::VendorAuthFailed,
            format!("DocuSign refused signgate's credentials ({code})."),
        ),
        ErrorClass::RateLimit => Err(UpstreamError::RateLimited {
            retry_after: received.raw.retry_after.or(received.reset_in),
        }),
        ErrorClass::Other => failed(
            ErrorCode::Rejected,
            format!(
                "DocuSign rejected the request ({code}: {}).",
                http::excerpt(&details.message)
            ),
        ),
    }
}

/// Reads a `GET …/envelopes/{id}` answer.
fn classify_status(received: &Received) -> Result<DocState, UpstreamError> {
    let answer = &received.raw;
    let status = answer.status.as_u16();
    match status {
        200..=299 => {
            let envelope: EnvelopeBody = serde_json::from_slice(&answer.body)
                .map_err(|_| UpstreamError::BadResponse { status })?;
            state_of(&envelope.status).ok_or(UpstreamError::BadResponse { status })
        }
        400 | 404 => match error_details(&answer.body).map(|d| error_class(&d.error_code)) {
            Some(ErrorClass::DoesNotExist) => Ok(DocState::NotFound),
            Some(ErrorClass::RateLimit) => Err(UpstreamError::RateLimited {
                retry_after: answer.retry_after.or(received.reset_in),
            }),
            Some(ErrorClass::InvalidState | ErrorClass::Auth | ErrorClass::Other) | None => {
                Err(UpstreamError::BadResponse { status })
            }
        },
        0..=199 | 300..=399 | 401..=403 | 405..=u16::MAX => Err(http::common_error(answer)),
    }
}

/// An envelope `status` as a document state.
fn state_of(status: &str) -> Option<DocState> {
    Some(match status.to_ascii_lowercase().as_str() {
        "sent" | "delivered" => DocState::InProgress,
        "completed" | "signed" => DocState::Signed,
        "voided" => DocState::Cancelled,
        // A declined envelope and a draft cannot be voided.
        "declined" | "created" => DocState::Closed,
        _ => return None,
    })
}

// ---- wire types ------------------------------------------------------------------------------

/// The void: exactly these two fields (never the whole envelope).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VoidBody<'a> {
    status: &'static str,
    voided_reason: &'a str,
}

#[derive(Deserialize)]
struct EnvelopeBody {
    status: String,
}
