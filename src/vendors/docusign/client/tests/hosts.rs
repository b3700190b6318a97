//! Userinfo's `base_uri` is used only inside the rule (`learned_host`): a host outside it is
//! `vendor_bad_response`, naming the host, and is never called; a listed host is.

use super::*;

/// A vendor whose userinfo at `server` names `base_uri` for `ACCOUNT`, with these extra keys.
async fn naming(server: &MockServer, base_uri: &str, extra: &[(&str, &str)]) -> Arc<dyn Vendor> {
    Mock::given(method("GET"))
        .and(path("/oauth/userinfo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "accounts": [{"account_id": ACCOUNT, "is_default": true, "base_uri": base_uri}]
        })))
        .mount(server)
        .await;
    let uri = server.uri();
    let mut pairs = vec![
        ("base_url", uri.as_str()),
        ("oauth_base_url", uri.as_str()),
        ("access_token", "pasted"),
    ];
    pairs.extend_from_slice(extra);
    adapter(&pairs)
}

/// `server`'s address with `localhost` for `127.0.0.1`: the same mock under a host outside the
/// configured one.
fn as_localhost(server: &MockServer) -> String {
    format!("http://localhost:{}/rest-host", server.address().port())
}

async fn voids_received(server: &MockServer) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter(|r| r.url.path().contains("/envelopes/"))
        .count()
}

#[tokio::test]
async fn a_base_uri_outside_docusign_is_a_bad_response_that_names_it() {
    // Arrange
    let server = MockServer::start().await;
    let vendor = naming(&server, "http://evil.example/", &[]).await;

    // Act
    let reply = cancel_one(vendor.as_ref()).await;

    // Assert
    assert_eq!(code(&reply), Some(ErrorCode::VendorBadResponse));
    assert!(
        message(&reply).contains("`evil.example`"),
        "{}",
        message(&reply)
    );
}

#[tokio::test]
async fn a_refused_base_uri_is_never_called_and_a_listed_one_is() {
    // Arrange
    let refusing = MockServer::start().await;
    let listing = MockServer::start().await;
    for server in [&refusing, &listing] {
        rest("PUT", ACCOUNT)
            .respond_with(ResponseTemplate::new(200))
            .mount(server)
            .await;
    }
    let refused = naming(&refusing, &as_localhost(&refusing), &[]).await;
    let allowed = naming(
        &listing,
        &as_localhost(&listing),
        &[("allowed_hosts", "localhost")],
    )
    .await;

    // Act
    let refused_reply = cancel_one(refused.as_ref()).await;
    let allowed_reply = cancel_one(allowed.as_ref()).await;

    // Assert
    assert_eq!(code(&refused_reply), Some(ErrorCode::VendorBadResponse));
    assert!(message(&refused_reply).contains("`localhost`"));
    assert_eq!(voids_received(&refusing).await, 0, "nothing sent to it");
    assert_eq!(code(&allowed_reply), None);
    assert_eq!(voids_received(&listing).await, 1);
}

#[tokio::test]
async fn a_base_uri_with_another_scheme_than_the_oauth_host_is_refused() {
    // Arrange: the OAuth host is http (wiremock); the named host is the same one over https.
    let server = MockServer::start().await;
    rest("PUT", ACCOUNT)
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let https = format!("https://{}/rest-host", server.address());
    let vendor = naming(&server, &https, &[]).await;

    // Act
    let reply = cancel_one(vendor.as_ref()).await;

    // Assert
    assert_eq!(code(&reply), Some(ErrorCode::VendorBadResponse));
    assert!(
        message(&reply).contains("with https"),
        "{}",
        message(&reply)
    );
    assert_eq!(voids_received(&server).await, 0);
}

#[tokio::test]
async fn a_refused_base_uri_makes_the_status_read_a_bad_response() {
    // Arrange
    let server = MockServer::start().await;
    let vendor = naming(&server, "http://evil.example/", &[]).await;
    let ctx = CallContext {
        request_id: "t",
        deadline: Instant::now() + Duration::from_secs(10),
        priority: crate::vendors::Priority::Interactive,
    };

    // Act
    let read = vendor.status(ENVELOPE, &ctx).await;

    // Assert
    assert_eq!(read, Err(UpstreamError::BadResponse { status: 200 }));
}

#[test]
fn allowed_hosts_that_are_not_host_names_stop_start_up_naming_the_key() {
    let error = settings(&[("allowed_hosts", "https://rest.example")])
        .expect_err("not a host")
        .to_string();
    assert!(error.contains("vendors.docusign.allowed_hosts"), "{error}");
}
