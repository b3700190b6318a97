//! The synchronous load beside the job: one-document `POST /documents/cancel` requests at a
//! fixed interval, open loop (each in its own task, so a slow answer delays no later request),
//! to ZapSign and Auco, each with a fresh code; every answer's latency and outcome is kept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Args, API_KEY, EMAIL, MESSAGE};

/// One synchronous cancel sent while the job ran.
#[derive(Debug, Clone)]
pub struct SyncCall {
    pub vendor: &'static str,
    pub latency: Duration,
    /// The HTTP status; 0 when no answer came.
    pub http: u16,
    /// The document's `status` (`error.code` appended when failed), or what went wrong.
    pub outcome: String,
}

/// Sends one synchronous cancel of `code`.
async fn cancel_one(
    client: &reqwest::Client,
    base: &str,
    vendor: &'static str,
    code: String,
) -> SyncCall {
    let body = json!({"codes": [code], "message": MESSAGE, "email": EMAIL});
    let started = Instant::now();
    let answer = client
        .post(format!("{base}/documents/cancel"))
        .bearer_auth(API_KEY)
        .json(&body)
        .send()
        .await;
    let (http, outcome) = match answer {
        Ok(answer) => {
            let http = answer.status().as_u16();
            let value: Value = answer.json().await.unwrap_or(Value::Null);
            let result = &value["results"][0];
            let mut outcome = result["status"].as_str().unwrap_or("no result").to_owned();
            if let Some(code) = result["error"]["code"].as_str() {
                outcome = format!("{outcome}:{code}");
            }
            (http, outcome)
        }
        Err(e) => (0, format!("no answer: {e}")),
    };
    SyncCall {
        vendor,
        latency: started.elapsed(),
        http,
        outcome,
    }
}

/// Sends a synchronous cancel every `sync_every_ms` (each in its own task: open loop) until
/// `stop`; returns every call once the last one answered.
pub async fn load(
    client: reqwest::Client,
    base: String,
    args: Args,
    stop: Arc<AtomicBool>,
) -> Vec<SyncCall> {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(args.sync_every_ms.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    while args.sync_every_ms > 0 && !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let (vendor, code) = match n.is_multiple_of(args.zapsign_every.max(1)) {
            true => ("zapsign", format!("5c5c5c5c-0000-4000-8000-{n:012x}")),
            false => ("auco", format!("SYNC{n:06}")),
        };
        n += 1;
        let (client, base, calls) = (client.clone(), base.clone(), Arc::clone(&calls));
        tasks.spawn(async move {
            let call = cancel_one(&client, &base, vendor, code).await;
            calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(call);
        });
    }
    while tasks.join_next().await.is_some() {}
    let calls = calls.lock().unwrap_or_else(PoisonError::into_inner).clone();
    calls
}
