//! Where a DocuSign account's envelopes live: `GET {oauth}/oauth/userinfo` names each of the
//! user's accounts and its `base_uri`, used only inside the rule of `learned_host`. Docs:
//! <https://developers.docusign.com/platform/auth/reference/user-info/>.

use secrecy::ExposeSecret;
use serde::Deserialize;

use super::token::AuthError;
use super::{Account, DocuSign};
use crate::vendors::http;
use crate::vendors::UpstreamError;

/// Where userinfo's `base_uri` lives: `https://{server}.docusign.net` (`demo`, `na2`, `eu`, ...;
/// <https://developers.docusign.com/platform/auth/reference/user-info/>).
pub(super) const DOCUSIGN_DOMAINS: &[&str] = &["docusign.net"];

impl DocuSign {
    /// `GET {oauth}/oauth/userinfo`: the `base_uri` of `account_id`, or of the default account.
    pub(super) async fn discover(&self, request_id: &str) -> Result<Account, AuthError> {
        let token = self.tokens.get(&self.client, request_id).await?;
        let request = self
            .client
            .get(format!("{}/oauth/userinfo", self.oauth_base_url))
            .bearer_auth(token.expose_secret());
        let answer = http::send(request, request_id)
            .await
            .map_err(|_| AuthError::Upstream(UpstreamError::Connect))?;
        let status = answer.status.as_u16();
        match status {
            200..=299 => {
                let info: UserInfo = serde_json::from_slice(&answer.body)
                    .map_err(|_| AuthError::Upstream(UpstreamError::BadResponse { status }))?;
                let found = info.accounts.iter().find(|a| match &self.account_id {
                    Some(id) => &a.account_id == id,
                    None => a.is_default.is_default(),
                });
                let Some(account) = found else {
                    return Err(AuthError::Refused {
                        status,
                        message: "The DocuSign user has no such account (account_id).".into(),
                    });
                };
                let base = match &self.base_url {
                    Some(base) => base.clone(),
                    None => self.hosts.check(&account.base_uri).map_err(|refused| {
                        tracing::warn!(refused = %refused, "DocuSign's userinfo named a REST host signgate refuses; nothing was sent to it.");
                        AuthError::UntrustedHost {
                            status,
                            message: format!(
                                "DocuSign's userinfo named a REST host signgate refuses: \
                                 {refused}; nothing was sent to it."
                            ),
                        }
                    })?,
                };
                tracing::info!(account = %account.account_id, base = %base, "DocuSign account found.");
                Ok(Account::at(&base, &account.account_id))
            }
            401 | 403 => Err(AuthError::Refused {
                status,
                message: "DocuSign refused the access token at /oauth/userinfo.".into(),
            }),
            0..=199 | 300..=399 | 400 | 402 | 404..=u16::MAX => {
                Err(AuthError::Upstream(http::common_error(&answer)))
            }
        }
    }
}

impl Account {
    pub(super) fn at(base: &str, id: &str) -> Self {
        Self {
            envelopes: format!("{}/restapi/v2.1/accounts/{id}", base.trim_end_matches('/')),
        }
    }
}

// ---- wire types ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct UserInfo {
    #[serde(default)]
    accounts: Vec<UserAccount>,
}

#[derive(Deserialize)]
struct UserAccount {
    account_id: String,
    #[serde(default)]
    is_default: Flag,
    base_uri: String,
}

/// `is_default`: a boolean, or the string `"true"` as older answers spell it.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
    #[default]
    Missing,
}

impl Flag {
    fn is_default(&self) -> bool {
        match self {
            Self::Bool(b) => *b,
            Self::Text(t) => t.eq_ignore_ascii_case("true"),
            Self::Missing => false,
        }
    }
}
