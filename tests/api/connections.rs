//! The listener against the real binary: slow request heads and idle keep-alive connections
//! are closed, a long request is not cut, and beyond `server.max_connections` new connections
//! wait while open ones are still served.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::process::Gateway;

/// Long enough for any behaviour under test on a loaded machine; never a performance bound.
const BOUND: Duration = Duration::from_secs(10);

const LIVEZ: &[u8] = b"GET /livez HTTP/1.1\r\nHost: signgate\r\n\r\n";

/// A gateway process with these settings on top of the test defaults, and its mock vendors.
async fn start(vars: &[(&str, &str)]) -> (Gateway, String, MockVendors) {
    let vendors = MockVendors::start().await;
    let mut env = base_vars(&vendors);
    for (key, value) in vars {
        env.insert((*key).to_owned(), (*value).to_owned());
    }
    let env: Vec<(String, String)> = env.into_iter().collect();
    let mut gateway = Gateway::start(&env);
    let address = gateway.wait_for("signgate is listening.")["address"]
        .as_str()
        .expect("address")
        .to_owned();
    (gateway, address, vendors)
}

/// Reads until the server closes the connection (end of file or reset) or `deadline` passes.
async fn closed_by_server(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout_at(deadline, read_to_end).await.is_ok()
}

/// Sends one request on `stream` and reads its answer's status line and body.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream
        .write_all(request)
        .await
        .expect("the request is sent");
    tokio::time::timeout(BOUND, read_answer(stream))
        .await
        .expect("an answer in time")
}

/// One HTTP/1.1 answer with a `content-length` body, as text.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.expect("the answer is read");
        assert!(
            n > 0,
            "closed mid-answer: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|value| value.trim().parse().ok())
                .expect("a content-length");
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn connections_that_send_half_a_request_head_are_closed_by_the_server() {
    let (mut gateway, address, _zapsign) =
        start(&[("SIGNGATE__SERVER__HEADER_READ_TIMEOUT_MS", "500")]).await;
    let mut streams = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&address).await.expect("connects");
        stream
            .write_all(b"POST /documents/cancel HTTP/1.1\r\nHost: signgate\r\nContent-Ty")
            .await
            .expect("half a head is sent");
        streams.push(stream);
    }

    let deadline = Instant::now() + BOUND;
    let mut closed = Vec::new();
    for stream in &mut streams {
        closed.push(closed_by_server(stream, deadline).await);
    }
    gateway.terminate();
    let (code, output) = gateway.finish();

    assert!(closed.iter().all(|c| *c), "{closed:?}\n{output}");
    assert_eq!(code, Some(0), "{output}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_the_header_one() {
    let (mut gateway, address, _vendors) = start(&[
        ("SIGNGATE__SERVER__HEADER_READ_TIMEOUT_MS", "500"),
        ("SIGNGATE__SERVER__IDLE_TIMEOUT_MS", "2500"),
    ])
    .await;
    let mut stream = TcpStream::connect(&address).await.expect("connects");

    let first = exchange(&mut stream, LIVEZ).await;
    // Idle for longer than the header timeout, well within the idle one.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let second = exchange(&mut stream, LIVEZ).await;
    let closed = closed_by_server(&mut stream, Instant::now() + BOUND).await;
    gateway.terminate();
    let (code, output) = gateway.finish();

    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert!(closed, "the idle connection is closed\n{output}");
    assert_eq!(code, Some(0), "{output}");
}

#[tokio::test]
async fn a_request_slower_than_the_idle_timeout_still_gets_its_answer() {
    let (mut gateway, address, vendors) = start(&[
        ("SIGNGATE__SERVER__HEADER_READ_TIMEOUT_MS", "500"),
        ("SIGNGATE__SERVER__IDLE_TIMEOUT_MS", "1000"),
    ])
    .await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)))
        .expect(1)
        .mount(vendors.get("zapsign"))
        .await;

    let response = reqwest::Client::new()
        .post(format!("http://{address}/documents/cancel"))
        .bearer_auth(API_KEY)
        .json(&body_for(&["0a1b2c3d-0000-4000-8000-000000000001"]))
        .send()
        .await
        .expect("the slow request is answered");
    let status = response.status();
    let answer: Value = response.json().await.expect("json");
    gateway.terminate();
    let (code, output) = gateway.finish();

    assert_eq!(status, 200, "{output}");
    assert_eq!(answer["results"][0]["status"], "cancelled", "{answer}");
    assert_eq!(code, Some(0), "{output}");
}

#[tokio::test]
async fn beyond_max_connections_a_new_connection_waits_while_open_ones_are_served() {
    let (mut gateway, address, _zapsign) =
        start(&[("SIGNGATE__SERVER__MAX_CONNECTIONS", "2")]).await;
    let mut first = TcpStream::connect(&address).await.expect("connects");
    let mut second = TcpStream::connect(&address).await.expect("connects");
    let opened = [
        exchange(&mut first, LIVEZ).await,
        exchange(&mut second, LIVEZ).await,
    ];

    // The third connection completes in the kernel's backlog but is not served yet.
    let mut third = TcpStream::connect(&address)
        .await
        .expect("connects to the backlog");
    third.write_all(LIVEZ).await.expect("the request is sent");
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut byte)).await;
    let still_served = exchange(&mut first, LIVEZ).await;
    drop(second);
    let late = tokio::time::timeout(BOUND, read_answer(&mut third)).await;
    gateway.terminate();
    let (code, output) = gateway.finish();

    assert!(
        opened.iter().all(|a| a.starts_with("HTTP/1.1 200")),
        "{opened:?}"
    );
    assert!(
        early.is_err(),
        "the third connection was served early: {early:?}"
    );
    assert!(still_served.starts_with("HTTP/1.1 200"), "{still_served}");
    let late = late.expect("served once a slot is free");
    assert!(late.starts_with("HTTP/1.1 200"), "{late}");
    assert_eq!(code, Some(0), "{output}");
}

/// A request head of `LIVEZ` with `headers` extra headers of `value_bytes` bytes each.
fn head_with(headers: usize, value_bytes: usize) -> Vec<u8> {
    let mut head = b"GET /livez HTTP/1.1\r\nHost: signgate\r\n".to_vec();
    for i in 0..headers {
        head.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "a".repeat(value_bytes)).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Sends `request` on a new connection and reads until the server closes it: the whole text.
async fn answer_then_close(address: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connects");
    // The server may answer and close before the whole request is written.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(BOUND, read)
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_head_over_max_header_bytes_or_100_headers_gets_431_and_the_connection_closes() {
    let (mut gateway, address, _vendors) = start(&[]).await;

    // 24 KiB of headers: within the default 32 KiB.
    let mut stream = TcpStream::connect(&address).await.expect("connects");
    let within = exchange(&mut stream, &head_with(24, 1000)).await;
    // 40 KiB: over it, and never read to its end.
    let over = answer_then_close(&address, &head_with(40, 1000)).await;
    let many = answer_then_close(&address, &head_with(101, 4)).await;
    let enough = exchange(&mut stream, &head_with(98, 4)).await;
    gateway.terminate();
    let (code, output) = gateway.finish();

    assert!(within.starts_with("HTTP/1.1 200"), "{within}");
    assert!(over.starts_with("HTTP/1.1 431"), "{over}");
    assert!(many.starts_with("HTTP/1.1 431"), "{many}");
    assert!(enough.starts_with("HTTP/1.1 200"), "{enough}");
    assert_eq!(code, Some(0), "{output}");
}

/// The head of a cancel whose body of `length` bytes is still to come.
fn cancel_head(length: usize) -> String {
    format!(
        "POST /documents/cancel HTTP/1.1\r\nHost: signgate\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_body_slower_than_body_read_timeout_gets_408_and_the_connection_closes() {
    let (mut gateway, address, _vendors) = start(&[
        ("SIGNGATE__SERVER__BODY_READ_TIMEOUT_MS", "1000"),
        ("SIGNGATE__SERVER__HEADER_READ_TIMEOUT_MS", "500"),
    ])
    .await;
    let body =
        serde_json::to_vec(&body_for(&["0a1b2c3d-0000-4000-8000-000000000001"])).expect("json");
    let mut stream = TcpStream::connect(&address).await.expect("connects");
    stream
        .write_all(cancel_head(body.len()).as_bytes())
        .await
        .expect("the head is sent");
    let started = Instant::now();
    // One byte every 300 ms: the whole body would take far longer than a second.
    let trickle = async {
        for byte in &body {
            if stream.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1800), trickle).await;
    let answer = tokio::time::timeout(BOUND, read_answer(&mut stream))
        .await
        .expect("an answer in time");
    let waited = started.elapsed();
    let closed = closed_by_server(&mut stream, Instant::now() + BOUND).await;
    gateway.terminate();
    let (code, output) = gateway.finish();

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"body_timeout\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(waited < BOUND, "{waited:?}");
    assert!(closed, "the connection is closed\n{output}");
    assert!(
        !output.contains("\"cancelled\""),
        "nothing was sent: {output}"
    );
    assert_eq!(code, Some(0), "{output}");
}

#[tokio::test]
async fn bodies_beyond_max_buffered_body_bytes_wait_unread_until_room_is_given_back() {
    let (mut gateway, address, _vendors) = start(&[
        ("SIGNGATE__SERVER__MAX_BODY_BYTES", "100000"),
        ("SIGNGATE__JOBS__MAX_BODY_BYTES", "100000"),
        ("SIGNGATE__SERVER__MAX_BUFFERED_BODY_BYTES", "150000"),
        ("SIGNGATE__SERVER__BODY_READ_TIMEOUT_MS", "2000"),
    ])
    .await;
    // A body of 100,000 bytes announced and not sent: it holds two thirds of the budget.
    let mut holder = TcpStream::connect(&address).await.expect("connects");
    holder
        .write_all(format!("{}{{", cancel_head(100_000)).as_bytes())
        .await
        .expect("the head is sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A second one of 60,000 bytes does not fit beside it, whole as it is.
    let mut body =
        serde_json::to_value(body_for(&["0a1b2c3d-0000-4000-8000-000000000001"])).expect("json");
    body["message"] = Value::String("x".repeat(1900));
    let mut text = serde_json::to_string(&body).expect("json");
    text.push_str(&" ".repeat(60_000 - text.len()));
    let mut waiter = TcpStream::connect(&address).await.expect("connects");
    let request = format!("{}{text}", cancel_head(text.len()));
    waiter.write_all(request.as_bytes()).await.expect("sent");
    let started = Instant::now();
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(1000), waiter.read(&mut first)).await;
    // The holder's body times out; its room goes to the waiter, which is then answered.
    let held = tokio::time::timeout(BOUND, read_answer(&mut holder))
        .await
        .expect("the holder is answered");
    let late = tokio::time::timeout(BOUND, read_answer(&mut waiter))
        .await
        .expect("the waiter is answered");
    let waited = started.elapsed();
    gateway.terminate();
    let (code, output) = gateway.finish();

    assert!(early.is_err(), "the second body was read beside the first");
    assert!(held.starts_with("HTTP/1.1 408"), "{held}");
    assert!(late.starts_with("HTTP/1.1 200"), "{late}");
    assert!(waited >= Duration::from_millis(1000), "{waited:?}");
    assert_eq!(code, Some(0), "{output}");
}
