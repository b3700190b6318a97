//! The callback's pure parts: signature vectors, the `callback_url` check, the retry schedule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// The rules with `jobs.callback_hosts = entries`, https only, public addresses only.
fn https_only(entries: &[&str]) -> Policy {
    Policy::new(&hosts(entries), false, false)
}

/// The same with `jobs.callback_allow_http = true`.
fn with_http(entries: &[&str]) -> Policy {
    Policy::new(&hosts(entries), true, false)
}

#[test]
fn check_url_refuses_every_url_while_callback_hosts_is_empty() {
    assert_eq!(
        check_url("https://hooks.test/jobs", &with_http(&[])),
        Err("callbacks are off until jobs.callback_hosts is set".to_owned())
    );
}

#[test]
fn check_url_accepts_a_listed_host_on_its_default_port_and_in_any_case() {
    let allowed = with_http(&["hooks.test", "OTHER.Example.com"]);
    for url in [
        "https://hooks.test/jobs?x=1",
        "https://hooks.test:443/jobs",
        "http://hooks.test/jobs",
        "https://HOOKS.Test/jobs",
        "https://other.example.COM/",
    ] {
        let parsed = check_url(url, &allowed).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(parsed.as_str(), Url::parse(url).expect("valid").as_str());
    }
}

#[test]
fn a_bare_host_entry_admits_only_the_default_port_of_the_scheme() {
    let allowed = with_http(&["hooks.test"]);
    assert_eq!(
        check_url("https://hooks.test:8443/jobs", &allowed),
        Err("host `hooks.test:8443` is not in jobs.callback_hosts".to_owned())
    );
    assert_eq!(
        check_url("http://hooks.test:8080/jobs", &allowed),
        Err("host `hooks.test:8080` is not in jobs.callback_hosts".to_owned())
    );
    assert_eq!(
        check_url("http://hooks.test:443/jobs", &allowed),
        Err("host `hooks.test:443` is not in jobs.callback_hosts".to_owned())
    );
}

#[test]
fn check_url_admits_only_the_listed_port_of_a_host_port_entry() {
    let allowed = with_http(&["hooks.test:8443", "plain.test:443"]);
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
fn plain_http_is_refused_unless_callback_allow_http_is_set() {
    let refused = Err(
        "scheme `http` is not allowed, only https (unless jobs.callback_allow_http = true)"
            .to_owned(),
    );
    assert_eq!(
        check_url("http://hooks.test/jobs", &https_only(&["hooks.test"])),
        refused
    );
    assert_eq!(
        check_url("http://hooks.test:80/", &https_only(&["hooks.test:80"])),
        refused
    );
    assert!(check_url("https://hooks.test/jobs", &https_only(&["hooks.test"])).is_ok());
    assert!(check_url("http://hooks.test/jobs", &with_http(&["hooks.test"])).is_ok());
}

#[test]
fn check_url_refuses_unlisted_hosts_including_look_alikes() {
    let allowed = https_only(&["hooks.test"]);
    for (url, host) in [
        ("https://evil.test/jobs", "evil.test"),
        ("https://hooks.test.evil.test/", "hooks.test.evil.test"),
        ("https://evilhooks.test/", "evilhooks.test"),
        ("https://sub.hooks.test/", "sub.hooks.test"),
        ("https://127.0.0.1/", "127.0.0.1"),
    ] {
        assert_eq!(
            check_url(url, &allowed),
            Err(format!("host `{host}` is not in jobs.callback_hosts"))
        );
    }
}

#[test]
fn an_ip_literal_url_is_admitted_only_by_that_same_ip_literal_entry() {
    let names = https_only(&["localhost", "hooks.test", "metadata.google.internal"]);
    for (url, host) in [
        ("https://127.0.0.1/", "127.0.0.1"),
        ("https://2130706433/", "127.0.0.1"),
        ("https://0x7f.1/", "127.0.0.1"),
        ("https://[::1]/", "[::1]"),
        ("https://169.254.169.254/", "169.254.169.254"),
    ] {
        assert_eq!(
            check_url(url, &names),
            Err(format!("host `{host}` is not in jobs.callback_hosts")),
            "{url}"
        );
    }
    let listed = https_only(&["10.0.0.5", "[fd00::5]:8443", "127.1"]);
    assert!(check_url("https://10.0.0.5/h", &listed).is_ok());
    assert!(check_url("https://[fd00::5]:8443/h", &listed).is_ok());
    assert!(check_url("https://127.0.0.1/h", &listed).is_ok());
    assert!(check_url("https://10.0.0.6/h", &listed).is_err());
    assert!(check_url("https://[::ffff:10.0.0.5]/h", &listed).is_err());
    assert_eq!(
        check_url("https://10.0.0.5:8443/h", &listed),
        Err("host `10.0.0.5:8443` is not in jobs.callback_hosts".to_owned())
    );
    assert_eq!(
        check_url("https://[fd00::5]/h", &listed),
        Err("host `[fd00::5]:443` is not in jobs.callback_hosts".to_owned())
    );
}

#[test]
fn check_url_refuses_user_names_passwords_other_schemes_and_relative_urls() {
    let allowed = with_http(&["hooks.test"]);
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
fn entries_parse_as_names_or_ip_literals_with_an_optional_port() {
    let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let loopback6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    for (entry, parsed) in [
        ("Hooks.Test", Entry::Name("hooks.test".into(), None)),
        (
            " hooks.test:8443 ",
            Entry::Name("hooks.test".into(), Some(8443)),
        ),
        ("10.0.0.5", Entry::Ip(v4(10, 0, 0, 5), None)),
        ("10.0.0.5:80", Entry::Ip(v4(10, 0, 0, 5), Some(80))),
        ("127.1", Entry::Ip(v4(127, 0, 0, 1), None)),
        ("[::1]", Entry::Ip(loopback6, None)),
        ("[::1]:8080", Entry::Ip(loopback6, Some(8080))),
        ("::1", Entry::Ip(loopback6, None)),
    ] {
        assert_eq!(Entry::parse(entry), Some(parsed), "{entry}");
    }
    for entry in [
        "",
        "hooks.test:https",
        "hooks.test:",
        "hooks.test:70000",
        "hooks.test:1:2",
        "hooks.test/x",
        "user@hooks.test",
        "[::1",
        "[::1]x",
        "[zz]",
        "999.1.1.1",
    ] {
        assert_eq!(Entry::parse(entry), None, "{entry}");
    }
}

#[test]
fn check_url_understands_ipv6_entries() {
    let allowed = with_http(&["[::1]:8080", "::2"]);
    assert!(check_url("http://[::1]:8080/h", &allowed).is_ok());
    assert!(check_url("http://[::2]/h", &allowed).is_ok());
    assert!(check_url("http://[::1]:9/h", &allowed).is_err());
    assert!(check_url("http://[::2]:9/h", &allowed).is_err());
    assert!(check_url("https://hooks.test/", &with_http(&["hooks.test:https"])).is_err());
}

// ---- addresses -------------------------------------------------------------------------------

#[test]
fn loopback_private_link_local_shared_and_metadata_addresses_are_not_public() {
    for ip in [
        "127.0.0.1",
        "127.255.0.9",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "100.64.0.1",
        "100.127.255.255",
        "0.0.0.0",
        "0.1.2.3",
        "192.0.0.8",
        "198.18.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "febf::1",
        "fec0::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::a00:1",
    ] {
        let parsed: IpAddr = ip.parse().expect("an address");
        assert!(!address::is_public(parsed), "{ip} counted as public");
    }
}

#[test]
fn ordinary_internet_addresses_are_public() {
    for ip in [
        "8.8.8.8",
        "1.1.1.1",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "192.169.0.1",
        "169.255.0.1",
        "2001:4860:4860::8888",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ] {
        let parsed: IpAddr = ip.parse().expect("an address");
        assert!(address::is_public(parsed), "{ip} counted as not public");
    }
}

#[tokio::test]
async fn the_resolver_drops_loopback_unless_private_networks_are_allowed() {
    use reqwest::dns::{Name, Resolve};
    use std::str::FromStr;

    let name = || Name::from_str("localhost").expect("a name");
    let strict = address::PublicOnly {
        private_networks: false,
    };
    let refused = strict.resolve(name()).await.err().expect("no address left");
    assert_eq!(
        refused.to_string(),
        "localhost resolves only to non-public addresses"
    );

    let open = address::PublicOnly {
        private_networks: true,
    };
    let found: Vec<_> = open.resolve(name()).await.expect("resolved").collect();
    assert!(!found.is_empty());
    assert!(found.iter().all(|a| a.ip().is_loopback()), "{found:?}");
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
