//! The callback: signature vectors, the `callback_url` check, the retry schedule, and
//! deliveries to a loopback receiver that verifies them as a real receiver would.

use std::time::{SystemTime, UNIX_EPOCH};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

const SECRET: &str = "whsec_test";
const BODY: &[u8] = br#"{"type":"cancel_job.finished","job":{"id":"j1","state":"done"}}"#;

/// Five minutes: how old a signature a receiver still accepts.
const TOLERANCE_SECONDS: i64 = 300;

fn hosts(entries: &[&str]) -> Vec<String> {
    entries.iter().map(|e| (*e).to_owned()).collect()
}

fn now_unix() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_secs()).expect("seconds fit an i64")
}

/// What a receiver does with a delivery, written without the code under test: parse `t=` and
/// `v1=`, refuse a timestamp more than five minutes away, recompute the HMAC over the raw body
/// and compare in constant time (`verify_slice`).
fn verify(secret: &[u8], header: &str, raw_body: &[u8], now: i64) -> Result<(), &'static str> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| "bad t")?),
            Some(("v1", v1)) => candidates.push(hex::decode(v1).map_err(|_| "bad v1")?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("no t")?;
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return Err("stale");
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| "bad key")?;
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(raw_body);
    if candidates
        .iter()
        .any(|candidate| mac.clone().verify_slice(candidate).is_ok())
    {
        Ok(())
    } else {
        Err("mismatch")
    }
}

// ---- signature -------------------------------------------------------------------------------

#[test]
fn signature_matches_vectors_computed_with_python_hmac() {
    // python3 -c "import hmac,hashlib;print(hmac.new(b'secret',b'1700000000.{}',hashlib.sha256).hexdigest())"
    assert_eq!(
        signature(b"secret", 1_700_000_000, b"{}"),
        "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
    );
    assert_eq!(
        signature(
            SECRET.as_bytes(),
            1_700_000_000,
            br#"{"type":"cancel_job.finished"}"#
        ),
        "t=1700000000,v1=5c0ac49d2e25b35f0acb5f523f73a763253ec1b5f3f32ed1d18994cbb946413c"
    );
}

#[test]
fn signature_changes_with_the_secret_the_timestamp_and_the_body() {
    let base = signature(b"secret", 1_700_000_000, b"{}");
    assert_ne!(base, signature(b"secreT", 1_700_000_000, b"{}"));
    assert_ne!(base[16..], signature(b"secret", 1_700_000_001, b"{}")[16..]);
    assert_ne!(base, signature(b"secret", 1_700_000_000, b"{ }"));
}

// ---- check_url -------------------------------------------------------------------------------

#[test]
fn check_url_refuses_every_url_while_callback_hosts_is_empty() {
    assert_eq!(
        check_url("https://hooks.test/jobs", &[]),
        Err("callbacks are off until jobs.callback_hosts is set".to_owned())
    );
}

#[test]
fn check_url_accepts_a_listed_host_on_any_port_and_in_any_case() {
    let allowed = hosts(&["hooks.test", "OTHER.Example.com"]);
    for url in [
        "https://hooks.test/jobs?x=1",
        "http://hooks.test:8080/jobs",
        "https://HOOKS.Test/jobs",
        "https://other.example.COM/",
    ] {
        let parsed = check_url(url, &allowed).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(parsed.as_str(), Url::parse(url).expect("valid").as_str());
    }
}

#[test]
fn check_url_admits_only_the_listed_port_of_a_host_port_entry() {
    let allowed = hosts(&["hooks.test:8443", "plain.test:443"]);
    assert!(check_url("https://hooks.test:8443/jobs", &allowed).is_ok());
    assert!(check_url("https://plain.test/jobs", &allowed).is_ok());
    assert_eq!(
        check_url("https://hooks.test/jobs", &allowed),
        Err("host `hooks.test:443` is not in jobs.callback_hosts".to_owned())
    );
    assert_eq!(
        check_url("http://plain.test/jobs", &allowed),
        Err("host `plain.test:80` is not in jobs.callback_hosts".to_owned())
    );
}

#[test]
fn check_url_refuses_unlisted_hosts_including_look_alikes() {
    let allowed = hosts(&["hooks.test"]);
    for (url, host) in [
        ("https://evil.test/jobs", "evil.test"),
        ("https://hooks.test.evil.test/", "hooks.test.evil.test"),
        ("https://evilhooks.test/", "evilhooks.test"),
        ("https://sub.hooks.test/", "sub.hooks.test"),
        ("http://127.0.0.1/", "127.0.0.1"),
    ] {
        assert_eq!(
            check_url(url, &allowed),
            Err(format!("host `{host}` is not in jobs.callback_hosts"))
        );
    }
}

#[test]
fn check_url_refuses_user_names_passwords_other_schemes_and_relative_urls() {
    let allowed = hosts(&["hooks.test"]);
    let refused = "must not hold a user name or password".to_owned();
    assert_eq!(
        check_url("https://user:pw@hooks.test/", &allowed),
        Err(refused.clone())
    );
    assert_eq!(
        check_url("https://user@hooks.test/", &allowed),
        Err(refused.clone())
    );
    assert_eq!(check_url("https://:pw@hooks.test/", &allowed), Err(refused));
    assert_eq!(
        check_url("ftp://hooks.test/jobs", &allowed),
        Err("scheme `ftp` is not allowed, only http and https".to_owned())
    );
    assert!(check_url("javascript:alert(1)", &allowed).is_err());
    assert_eq!(
        check_url("/jobs", &allowed),
        Err("not an absolute http(s) URL (relative URL without a base)".to_owned())
    );
    assert!(check_url("", &allowed).is_err());
}

#[test]
fn check_url_understands_ipv6_entries_and_ignores_entries_with_a_bad_port() {
    assert!(check_url("http://[::1]:8080/h", &hosts(&["[::1]:8080"])).is_ok());
    assert!(check_url("http://[::1]:9/h", &hosts(&["[::1]"])).is_ok());
    assert!(check_url("http://[::1]:9/h", &hosts(&["::1"])).is_ok());
    assert!(check_url("http://[::1]:9/h", &hosts(&["[::1]:8080"])).is_err());
    assert!(check_url("https://hooks.test/", &hosts(&["hooks.test:https"])).is_err());
}

// ---- next_delay ------------------------------------------------------------------------------

#[test]
fn the_first_attempt_waits_for_nothing() {
    assert_eq!(delay_at(0, Duration::ZERO, 0.7), Some(Duration::ZERO));
}

#[test]
fn retries_wait_ten_seconds_doubling_up_to_an_hour_with_half_jitter() {
    let steps = [
        (1, 10),
        (2, 20),
        (3, 40),
        (4, 80),
        (9, 2560),
        (10, 3600),
        (40, 3600),
        (u32::MAX, 3600),
    ];
    for (attempts, step) in steps {
        let step = Duration::from_secs(step);
        assert_eq!(delay_at(attempts, Duration::ZERO, 0.0), Some(step / 2));
        assert_eq!(delay_at(attempts, Duration::ZERO, 1.0), Some(step));
        for _ in 0..200 {
            let delay = next_delay(attempts, Duration::ZERO).expect("within 24 h");
            assert!(delay >= step / 2 && delay <= step, "{attempts}: {delay:?}");
        }
    }
}

#[test]
fn no_attempt_is_scheduled_24_hours_or_more_after_the_job_ended() {
    let second = Duration::from_secs(1);
    assert_eq!(delay_at(1, RETRY_FOR - 6 * second, 0.0), Some(5 * second));
    assert_eq!(delay_at(1, RETRY_FOR - 5 * second, 0.0), None);
    assert_eq!(delay_at(0, RETRY_FOR, 0.0), None);
    assert_eq!(next_delay(u32::MAX, Duration::MAX), None);
    assert_eq!(RETRY_FOR, Duration::from_secs(86_400));
}

#[test]
fn a_callback_that_always_fails_is_tried_32_to_56_times_over_the_day() {
    let count = |unit: f64| {
        let (mut attempts, mut since_end) = (1, Duration::ZERO);
        while let Some(delay) = delay_at(attempts, since_end, unit) {
            since_end += delay;
            attempts += 1;
        }
        attempts
    };
    // Longest waits: 10 s .. 2560 s (5110 s in all), then 22 hours. Shortest: half of each.
    assert_eq!(count(1.0), 32);
    assert_eq!(count(0.0), 56);
}

// ---- Delivery --------------------------------------------------------------------------------

async fn receiver(status: u16) -> (MockServer, Url) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/jobs"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    let allowed = vec![server.address().to_string()];
    let url = check_url(&format!("{}/hooks/jobs", server.uri()), &allowed).expect("listed");
    (server, url)
}

fn delivery(timeout: Duration) -> Delivery {
    Delivery::new(SecretString::from(SECRET), timeout)
}

#[tokio::test]
async fn a_delivery_is_signed_so_that_the_receiver_verifies_the_raw_body() {
    let (server, url) = receiver(204).await;
    let now = now_unix();

    let attempt = delivery(Duration::from_secs(5)).send(&url, BODY, now).await;

    assert_eq!(
        attempt,
        Attempt {
            status: Some(204),
            error: None,
            delivered: true
        }
    );
    let received = server.received_requests().await.expect("recording");
    assert_eq!(received.len(), 1);
    let request = &received[0];
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_owned()
    };
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(
        header("user-agent"),
        concat!("signgate/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(request.body, BODY);
    let signed = header(SIGNATURE_HEADER);
    assert!(signed.starts_with(&format!("t={now},v1=")), "{signed}");
    assert_eq!(
        verify(SECRET.as_bytes(), &signed, &request.body, now + 60),
        Ok(())
    );
    assert_eq!(
        verify(b"another secret", &signed, &request.body, now),
        Err("mismatch")
    );
    let mut tampered = request.body.clone();
    tampered[2] ^= 1;
    assert_eq!(
        verify(SECRET.as_bytes(), &signed, &tampered, now),
        Err("mismatch")
    );
}

#[tokio::test]
async fn a_receiver_refuses_a_delivery_signed_more_than_five_minutes_ago() {
    let (server, url) = receiver(200).await;
    let now = now_unix();

    let attempt = delivery(Duration::from_secs(5))
        .send(&url, BODY, now - TOLERANCE_SECONDS - 1)
        .await;

    assert!(attempt.delivered);
    let received = server.received_requests().await.expect("recording");
    let signed = received[0]
        .headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .expect("signed");
    assert_eq!(
        verify(SECRET.as_bytes(), signed, &received[0].body, now),
        Err("stale")
    );
    assert_eq!(
        verify(SECRET.as_bytes(), signed, &received[0].body, now - 1),
        Ok(())
    );
}

#[tokio::test]
async fn a_500_answer_is_an_attempt_that_did_not_deliver() {
    let (_server, url) = receiver(500).await;

    let attempt = delivery(Duration::from_secs(5))
        .send(&url, BODY, now_unix())
        .await;

    assert_eq!(
        attempt,
        Attempt {
            status: Some(500),
            error: None,
            delivered: false
        }
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_fails_the_attempt() {
    let server = MockServer::start().await;
    Mock::given(path("/hooks/jobs"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/elsewhere", server.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let url = Url::parse(&format!("{}/hooks/jobs", server.uri())).expect("valid");

    let attempt = delivery(Duration::from_secs(5))
        .send(&url, BODY, now_unix())
        .await;

    assert_eq!(attempt.status, Some(307));
    assert!(!attempt.delivered);
    server.verify().await;
}

#[tokio::test]
async fn a_refused_connection_is_an_error_that_does_not_name_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let url = Url::parse(&format!("http://{address}/hooks/jobs?token=t0ken")).expect("valid");

    let attempt = delivery(Duration::from_secs(5))
        .send(&url, BODY, now_unix())
        .await;

    assert_eq!(attempt.status, None);
    assert!(!attempt.delivered);
    let error = attempt.error.expect("an error");
    assert!(error.starts_with("connect"), "{error}");
    assert!(
        !error.contains("127.0.0.1") && !error.contains("t0ken"),
        "{error}"
    );
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let url = Url::parse(&format!("{}/hooks/jobs", server.uri())).expect("valid");

    let attempt = delivery(Duration::from_millis(200))
        .send(&url, BODY, now_unix())
        .await;

    assert_eq!(
        attempt,
        Attempt {
            status: None,
            error: Some("timeout".to_owned()),
            delivered: false
        }
    );
}

#[test]
fn a_delivery_does_not_print_its_secret() {
    let printed = format!("{:?}", delivery(Duration::from_secs(1)));
    assert!(!printed.contains(SECRET), "{printed}");
}
