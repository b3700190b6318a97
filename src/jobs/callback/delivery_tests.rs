//! One delivery to a loopback receiver that verifies it as a real receiver would; answers
//! that do not deliver (a 500, a redirect), a refused connection and a timeout; a host name
//! that resolves to loopback, refused unless private networks are allowed.

use std::time::{SystemTime, UNIX_EPOCH};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

const SECRET: &str = "whsec_test";
const BODY: &[u8] = br#"{"type":"cancel_job.finished","job":{"id":"j1","state":"done"}}"#;

/// Five minutes: how old a signature a receiver still accepts.
const TOLERANCE_SECONDS: i64 = 300;

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

async fn receiver(status: u16) -> (MockServer, Url) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/jobs"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    let listed = Policy::new(&[server.address().to_string()], true, false);
    let url = check_url(&format!("{}/hooks/jobs", server.uri()), &listed).expect("listed");
    (server, url)
}

/// A delivery whose `jobs.callback_hosts` lists `url`'s host and port, over plain http.
fn delivery(timeout: Duration, url: &Url) -> Delivery {
    let entry = format!(
        "{}:{}",
        url.host_str().expect("a host"),
        url.port().expect("a port")
    );
    delivery_with(timeout, Policy::new(&[entry], true, false))
}

fn delivery_with(timeout: Duration, policy: Policy) -> Delivery {
    Delivery::new(SecretString::from(SECRET), timeout, policy)
}

#[tokio::test]
async fn a_delivery_is_signed_so_that_the_receiver_verifies_the_raw_body() {
    let (server, url) = receiver(204).await;
    let now = now_unix();

    let attempt = delivery(Duration::from_secs(5), &url)
        .send(&url, BODY, now)
        .await;

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

    let attempt = delivery(Duration::from_secs(5), &url)
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

    let attempt = delivery(Duration::from_secs(5), &url)
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

    let attempt = delivery(Duration::from_secs(5), &url)
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

    let attempt = delivery(Duration::from_secs(5), &url)
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

    let attempt = delivery(Duration::from_millis(200), &url)
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
    let printed = format!(
        "{:?}",
        delivery_with(Duration::from_secs(1), Policy::default())
    );
    assert!(!printed.contains(SECRET), "{printed}");
}

/// A receiver on loopback reached by the name `localhost`, `jobs.callback_hosts` listing
/// `localhost:<its port>` over plain http; private networks allowed or not.
async fn localhost_receiver(private_networks: bool) -> (MockServer, Url, Delivery) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/jobs"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let port = server.address().port();
    let policy = Policy::new(&[format!("localhost:{port}")], true, private_networks);
    let url = check_url(&format!("http://localhost:{port}/hooks/jobs"), &policy).expect("listed");
    let delivery = delivery_with(Duration::from_secs(5), policy);
    (server, url, delivery)
}

#[tokio::test]
async fn a_host_name_resolving_to_loopback_is_not_delivered_without_private_networks() {
    let (server, url, delivery) = localhost_receiver(false).await;

    let attempt = delivery.send(&url, BODY, now_unix()).await;

    assert_eq!(
        attempt,
        Attempt {
            status: None,
            error: Some("connect: localhost resolves only to non-public addresses".to_owned()),
            delivered: false
        }
    );
    let received = server.received_requests().await.expect("recording");
    assert!(received.is_empty(), "{received:?}");
}

#[tokio::test]
async fn a_host_name_resolving_to_loopback_is_delivered_with_private_networks() {
    let (server, url, delivery) = localhost_receiver(true).await;

    let attempt = delivery.send(&url, BODY, now_unix()).await;

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
}

#[tokio::test]
async fn a_url_the_settings_no_longer_admit_is_refused_before_anything_is_sent() {
    let (server, url) = receiver(204).await;
    let https_only = Policy::new(&[server.address().to_string()], false, true);
    let unlisted = Policy::new(&["127.0.0.2".to_owned()], true, true);

    let plain = delivery_with(Duration::from_secs(5), https_only)
        .send(&url, BODY, now_unix())
        .await;
    let elsewhere = delivery_with(Duration::from_secs(5), unlisted)
        .send(&url, BODY, now_unix())
        .await;

    assert_eq!(
        plain.error.as_deref(),
        Some("refused: scheme `http` is not allowed, only https (unless jobs.callback_allow_http = true)")
    );
    assert_eq!(
        elsewhere.error.as_deref(),
        Some("refused: host `127.0.0.1` is not in jobs.callback_hosts")
    );
    assert!(!plain.delivered && !elsewhere.delivered);
    let received = server.received_requests().await.expect("recording");
    assert!(received.is_empty(), "{received:?}");
}
