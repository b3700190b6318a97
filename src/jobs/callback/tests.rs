//! The callback's pure parts: signature vectors, the `callback_url` check, the retry schedule.

use super::*;

fn hosts(entries: &[&str]) -> Vec<String> {
    entries.iter().map(|e| (*e).to_owned()).collect()
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
            b"whsec_test",
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
