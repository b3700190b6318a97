//! The rule, case by case: the vendor's domains, the configured host's domain, the list, the
//! scheme, and every way a named host can try to slip past.

use super::*;

const DOCUSIGN: &[&str] = &["docusign.net"];

fn rule(configured: &str, allowed: &[&str]) -> HostRule {
    let allowed: Vec<String> = allowed.iter().map(|h| (*h).to_owned()).collect();
    HostRule::new(configured, DOCUSIGN, &allowed)
}

#[test]
fn a_host_in_the_vendors_domains_is_used_without_its_trailing_slash() {
    let rule = rule("https://account-d.docusign.com", &[]);
    assert_eq!(
        rule.check("https://demo.docusign.net/"),
        Ok("https://demo.docusign.net".to_owned())
    );
    assert_eq!(
        rule.check("https://NA2.DocuSign.net"),
        Ok("https://na2.docusign.net".to_owned())
    );
    assert_eq!(
        rule.check("https://docusign.net"),
        Ok("https://docusign.net".to_owned())
    );
}

#[test]
fn the_configured_hosts_own_domain_is_admitted_and_its_lookalikes_are_not() {
    let rule = rule("https://account-d.docusign.com", &[]);
    assert!(rule.check("https://eu.docusign.com").is_ok());
    for lookalike in [
        "https://evildocusign.com",
        "https://docusign.com.evil.example",
        "https://evildocusign.net",
        "https://docusign.net.evil.example",
    ] {
        assert!(
            matches!(rule.check(lookalike), Err(Refused::Outside { .. })),
            "{lookalike}"
        );
    }
}

#[test]
fn any_other_host_is_refused_by_name() {
    let refused = rule("https://account.docusign.com", &[])
        .check("https://evil.example/")
        .expect_err("outside");
    let text = refused.to_string();
    assert!(text.contains("`evil.example`"), "{text}");
    assert!(text.contains("*.docusign.net, *.docusign.com"), "{text}");
}

#[test]
fn a_listed_host_is_admitted_exactly() {
    let rule = rule("https://account.docusign.com", &["rest.proxy.example"]);
    assert!(rule.check("https://rest.proxy.example/").is_ok());
    assert!(rule.check("https://other.proxy.example/").is_err());
    assert!(rule.check("https://a.rest.proxy.example/").is_err());
}

#[test]
fn a_scheme_other_than_the_configured_ones_is_refused_even_on_a_vendor_host() {
    let refused = rule("https://account-d.docusign.com", &[])
        .check("http://demo.docusign.net")
        .expect_err("downgrade");
    assert_eq!(
        refused,
        Refused::Scheme {
            host: "demo.docusign.net".into(),
            scheme: "http".into(),
            want: "https".into(),
        }
    );
    assert!(rule("http://127.0.0.1:9", &[])
        .check("https://127.0.0.1:9")
        .is_err());
}

#[test]
fn an_ip_or_one_label_configured_host_admits_exactly_itself() {
    let ip = rule("http://127.0.0.1:4000", &[]);
    assert_eq!(
        ip.check("http://127.0.0.1:4000/rest/"),
        Ok("http://127.0.0.1:4000/rest".to_owned())
    );
    assert!(ip.check("http://127.0.0.2:4000").is_err());
    assert!(ip.check("http://localhost:4000").is_err());
    let one = rule("http://docusign-sim:8080", &[]);
    assert!(one.check("http://docusign-sim:8081").is_ok());
    assert!(one.check("http://other-sim:8080").is_err());
}

#[test]
fn a_two_label_or_country_second_level_host_admits_only_itself_and_below() {
    let two = rule("https://example.com", &[]);
    assert!(two.check("https://api.example.com").is_ok());
    assert!(two.check("https://other.com").is_err());
    let country = rule("https://example.co.uk", &[]);
    assert!(country.check("https://a.example.co.uk").is_ok());
    assert!(country.check("https://evil.co.uk").is_err());
    let deeper = rule("https://sign.example.co.uk", &[]);
    assert!(deeper.check("https://other.example.co.uk").is_ok());
    assert!(deeper.check("https://evil.co.uk").is_err());
}

#[test]
fn credentials_a_query_a_fragment_or_garbage_are_refused() {
    let rule = rule("https://account.docusign.com", &[]);
    for named in [
        "https://user:pass@na2.docusign.net",
        "https://evil.example@na2.docusign.net",
        "https://na2.docusign.net?x=1",
        "https://na2.docusign.net#x",
    ] {
        assert!(
            matches!(rule.check(named), Err(Refused::NotPlain(_))),
            "{named}"
        );
    }
    for garbage in ["", "na2.docusign.net", "ftp://na2.docusign.net", "data:x,y"] {
        assert!(
            matches!(rule.check(garbage), Err(Refused::NotAUrl(_))),
            "{garbage}"
        );
    }
    assert!(
        rule.check("https://evil.example\\@na2.docusign.net")
            .is_err(),
        "a backslash ends the host"
    );
}

#[test]
fn an_unparsable_configured_host_admits_nothing() {
    assert!(rule("not a url", &[])
        .check("https://na2.docusign.net")
        .is_err());
}

#[test]
fn allowed_hosts_are_bare_names_and_anything_else_names_the_key() {
    assert_eq!(
        parse_allowed("ds", vec!["REST.Proxy.example.".into(), "[::1]".into()]).expect("valid"),
        vec!["rest.proxy.example".to_owned(), "[::1]".to_owned()]
    );
    for bad in [
        "https://x.example",
        "x.example:443",
        "x.example/p",
        "*.x.example",
        "",
        "u@x",
    ] {
        let error = parse_allowed("ds", vec![bad.into()])
            .expect_err(bad)
            .to_string();
        assert!(error.contains("vendors.ds.allowed_hosts"), "{error}");
    }
}

mod properties {
    //! Any text a vendor names: no panic, and an admitted one is a URL on an admitted host.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_named_host_is_refused_or_is_an_admitted_url(
            scheme in prop_oneof![Just("https"), Just("http"), Just("ftp")],
            host in "[a-z0-9.@:\\[\\]\\\\/?#%-]{0,40}",
        ) {
            let rule = rule("https://account.docusign.com", &["ok.example"]);
            if let Ok(base) = rule.check(&format!("{scheme}://{host}")) {
                let url = Url::parse(&base).expect("a URL");
                let host = url.host_str().expect("a host");
                prop_assert_eq!(url.scheme(), "https");
                prop_assert!(
                    host == "ok.example"
                        || host.ends_with(".docusign.net")
                        || host.ends_with(".docusign.com")
                        || host == "docusign.net"
                        || host == "docusign.com",
                    "{}", base
                );
            }
        }
    }
}
