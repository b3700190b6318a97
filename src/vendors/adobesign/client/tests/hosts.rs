//! `baseUris`' `apiAccessPoint` is used only inside the rule (`learned_host`): a host outside it
//! is `vendor_bad_response`, naming the host, and is never called; a listed host is.

use super::*;

/// A vendor at `server` whose first call hears `INVALID_API_ACCESS_POINT` and whose `baseUris`
/// then names `point`, with these extra keys.
async fn naming(server: &MockServer, point: &str, extra: &[(&str, &str)]) -> Arc<dyn Vendor> {
    refresh_mock(token_answer("t", 3600)).mount(server).await;
    cancel_mock(refusal(400, "INVALID_API_ACCESS_POINT"))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/rest/v6/baseUris"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiAccessPoint": point, "webAccessPoint": point,
        })))
        .mount(server)
        .await;
    Mock::given(method("PUT"))
        .and(path(state_path("/moved")))
        .respond_with(ResponseTemplate::new(204))
        .mount(server)
        .await;
    let uri = server.uri();
    let mut pairs = vec![("base_url", uri.as_str())];
    pairs.extend_from_slice(extra);
    adapter(&pairs)
}

/// `server`'s `/moved` with `localhost` for `127.0.0.1`: the same mock under a host outside
/// the configured one.
fn as_localhost(server: &MockServer) -> String {
    format!("http://localhost:{}/moved/", server.address().port())
}

async fn moved_calls(server: &MockServer) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter(|r| r.url.path().starts_with("/moved/"))
        .count()
}

#[tokio::test]
async fn an_access_point_outside_acrobat_sign_is_a_bad_response_that_names_it() {
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
async fn a_refused_access_point_is_never_called_and_a_listed_one_is() {
    // Arrange
    let refusing = MockServer::start().await;
    let listing = MockServer::start().await;
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
    assert_eq!(moved_calls(&refusing).await, 0, "nothing sent to it");
    assert_eq!(code(&allowed_reply), None);
    assert_eq!(moved_calls(&listing).await, 1);
}

#[tokio::test]
async fn an_access_point_with_another_scheme_than_base_url_is_refused() {
    // Arrange: `base_url` is http (wiremock); the named host is the same one over https.
    let server = MockServer::start().await;
    let https = format!("https://{}/moved/", server.address());
    let vendor = naming(&server, &https, &[]).await;

    // Act
    let reply = cancel_one(vendor.as_ref()).await;
    let read = read(vendor.as_ref()).await;

    // Assert
    assert_eq!(code(&reply), Some(ErrorCode::VendorBadResponse));
    assert!(
        message(&reply).contains("with https"),
        "{}",
        message(&reply)
    );
    assert_eq!(moved_calls(&server).await, 0);
    assert_eq!(read, Err(UpstreamError::BadResponse { status: 200 }));
}

#[test]
fn allowed_hosts_that_are_not_host_names_stop_start_up_naming_the_key() {
    let error = settings(&[("allowed_hosts", "api.example:443")])
        .expect_err("not a host")
        .to_string();
    assert!(error.contains("vendors.adobesign.allowed_hosts"), "{error}");
}
