//! D4Sign API v1: one document per cancel call (`POST /documents/{uuid}/cancel` with
//! `{"comment"}`), the credentials as the `tokenAPI` and `cryptKey` query parameters of every
//! call, errors that may come as a `200` (`{"message", "mensagem_pt"}`), and a status read
//! (`GET /documents/{uuid}`) keyed on `statusId`. Docs: <https://docapi.d4sign.com.br/docs>,
//! <https://docapi.d4sign.com.br/docs/endpoints-2>.
//!
//! The credentials travel in the URL, so no URL of this client is ever logged or kept:
//! `http::send` drops reqwest's error text (which holds the URL), and redirects are never
//! followed (a `Location` may carry the query on to an address nobody configured).

use std::fmt;

use async_trait::async_trait;
use reqwest::{Client, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Map, Value};

use super::D4SignSettings;
use crate::model::{ErrorCode, Outcome};
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::kind::is_uuid;
use crate::vendors::settings::VendorSettings;
use crate::vendors::{
    one_by_one, Answer, Batch, CallContext, DocState, Reply, UpstreamError, Vendor,
};

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

// ---- client --------------------------------------------------------------------------------

/// A D4Sign account: its base URL, API token, crypt key and connection pool.
pub struct D4Sign {
    client: Client,
    base_url: String,
    token_api: SecretString,
    crypt_key: SecretString,
}

impl fmt::Debug for D4Sign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("D4Sign")
            .field("base_url", &self.base_url)
            .field("token_api", &"[redacted]")
            .field("crypt_key", &"[redacted]")
            .finish()
    }
}

impl D4Sign {
    /// Builds the client; the settings have both credentials (`has_credentials`).
    pub fn new(settings: &VendorSettings, d4sign: &D4SignSettings) -> Self {
        Self {
            client: http::client(settings),
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            token_api: d4sign.token_api.clone().unwrap_or_default(),
            crypt_key: d4sign.crypt_key.clone().unwrap_or_default(),
        }
    }

    /// `{base}/documents/{uuid}{tail}` with the credentials in the query, as D4Sign wants them
    /// on every call ("Não esqueça de enviar o tokenAPI e cryptKey em sua requisição").
    fn request(&self, method: reqwest::Method, uuid: &str, tail: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}/documents/{uuid}{tail}", self.base_url))
            .query(&[
                ("tokenAPI", self.token_api.expose_secret()),
                ("cryptKey", self.crypt_key.expose_secret()),
            ])
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// The credentials, to keep them out of any vendor text signgate repeats.
    fn secrets(&self) -> [&str; 2] {
        [
            self.token_api.expose_secret(),
            self.crypt_key.expose_secret(),
        ]
    }

    async fn cancel_one(&self, uuid: &str, batch: &Batch<'_>) -> Reply {
        if !is_uuid(uuid) {
            return Ok(not_a_uuid());
        }
        let request = self
            .request(reqwest::Method::POST, uuid, "/cancel")
            .json(&CancelBody {
                comment: batch.message,
            });
        classify(
            &http::send(request, batch.ctx.request_id).await?,
            self.secrets(),
        )
    }
}

// ---- trait impl ------------------------------------------------------------------------------

#[async_trait]
impl Vendor for D4Sign {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        one_by_one(batch, |code| self.cancel_one(code, batch)).await
    }

    fn malformed_code(&self, code: &str) -> Option<&'static str> {
        (!is_uuid(code)).then_some(NOT_A_UUID)
    }

    fn can_read_status(&self) -> bool {
        true
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        // D4Sign's ids are UUIDs: it holds nothing else, and nothing else goes in its URLs.
        if !is_uuid(code) {
            return Ok(DocState::NotFound);
        }
        let request = self.request(reqwest::Method::GET, code, "");
        classify_status(&http::send(request, ctx.request_id).await?, code)
    }
}

/// Why a code that is not a UUID is never sent: D4Sign would refuse it as invalid (a `4xx`),
/// and a free-form path segment has no place in a URL carrying the credentials.
const NOT_A_UUID: &str = "D4Sign document ids are UUIDs; this code was not sent.";

/// The answer to a direct call with a code that is not a UUID (the gateway never makes one:
/// it checks `malformed_code` first).
fn not_a_uuid() -> Answer {
    Answer {
        outcome: Outcome::failed(ErrorCode::Rejected, NOT_A_UUID),
        http_status: 400,
    }
}

// ---- classification -------------------------------------------------------------------------

/// What a D4Sign answer's body says, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Said {
    /// `{"message": "success"}` (or another message saying success, without `mensagem_pt`).
    Success,
    /// An error: `{"message", "mensagem_pt"}` (`paired`) as D4Sign sends even with a `200`,
    /// or a lone `{"message"}`, D4Sign's documented `4xx` body.
    Error {
        text: String,
        credentials: bool,
        paired: bool,
    },
    /// Nothing that can be read as either (not JSON, HTML, another shape).
    Unclear,
}

/// Reads a body. The pair `message` + `mensagem_pt` is D4Sign's error signal: `message` alone
/// also comes with successes (`{"message": "success"}`), so it is not one.
fn said(body: &[u8]) -> Said {
    let Some(fields) = object_of(body) else {
        return Said::Unclear;
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::trim);
    match (text("message"), text("mensagem_pt")) {
        (message, Some(pt)) => error(message.unwrap_or_default(), pt, true),
        (Some(message), None) if says_success(message) => Said::Success,
        (Some(message), None) => error(message, "", false),
        (None, None) => Said::Unclear,
    }
}

fn error(message: &str, pt: &str, paired: bool) -> Said {
    let both = format!("{message} {pt}").to_lowercase();
    // The wording D4Sign uses for bad credentials ("API error: Check API user.",
    // "Chave de API inválida."), and what clients report for a wrong token.
    let credentials = [
        "check api user",
        "chave de api",
        "token inválido",
        "token invalido",
        "invalid token",
    ]
    .iter()
    .any(|marker| both.contains(marker));
    let text = if pt.is_empty() { message } else { pt };
    Said::Error {
        text: text.to_owned(),
        credentials,
        paired,
    }
}

/// A vendor message fit for an outcome (shown to clients, kept in the audit trail): never a
/// credential, even if D4Sign echoes the request's URL or parameters back.
fn shown(text: &str, secrets: [&str; 2]) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    let lower = clean.to_lowercase();
    if lower.contains("tokenapi") || lower.contains("cryptkey") {
        return String::new();
    }
    let scrubbed = secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(clean, |text, secret| text.replace(secret, "[redacted]"));
    http::excerpt(&scrubbed)
}

/// `success` (what D4Sign sends), or a Portuguese "... com sucesso" that is not negated; never
/// a mere substring ("unsuccessful", "sem sucesso"): an unclear message gets a status read.
fn says_success(message: &str) -> bool {
    let message = message.to_lowercase();
    let message = message.trim_end_matches(['.', '!']).trim();
    let negated = ["não", "nao", "sem sucesso"]
        .iter()
        .any(|n| message.contains(n));
    matches!(message, "success" | "sucesso") || (message.contains("com sucesso") && !negated)
}

/// The JSON object of a body: an object, or the one object of a one-element array (the shape
/// of D4Sign's live answers).
fn object_of(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::Object(map) => Some(map),
        Value::Array(mut items) if items.len() == 1 => match items.remove(0) {
            Value::Object(map) => Some(map),
            _ => None,
        },
        _ => None,
    }
}

/// The one table for cancel answers: the status, then what the body says. D4Sign documents
/// neither its success body nor any refusal, so a refusal is `vendor_refused` and the policy's
/// status read settles it (`already_cancelled`, `already_signed`, `not_cancellable`,
/// `not_found`); an unclear `200` is a bad response, reconciled by a status read as well.
fn classify(answer: &RawAnswer, secrets: [&str; 2]) -> Reply {
    let status = answer.status.as_u16();
    let failed = |code: ErrorCode, message: String| {
        Ok(Answer {
            outcome: Outcome::failed(code, message),
            http_status: status,
        })
    };
    let auth_failed = || {
        failed(
            ErrorCode::VendorAuthFailed,
            "D4Sign rejected signgate's credentials (tokenAPI, cryptKey).".into(),
        )
    };
    let refused = |text: String| {
        let text = shown(&text, secrets);
        let message = match text.is_empty() {
            true => "D4Sign refused the cancel.".to_owned(),
            false => format!("D4Sign refused the cancel ({text})."),
        };
        failed(ErrorCode::VendorRefused, message)
    };
    match status {
        200..=299 => match said(&answer.body) {
            Said::Success => Ok(Answer {
                outcome: Outcome::Cancelled,
                http_status: status,
            }),
            Said::Error {
                credentials: true, ..
            } => auth_failed(),
            Said::Error {
                text, paired: true, ..
            } => refused(text),
            // A lone `message` that does not say success: unclear, the status read decides.
            Said::Error { paired: false, .. } | Said::Unclear => {
                Err(UpstreamError::BadResponse { status })
            }
        },
        401 | 403 => auth_failed(),
        400 | 404 | 409 | 410 | 422 => match said(&answer.body) {
            Said::Error {
                credentials: true, ..
            } => auth_failed(),
            Said::Error { text, .. } => refused(text),
            Said::Success | Said::Unclear => refused(String::new()),
        },
        0..=199 | 300..=399 | 402 | 405..=408 | 411..=421 | 423..=u16::MAX => {
            Err(http::common_error(answer))
        }
    }
}

/// Reads a `GET /documents/{uuid}` answer: a one-element array live (an object in the docs),
/// an empty array for a document the account does not hold.
fn classify_status(answer: &RawAnswer, uuid: &str) -> Result<DocState, UpstreamError> {
    let status = answer.status.as_u16();
    let bad = UpstreamError::BadResponse { status };
    match status {
        200..=299 => {
            if let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&answer.body) {
                if items.is_empty() {
                    return Ok(DocState::NotFound);
                }
            }
            let document = object_of(&answer.body).ok_or_else(|| bad.clone())?;
            let field = |name: &str| match document.get(name) {
                Some(Value::String(s)) => Some(s.trim().to_owned()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            // Another document's answer is not this one's state.
            if field("uuidDoc").is_some_and(|id| !id.eq_ignore_ascii_case(uuid)) {
                return Err(bad);
            }
            field("statusId").and_then(|id| state_of(&id)).ok_or(bad)
        }
        404 => Ok(DocState::NotFound),
        0..=199 | 300..=399 | 400..=403 | 405..=u16::MAX => Err(http::common_error(answer)),
    }
}

/// A `statusId` as a document state: `1` Processando, `2` Aguardando Signatários, `3`
/// Aguardando Assinaturas, `4` Finalizado, `5` Arquivado, `6` Cancelado. Never `statusName`,
/// which is localised.
fn state_of(status_id: &str) -> Option<DocState> {
    Some(match status_id {
        "1" | "2" | "3" => DocState::InProgress,
        "4" => DocState::Signed,
        // Archived: kept, no longer in any signing flow, so not cancellable.
        "5" => DocState::Closed,
        "6" => DocState::Cancelled,
        _ => return None,
    })
}

// ---- wire types ------------------------------------------------------------------------------

#[derive(Serialize)]
struct CancelBody<'a> {
    comment: &'a str,
}
