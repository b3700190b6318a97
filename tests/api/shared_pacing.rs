//! ZapSign's rate limit shared by replicas on one Postgres: two real gateway processes on one
//! database make at most `requests_per_minute` calls together, and a reservation the store
//! cannot make sends nothing.

use futures::future::join_all;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::process::Gateway;
use crate::scratch::Scratch;

/// Starts a gateway process with `vars` and returns it with its address.
fn start(vars: &[(String, String)]) -> (Gateway, String) {
    let mut gateway = Gateway::start(vars);
    let address = gateway.wait_for("signgate is listening.")["address"]
        .as_str()
        .expect("address")
        .to_owned();
    (gateway, address)
}

/// `"status"` of a one-document answer, or its error code when it failed.
fn result_of(answer: &Value) -> String {
    let result = &answer["results"][0];
    match result["error"]["code"].as_str() {
        Some(code) => code.to_owned(),
        None => result["status"].as_str().unwrap_or("none").to_owned(),
    }
}

#[tokio::test]
async fn two_replicas_on_one_postgres_make_at_most_requests_per_minute_calls_together() {
    let Some(scratch) =
        Scratch::postgres("two_replicas_on_one_postgres_make_at_most_requests_per_minute").await
    else {
        return;
    };
    let vendors = MockVendors::start().await;
    let zapsign = vendors.get("zapsign");
    Mock::given(method("POST"))
        .and(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(zapsign)
        .await;
    let mut vars = base_vars(&vendors);
    for (key, value) in [
        ("SIGNGATE__STORE__URL", scratch.url.as_str()),
        ("SIGNGATE__SERVER__REQUEST_TIMEOUT_MS", "3000"),
        ("SIGNGATE__VENDORS__ZAPSIGN__REQUESTS_PER_MINUTE", "10"),
        ("SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS", "2000"),
        ("SIGNGATE__VENDORS__DROPBOXSIGN__TIMEOUT_MS", "2000"),
        ("SIGNGATE__VENDORS__CLICKSIGN__TIMEOUT_MS", "2000"),
        ("SIGNGATE__VENDORS__AUCO__TIMEOUT_MS", "2000"),
    ] {
        vars.insert(key.to_owned(), value.to_owned());
    }
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let (mut first, first_address) = start(&vars);
    let (mut second, second_address) = start(&vars);
    let client = reqwest::Client::new();

    let sends = (0..24).map(|i| {
        let address = if i % 2 == 0 {
            &first_address
        } else {
            &second_address
        };
        let token = format!("0a1b2c3d-0000-4000-8000-{i:012}");
        let request = client
            .post(format!("http://{address}/documents/cancel"))
            .bearer_auth(API_KEY)
            .json(&body_for(&[&token]));
        // Failures are asserted after both processes have stopped.
        async move {
            match request.send().await {
                Ok(answer) if answer.status() == 200 => answer.json::<Value>().await.ok(),
                Ok(_) | Err(_) => None,
            }
        }
    });
    let answers = join_all(sends).await;
    let refuse_calls = zapsign.received_requests().await.map(|r| r.len());
    first.terminate();
    second.terminate();
    let (first_code, first_output) = first.finish();
    let (second_code, second_output) = second.finish();

    let results: Vec<String> = answers
        .iter()
        .map(|answer| {
            answer
                .as_ref()
                .map_or("no 200 answer".to_owned(), result_of)
        })
        .collect();
    let refuse_calls = refuse_calls.expect("wiremock records requests");
    let cancelled = results.iter().filter(|r| *r == "cancelled").count();
    let waiting = results.iter().filter(|r| *r == "deadline_exceeded").count();
    assert!(
        refuse_calls <= 10,
        "{refuse_calls} refuse calls: {results:?}"
    );
    assert_eq!(cancelled, refuse_calls, "{results:?}");
    assert!(
        cancelled > 0,
        "{results:?}\n{first_output}\n{second_output}"
    );
    assert_eq!(cancelled + waiting, 24, "{results:?}");
    assert_eq!(first_code, Some(0), "{first_output}");
    assert_eq!(second_code, Some(0), "{second_output}");
}

#[tokio::test]
async fn a_shared_limit_the_store_cannot_reserve_makes_no_call_and_fails_vendor_rate_limited() {
    let Some(scratch) =
        Scratch::postgres("a_shared_limit_the_store_cannot_reserve_makes_no_call").await
    else {
        return;
    };
    let app = spawn_app_with(&[("SIGNGATE__STORE__URL", &scratch.url)]).await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(app.vendor("zapsign"))
        .await;
    // The audit trail still works; only the reservation statement fails.
    let admin = sqlx::PgPool::connect(&scratch.url).await.expect("connect");
    sqlx::query("DROP FUNCTION signgate_reserve_calls")
        .execute(&admin)
        .await
        .expect("drop the reservation function");
    admin.close().await;

    let answer = app
        .cancel_ok(&body_for(&["0a1b2c3d-0000-4000-8000-000000000001"]))
        .await;

    let result = &answer["results"][0];
    assert_eq!(result["status"], "failed", "{answer}");
    assert_eq!(result["error"]["code"], "vendor_rate_limited", "{answer}");
    assert_eq!(result["error"]["retryable"], true, "{answer}");
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("nothing was sent"), "{message}");
}
