//! What every adapter shares on the wire: client building, sending with a bounded body, and
//! the status rows common to all vendors.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, StatusCode};

use super::error::UpstreamError;
use super::settings::VendorSettings;

/// `User-Agent` of every outbound call (ZapSign requires one).
pub const USER_AGENT: &str = concat!("signgate/", env!("CARGO_PKG_VERSION"));

/// Largest vendor answer read; a longer one is a bad response.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// One vendor's client: its own connection pool, its connect and total timeouts.
pub fn client(settings: &VendorSettings) -> Client {
    Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(settings.connect_timeout())
        .timeout(settings.timeout())
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|e| panic!("the HTTP client cannot be built: {e}"))
}

/// A vendor's answer, read in full.
#[derive(Debug)]
pub struct RawAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The parsed `Retry-After`, if any.
    pub retry_after: Option<Duration>,
    /// The body, at most 1 MiB.
    pub body: Bytes,
}

/// Sends a request with the request id and reads the whole answer.
pub async fn send(request: RequestBuilder, request_id: &str) -> Result<RawAnswer, UpstreamError> {
    send_keeping_headers(request, request_id)
        .await
        .map(|(answer, _)| answer)
}

/// `send`, also handing back the answer's headers, for a vendor that says more in them than
/// `Retry-After` (`X-RateLimit-Reset`: `rate_limit_reset`).
pub async fn send_keeping_headers(
    request: RequestBuilder,
    request_id: &str,
) -> Result<(RawAnswer, HeaderMap), UpstreamError> {
    let mut response = request
        .header("X-Request-Id", request_id)
        .send()
        .await
        .map_err(|e| transport_error(&e))?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let headers = std::mem::take(response.headers_mut());
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(UpstreamError::BadResponse {
                status: status.as_u16(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    let answer = RawAnswer {
        status,
        retry_after,
        body: body.freeze(),
    };
    Ok((answer, headers))
}

/// The wait until `X-RateLimit-Reset` (Unix seconds, as DocuSign and Dropbox Sign send it;
/// header names are case-insensitive) from `now`: zero when it has passed.
pub fn rate_limit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let reset: u64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let at = UNIX_EPOCH + Duration::from_secs(reset);
    Some(at.duration_since(now).unwrap_or_default())
}

/// Sorts a reqwest failure by what it says about the request having been sent. The error's
/// text (which may hold the URL) is dropped.
fn transport_error(e: &reqwest::Error) -> UpstreamError {
    if e.is_connect() {
        UpstreamError::Connect
    } else if e.is_timeout() {
        UpstreamError::Timeout
    } else {
        UpstreamError::Transport
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// The rows of the status table every vendor shares: `429` and `5xx`, and anything else
/// undocumented. Adapters call this for the statuses they do not document themselves.
pub fn common_error(answer: &RawAnswer) -> UpstreamError {
    let status = answer.status.as_u16();
    match status {
        429 => UpstreamError::RateLimited {
            retry_after: answer.retry_after,
        },
        500..=599 => UpstreamError::Server {
            status,
            retry_after: answer.retry_after,
        },
        0..=428 | 430..=499 | 600..=u16::MAX => UpstreamError::BadResponse { status },
    }
}

/// A short, printable excerpt of a vendor-supplied message field, safe to show a client.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    let clean: String = text.chars().filter(|c| !c.is_control()).take(MAX).collect();
    clean.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_reset_header_is_unix_seconds_and_a_past_one_waits_nothing() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut headers = HeaderMap::new();
        headers.insert("X-Ratelimit-Reset", HeaderValue::from_static("1030"));
        assert_eq!(
            rate_limit_reset(&headers, now),
            Some(Duration::from_secs(30))
        );
        headers.insert("X-Ratelimit-Reset", HeaderValue::from_static("900"));
        assert_eq!(rate_limit_reset(&headers, now), Some(Duration::ZERO));
        headers.insert("X-Ratelimit-Reset", HeaderValue::from_static("soon"));
        assert_eq!(rate_limit_reset(&headers, now), None);
        assert_eq!(rate_limit_reset(&HeaderMap::new(), now), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_ignores_garbage() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn excerpt_drops_control_characters_and_bounds_length() {
        assert_eq!(excerpt("a\nb"), "ab");
        assert_eq!(excerpt(&"x".repeat(500)).len(), 200);
    }
}
