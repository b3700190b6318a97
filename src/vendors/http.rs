//! What every adapter shares on the wire: client building, sending with a bounded body, and
//! the status rows common to all vendors.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, StatusCode};

use super::error::UpstreamError;
use super::settings::VendorSettings;

/// `User-Agent` of every outbound call (ZapSign requires one).
pub const USER_AGENT: &str = concat!("signgate/", env!("CARGO_PKG_VERSION"));

/// Largest vendor answer read; a longer one is a bad response.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Longest wait signgate takes from a vendor (`Retry-After`, a rate-limit reset, Acrobat Sign's
/// `retryAfter`): a longer one is this. A wait past the request's deadline is not waited at
/// all: the document fails, retryable, with this wait at most.
pub const MAX_VENDOR_WAIT: Duration = Duration::from_secs(3600);

/// Longest life signgate grants a vendor's access token: a longer `expires_in` is a day.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// One vendor's client: its own connection pool, its connect and total timeouts, and never
/// following a redirect, without a `Referer`. A `3xx` is not the vendor's answer: following it
/// would re-send the call (a `307` keeps the method, the body and, on the same host, the
/// credentials; a token refresh carries the client secret in its body) to an address nobody
/// configured, and take that address's answer for the vendor's. Every adapter and every token
/// endpoint uses this client, so a `3xx` reaches `common_error` as `BadResponse`.
pub fn client(settings: &VendorSettings) -> Client {
    Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(settings.connect_timeout())
        .timeout(settings.timeout())
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
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
    Some(wait_until_unix(reset, now))
}

/// A wait a vendor gave in seconds, at most `MAX_VENDOR_WAIT`.
pub fn wait_secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds).min(MAX_VENDOR_WAIT)
}

/// The wait from `now` until the Unix second `at`: zero when it has passed, at most
/// `MAX_VENDOR_WAIT` (also when `at` is beyond what the clock can hold).
pub fn wait_until_unix(at: u64, now: SystemTime) -> Duration {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(at))
        .map_or(MAX_VENDOR_WAIT, |at| {
            at.duration_since(now)
                .unwrap_or_default()
                .min(MAX_VENDOR_WAIT)
        })
}

/// Whether the Unix second `at` has passed at `now`; one beyond what the clock can hold has not.
pub fn unix_passed(at: u64, now: SystemTime) -> bool {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(at))
        .is_some_and(|at| at <= now)
}

/// A token's `expires_in` (seconds), at most `MAX_TOKEN_LIFETIME`.
pub fn token_lifetime(seconds: u64) -> Duration {
    Duration::from_secs(seconds).min(MAX_TOKEN_LIFETIME)
}

/// When a token of this lifetime, fetched at `now`, is renewed: `margin` before it expires, at
/// most half its life before. An instant the clock cannot hold renews at once.
pub fn renew_at(now: Instant, lifetime: Duration, margin: Duration) -> Instant {
    let margin = margin.min(lifetime / 2);
    now.checked_add(lifetime.saturating_sub(margin))
        .unwrap_or(now)
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

/// `Retry-After` as seconds or an HTTP date, at most `MAX_VENDOR_WAIT`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

/// `retry_after` with the clock given.
fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        // Digits too many for a u64 are still a (very long) wait.
        return Some(value.parse().map_or(MAX_VENDOR_WAIT, wait_secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or_default()
            .min(MAX_VENDOR_WAIT),
    )
}

/// The rows of the status table every vendor shares: `3xx`, `429` and `5xx`, and anything else
/// undocumented. Adapters call this for the statuses they do not document themselves.
pub fn common_error(answer: &RawAnswer) -> UpstreamError {
    let status = answer.status.as_u16();
    match status {
        // A redirect (never followed: `client`) says nothing of what the vendor did with the
        // call: a bad response, ambiguous, settled by a status read and never re-sent blindly.
        300..=399 => UpstreamError::BadResponse { status },
        429 => UpstreamError::RateLimited {
            retry_after: answer.retry_after,
        },
        500..=599 => UpstreamError::Server {
            status,
            retry_after: answer.retry_after,
        },
        0..=299 | 400..=428 | 430..=499 | 600..=u16::MAX => UpstreamError::BadResponse { status },
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
    fn absurd_retry_after_values_are_capped_at_an_hour_and_never_overflow() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut headers = HeaderMap::new();
        for absurd in ["18446744073709551615", "99999999999999999999999999", "3601"] {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(absurd));
            assert_eq!(
                retry_after_at(&headers, now),
                Some(MAX_VENDOR_WAIT),
                "{absurd}"
            );
        }
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"),
        );
        assert_eq!(retry_after_at(&headers, now), Some(MAX_VENDOR_WAIT));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after_at(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(""));
        assert_eq!(retry_after_at(&headers, now), None);
    }

    #[test]
    fn an_absurd_reset_is_an_hour_and_never_overflows_the_clock() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut headers = HeaderMap::new();
        headers.insert(
            "X-Ratelimit-Reset",
            HeaderValue::from_static("18446744073709551615"),
        );
        assert_eq!(rate_limit_reset(&headers, now), Some(MAX_VENDOR_WAIT));
        assert_eq!(wait_until_unix(u64::MAX, now), MAX_VENDOR_WAIT);
        assert_eq!(wait_until_unix(1_000 + 7_200, now), MAX_VENDOR_WAIT);
        assert_eq!(wait_until_unix(1_010, now), Duration::from_secs(10));
        assert_eq!(wait_secs(u64::MAX), MAX_VENDOR_WAIT);
    }

    #[test]
    fn a_unix_second_beyond_the_clock_has_not_passed() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert!(!unix_passed(u64::MAX, now));
        assert!(unix_passed(1_000, now));
        assert!(!unix_passed(1_001, now));
    }

    #[test]
    fn a_token_lives_at_most_a_day_and_its_renewal_never_overflows() {
        let margin = Duration::from_secs(300);
        assert_eq!(token_lifetime(u64::MAX), MAX_TOKEN_LIFETIME);
        assert_eq!(token_lifetime(3600), Duration::from_secs(3600));
        let now = Instant::now();
        let day = renew_at(now, token_lifetime(u64::MAX), margin);
        assert_eq!(day - now, MAX_TOKEN_LIFETIME - margin);
        assert_eq!(
            renew_at(now, Duration::from_secs(60), margin) - now,
            Duration::from_secs(30)
        );
        assert_eq!(
            renew_at(now, Duration::MAX, margin),
            now,
            "unrepresentable: renew at once"
        );
    }

    #[test]
    fn every_redirect_is_a_bad_response_whatever_its_retry_after() {
        for status in [300, 301, 302, 303, 304, 307, 308, 399] {
            let answer = RawAnswer {
                status: StatusCode::from_u16(status).expect("a status"),
                retry_after: Some(Duration::from_secs(1)),
                body: Bytes::new(),
            };
            let error = common_error(&answer);
            assert_eq!(error, UpstreamError::BadResponse { status });
            assert!(error.is_ambiguous(), "a redirect is never re-sent blindly");
        }
    }

    #[test]
    fn excerpt_drops_control_characters_and_bounds_length() {
        assert_eq!(excerpt("a\nb"), "ab");
        assert_eq!(excerpt(&"x".repeat(500)).len(), 200);
    }

    mod properties {
        //! Arbitrary headers and statuses: no panic, never a wait beyond the cap, and the
        //! shared status rows always the same.
        use super::*;
        use proptest::prelude::*;

        fn headers_with(name: &'static str, value: &[u8]) -> HeaderMap {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.insert(name, value);
            }
            headers
        }

        fn at(seconds: u64) -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(seconds)
        }

        proptest! {
            #[test]
            fn no_header_value_panics_or_asks_more_than_the_cap(
                value in proptest::collection::vec(any::<u8>(), 0..48),
                now in 0u64..=4_102_444_800,
            ) {
                let retry = retry_after_at(&headers_with("retry-after", &value), at(now));
                prop_assert!(retry.is_none_or(|wait| wait <= MAX_VENDOR_WAIT));
                let reset = rate_limit_reset(&headers_with("x-ratelimit-reset", &value), at(now));
                prop_assert!(reset.is_none_or(|wait| wait <= MAX_VENDOR_WAIT));
            }

            #[test]
            fn any_number_of_seconds_is_that_wait_up_to_the_cap(seconds in any::<u128>()) {
                let headers = headers_with("retry-after", seconds.to_string().as_bytes());
                let want = Duration::from_secs(
                    u64::try_from(seconds.min(u128::from(MAX_VENDOR_WAIT.as_secs())))
                        .unwrap_or(u64::MAX),
                );
                prop_assert_eq!(retry_after_at(&headers, at(0)), Some(want));
            }

            #[test]
            fn any_unix_second_is_a_capped_wait_and_a_defined_expiry(
                reset in any::<u64>(),
                now in 0u64..=4_102_444_800,
            ) {
                prop_assert!(wait_until_unix(reset, at(now)) <= MAX_VENDOR_WAIT);
                prop_assert_eq!(unix_passed(reset, at(now)), reset <= now);
                prop_assert!(token_lifetime(reset) <= MAX_TOKEN_LIFETIME);
            }

            #[test]
            fn every_status_gets_its_shared_row(
                status in 100u16..=999,
                seconds in proptest::option::of(any::<u64>()),
            ) {
                let answer = RawAnswer {
                    status: StatusCode::from_u16(status).expect("a status"),
                    retry_after: seconds.map(wait_secs),
                    body: Bytes::new(),
                };
                let error = common_error(&answer);
                let retry_after = answer.retry_after;
                let want = match status {
                    429 => UpstreamError::RateLimited { retry_after },
                    500..=599 => UpstreamError::Server { status, retry_after },
                    _ => UpstreamError::BadResponse { status },
                };
                prop_assert_eq!(&error, &want);
                prop_assert!(error.retry_after().is_none_or(|wait| wait <= MAX_VENDOR_WAIT));
                prop_assert!(error.into_outcome().error_code().is_some());
            }
        }
    }
}
