//! Acrobat Sign REST v6: one agreement per cancel call (`PUT …/agreements/{id}/state` with
//! `{"state":"CANCELLED","agreementCancellationInfo":{…}}`, `204` on success), a Bearer token
//! from the refresh grant, the account's API host from `GET /api/rest/v6/baseUris`, and
//! failures as `{"code","message"}`. Docs:
//! <https://secure.na1.adobesign.com/public/docs/restapi/v6#!/agreements/updateAgreementState>,
//! <https://opensource.adobe.com/acrobat-sign/developer_guide/best-practices.html>.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, Method};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::AdobeSignSettings;
use crate::model::{ErrorCode, Outcome};
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::learned_host::HostRule;
use crate::vendors::settings::VendorSettings;
use crate::vendors::{
    one_by_one, Answer, Batch, CallContext, DocState, Reply, UpstreamError, Vendor,
};

mod classify;
pub mod token;

use classify::{classify, classify_status, error_class, ErrorClass};
use token::{AuthError, Tokens};

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

/// Hosts without a shard: a `base_url` naming one means "find the account's host first".
const SHARDLESS_HOSTS: [&str; 2] = ["api.adobesign.com", "api.echosign.com"];

/// Where `baseUris` names access points: `api.{shard}.adobesign.com`, the older
/// `api.{shard}.echosign.com`, and Sign for Government's `api.{shard}.adobesign.us`
/// (<https://opensource.adobe.com/acrobat-sign/signgov/diffs.html>).
const ADOBE_DOMAINS: &[&str] = &["adobesign.com", "echosign.com", "adobesign.us"];

// ---- client --------------------------------------------------------------------------------

/// An Acrobat Sign account: its token source, its API host (configured or discovered), pool.
pub struct AdobeSign {
    client: Client,
    tokens: Tokens,
    /// `base_url`, without a trailing `/`: where `baseUris` is asked.
    base_url: String,
    /// The API host in use, without a trailing `/`; `None` until `baseUris` names it.
    access_point: Mutex<Option<String>>,
    /// Where an `apiAccessPoint` from `baseUris` may lie.
    hosts: HostRule,
}

impl fmt::Debug for AdobeSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdobeSign")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl AdobeSign {
    /// Builds the client; the settings have credentials (`has_credentials`).
    pub fn new(settings: &VendorSettings, adobe: &AdobeSignSettings) -> Self {
        let base_url = settings.base_url.trim_end_matches('/').to_owned();
        let shardless = reqwest::Url::parse(&base_url)
            .ok()
            .and_then(|url| url.host_str().map(|h| SHARDLESS_HOSTS.contains(&h)))
            .unwrap_or(false);
        Self {
            client: http::client(settings),
            tokens: Tokens::new(adobe, &adobe.token_host(&base_url)),
            access_point: Mutex::new((!shardless).then(|| base_url.clone())),
            hosts: HostRule::new(&base_url, ADOBE_DOMAINS, &adobe.allowed_hosts),
            base_url,
        }
    }

    /// The API host in use: the cached one, or the one `baseUris` names (asked by one caller).
    async fn access_point(&self, request_id: &str) -> Result<String, AuthError> {
        let mut point = self.access_point.lock().await;
        if let Some(host) = point.as_ref() {
            return Ok(host.clone());
        }
        let host = self.discover(request_id).await?;
        tracing::info!(host = %host, "Acrobat Sign API host found.");
        *point = Some(host.clone());
        Ok(host)
    }

    /// Forgets `used` after `INVALID_API_ACCESS_POINT`, unless another caller replaced it.
    async fn forget(&self, used: &str) {
        let mut point = self.access_point.lock().await;
        if point.as_deref() == Some(used) {
            *point = None;
        }
    }

    /// `GET {base_url}/api/rest/v6/baseUris`: the account's `apiAccessPoint` (any host answers).
    async fn discover(&self, request_id: &str) -> Result<String, AuthError> {
        let token = self.tokens.get(&self.client, request_id).await?;
        let request = self
            .client
            .get(format!("{}/api/rest/v6/baseUris", self.base_url))
            .bearer_auth(token.expose_secret());
        let answer = http::send(request, request_id)
            .await
            .map_err(|_| AuthError::Upstream(UpstreamError::Connect))?;
        let status = answer.status.as_u16();
        match status {
            200..=299 => {
                let uris = serde_json::from_slice::<BaseUris>(&answer.body)
                    .map_err(|_| AuthError::Upstream(UpstreamError::BadResponse { status }))?;
                self.hosts.check(&uris.api_access_point).map_err(|refused| {
                    tracing::warn!(refused = %refused, "Acrobat Sign's baseUris named an API host signgate refuses; nothing was sent to it.");
                    AuthError::UntrustedHost {
                        status,
                        message: format!(
                            "Acrobat Sign's baseUris named an API host signgate refuses: \
                             {refused}; nothing was sent to it."
                        ),
                    }
                })
            }
            401 | 403 => Err(AuthError::Refused {
                status,
                message: "Acrobat Sign refused the access token at baseUris.".into(),
            }),
            0..=199 | 300..=399 | 400 | 402 | 404..=u16::MAX => {
                Err(AuthError::Upstream(http::common_error(&answer)))
            }
        }
    }

    /// One call on an agreement (`suffix` after its ID), with one new token after a `401`,
    /// `INVALID_ACCESS_TOKEN` or `PERMISSION_DENIED`, and one new host after
    /// `INVALID_API_ACCESS_POINT` (Acrobat Sign processed none of them).
    async fn call(
        &self,
        method: Method,
        code: &str,
        suffix: &str,
        body: Option<&StateBody<'_>>,
        request_id: &str,
    ) -> Result<Received, AuthError> {
        let (mut renewed, mut moved) = (false, false);
        loop {
            let host = self.access_point(request_id).await?;
            let token = self.tokens.get(&self.client, request_id).await?;
            let url = format!("{host}/api/rest/v6/agreements/{code}{suffix}");
            let mut request = self
                .client
                .request(method.clone(), &url)
                .bearer_auth(token.expose_secret());
            if let Some(body) = body {
                request = request.json(body);
            }
            let raw = http::send(request, request_id)
                .await
                .map_err(AuthError::Upstream)?;
            let received = Received::read(raw);
            let refused = received.raw.status == 401 || received.class() == Some(ErrorClass::Auth);
            if refused && !renewed {
                tracing::info!("Acrobat Sign refused the access token; refreshing it.");
                self.tokens.discard(&token).await;
                renewed = true;
                continue;
            }
            if received.class() == Some(ErrorClass::WrongHost) && !moved {
                tracing::info!(host = %host, "Acrobat Sign says the account lives elsewhere; asking baseUris.");
                self.forget(&host).await;
                moved = true;
                continue;
            }
            return Ok(received);
        }
    }

    async fn cancel_one(&self, code: &str, batch: &Batch<'_>) -> Reply {
        let body = StateBody {
            state: "CANCELLED",
            agreement_cancellation_info: CancellationInfo {
                comment: batch.message,
                notify_others: batch.notify_signers,
            },
        };
        match self
            .call(
                Method::PUT,
                code,
                "/state",
                Some(&body),
                batch.ctx.request_id,
            )
            .await
        {
            Ok(received) => classify(&received),
            Err(AuthError::Refused { status, message }) => Ok(Answer {
                outcome: Outcome::failed(ErrorCode::VendorAuthFailed, message),
                http_status: status,
            }),
            Err(AuthError::UntrustedHost { status, message }) => Ok(Answer {
                outcome: Outcome::failed(ErrorCode::VendorBadResponse, message),
                http_status: status,
            }),
            Err(AuthError::Upstream(e)) => Err(e),
        }
    }
}

/// An answer with its `{"code","message","retryAfter"}` body, if it had one.
#[derive(Debug)]
struct Received {
    raw: RawAnswer,
    error: Option<ErrorBody>,
}

impl Received {
    fn read(raw: RawAnswer) -> Self {
        let error = (raw.status.as_u16() >= 400)
            .then(|| serde_json::from_slice::<ErrorBody>(&raw.body).ok())
            .flatten();
        Self { raw, error }
    }

    fn class(&self) -> Option<ErrorClass> {
        self.error.as_ref().map(|e| error_class(&e.code))
    }

    /// `Retry-After`, else the body's `retryAfter` (seconds; Acrobat Sign sends both).
    fn retry_after(&self) -> Option<Duration> {
        self.raw.retry_after.or_else(|| {
            self.error
                .as_ref()
                .and_then(|e| e.retry_after)
                .map(http::wait_secs)
        })
    }
}

// ---- trait impl ------------------------------------------------------------------------------

#[async_trait]
impl Vendor for AdobeSign {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        one_by_one(batch, |code| self.cancel_one(code, batch)).await
    }

    fn can_read_status(&self) -> bool {
        true
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        match self.call(Method::GET, code, "", None, ctx.request_id).await {
            Ok(received) => classify_status(&received),
            Err(AuthError::Refused { status, .. } | AuthError::UntrustedHost { status, .. }) => {
                Err(UpstreamError::BadResponse { status })
            }
            Err(AuthError::Upstream(e)) => Err(e),
        }
    }
}

// ---- wire types ------------------------------------------------------------------------------

/// `AgreementStateInfo`: exactly the state and the cancellation info.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StateBody<'a> {
    state: &'static str,
    agreement_cancellation_info: CancellationInfo<'a>,
}

/// `AgreementCancellationInfo`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancellationInfo<'a> {
    comment: &'a str,
    notify_others: bool,
}

/// Acrobat Sign's error body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    retry_after: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct AgreementBody {
    pub(super) status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BaseUris {
    api_access_point: String,
}
