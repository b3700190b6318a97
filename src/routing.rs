//! Which vendor holds a code: an explicit `NAME:` prefix first, then the ordered rules. A rule
//! names one vendor, or several candidates when codes of its shape may live at any of them
//! (DocuSign envelope IDs and ZapSign tokens are both UUIDs); `cancellation::Gateway` then
//! finds the owner by a status read.

use crate::model::{DocumentCode, ErrorCode, Failure, VendorName};
use crate::settings::{Pattern, Settings};

/// Where one code goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The configured vendor.
    pub vendor: VendorName,
    /// The code to send to it (prefix removed).
    pub vendor_code: String,
}

/// What routing says about one code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed<'a> {
    /// Its vendor is known.
    To(Route),
    /// One of these vendors holds it, asked in this order (a rule with several candidates).
    AmongCandidates(&'a [VendorName]),
}

/// The compiled routing table.
#[derive(Debug, Clone)]
pub struct Router {
    vendors: Vec<VendorName>,
    rules: Vec<(Pattern, Vec<VendorName>)>,
}

impl Router {
    /// The table of these settings (their patterns are compiled already).
    pub fn from_settings(settings: &Settings) -> Self {
        let rules = settings
            .routing
            .rules
            .iter()
            .map(|rule| {
                let vendors = rule.vendors.iter().map(|v| VendorName::new(v)).collect();
                (rule.pattern.clone(), vendors)
            })
            .collect();
        let vendors = settings
            .vendors
            .keys()
            .map(|n| VendorName::new(n))
            .collect();
        Self { vendors, rules }
    }

    /// Routes one code, or says why it cannot be routed. A prefix counts only when it is a
    /// vendor name (lowercase letters, digits, `_`), so other codes may contain `:`.
    pub fn route<'a>(&'a self, code: &DocumentCode) -> Result<Routed<'a>, Failure> {
        let prefixed = code.split_prefix().filter(|(p, _)| is_vendor_name(p));
        let sent = prefixed.map_or(code.as_str(), |(_, rest)| rest);
        // Vendors put codes in URL paths, where `.` and `..` are the current and parent path.
        if !sent.is_empty() && sent.bytes().all(|b| b == b'.') {
            return Err(Failure {
                code: ErrorCode::Unroutable,
                message: format!("`{sent}` cannot be a document code at any vendor."),
            });
        }
        if let Some((prefix, rest)) = prefixed {
            return match self.vendors.iter().find(|v| v.as_str() == prefix) {
                Some(_) if rest.is_empty() => Err(Failure {
                    code: ErrorCode::Unroutable,
                    message: "Nothing follows the vendor prefix.".into(),
                }),
                Some(vendor) => Ok(Routed::To(Route {
                    vendor: vendor.clone(),
                    vendor_code: rest.to_owned(),
                })),
                None => Err(Failure {
                    code: ErrorCode::UnknownVendor,
                    message: format!("The prefix `{prefix}:` names no configured vendor."),
                }),
            };
        }
        let (_, vendors) = self
            .rules
            .iter()
            .find(|(pattern, _)| pattern.is_match(code.as_str()))
            .ok_or_else(|| Failure {
                code: ErrorCode::Unroutable,
                message: "No routing rule matches this code; prefix it with a vendor name.".into(),
            })?;
        Ok(match &vendors[..] {
            [vendor] => Routed::To(Route {
                vendor: vendor.clone(),
                vendor_code: code.as_str().to_owned(),
            }),
            candidates => Routed::AmongCandidates(candidates),
        })
    }
}

/// Whether `prefix` can be a vendor name: lowercase ASCII letters, digits and `_`.
fn is_vendor_name(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn router(overlay: Option<&str>) -> Router {
        let env = HashMap::from([(
            "SIGNGATE__AUTH__API_KEY".to_string(),
            "test-api-key-0123456789".to_string(),
        )]);
        // The kinds the default rules name, on with their defaults.
        let overlay = format!("{ON}{}", overlay.unwrap_or_default());
        let settings = Settings::from_sources(None, Some(&overlay), env).expect("valid settings");
        Router::from_settings(&settings)
    }

    const ON: &str = "[vendors.auco]\n[vendors.zapsign]\n[vendors.d4sign]\n[vendors.yousign]\n";

    #[test]
    fn a_kind_not_configured_is_not_routed_to() {
        let env = HashMap::from([(
            "SIGNGATE__AUTH__API_KEY".to_string(),
            "test-api-key-0123456789".to_string(),
        )]);
        let settings =
            Settings::from_sources(None, Some("[vendors.auco]\n"), env).expect("valid settings");
        let r = Router::from_settings(&settings);

        let uuid = "bfe4e2c7-33be-4a70-8669-a0491f92e795";
        assert_eq!(vendor_of(&r, uuid), Err(ErrorCode::Unroutable));
        assert_eq!(
            vendor_of(&r, "zapsign:TR99AQMY31"),
            Err(ErrorCode::UnknownVendor)
        );
        assert_eq!(vendor_of(&r, "TR99AQMY31"), Ok("auco/TR99AQMY31".into()));
    }

    fn vendor_of(router: &Router, code: &str) -> Result<String, ErrorCode> {
        let code = DocumentCode::parse(code).expect("valid code");
        match router.route(&code) {
            Ok(Routed::To(r)) => Ok(format!("{}/{}", r.vendor, r.vendor_code)),
            Ok(Routed::AmongCandidates(vendors)) => Ok(vendors
                .iter()
                .map(VendorName::as_str)
                .collect::<Vec<_>>()
                .join("|")),
            Err(f) => Err(f.code),
        }
    }

    #[test]
    fn dot_segments_are_never_sent_to_a_vendor() {
        let r = router(Some(
            "[[routing.rules]]\npattern = \"^[.]+$\"\nvendor = \"auco\"\n",
        ));
        for code in ["zapsign:..", "auco:.", "..", "..."] {
            assert_eq!(vendor_of(&r, code), Err(ErrorCode::Unroutable), "{code}");
        }
        assert_eq!(vendor_of(&r, "auco:a.b"), Ok("auco/a.b".into()));
    }

    #[test]
    fn default_rules_send_uuids_to_zapsign_and_short_codes_to_auco() {
        let r = router(None);
        let uuid = "bfe4e2c7-33be-4a70-8669-a0491f92e795";
        // D4Sign and Yousign ship default tables and share ZapSign's UUID pattern: all three
        // are candidates.
        assert_eq!(vendor_of(&r, uuid), Ok("zapsign|d4sign|yousign".into()));
        assert_eq!(vendor_of(&r, "TR99AQMY31"), Ok("auco/TR99AQMY31".into()));
        assert_eq!(vendor_of(&r, "TR99AQMY3"), Ok("auco/TR99AQMY3".into()));
    }

    #[test]
    fn codes_matching_no_rule_are_unroutable() {
        let r = router(None);
        assert_eq!(vendor_of(&r, "tr99aqmy31"), Err(ErrorCode::Unroutable));
        assert_eq!(vendor_of(&r, "TR99AQMY31X"), Err(ErrorCode::Unroutable));
    }

    #[test]
    fn an_explicit_prefix_wins_over_the_rules() {
        let r = router(None);
        assert_eq!(
            vendor_of(&r, "zapsign:TR99AQMY31"),
            Ok("zapsign/TR99AQMY31".into())
        );
        assert_eq!(vendor_of(&r, "docusign:X1"), Err(ErrorCode::UnknownVendor));
        assert_eq!(vendor_of(&r, ":X1"), Err(ErrorCode::Unroutable));
        assert_eq!(vendor_of(&r, "auco:"), Err(ErrorCode::Unroutable));
    }

    #[test]
    fn a_prefix_that_is_not_a_vendor_name_is_part_of_the_code() {
        let overlay = r#"
            [[routing.rules]]
            pattern = "[A-Z]+:[0-9]+"
            vendor = "auco"
        "#;
        let r = router(Some(overlay));
        assert_eq!(vendor_of(&r, "INV:42"), Ok("auco/INV:42".into()));
        assert_eq!(vendor_of(&r, "x-y:42"), Err(ErrorCode::Unroutable));
        assert_eq!(vendor_of(&r, "nosuch:42"), Err(ErrorCode::UnknownVendor));
    }

    #[test]
    fn a_rule_with_several_vendors_leaves_the_choice_to_a_status_read() {
        let overlay = r#"
            [vendors.zapsign_b]
            kind = "zapsign"
            base_url = "http://127.0.0.1:1"
            [[routing.rules]]
            pattern = "[0-9]+"
            vendors = ["zapsign", "zapsign_b"]
        "#;
        let r = router(Some(overlay));
        assert_eq!(vendor_of(&r, "42"), Ok("zapsign|zapsign_b".into()));
        assert_eq!(vendor_of(&r, "zapsign_b:42"), Ok("zapsign_b/42".into()));
    }

    #[test]
    fn rules_apply_in_order_and_must_match_the_whole_code() {
        let overlay = r#"
            [vendors.auco_mx]
            kind = "auco"
            base_url = "http://127.0.0.1:1"
            [[routing.rules]]
            pattern = "MX[0-9]+"
            vendor = "auco_mx"
            [[routing.rules]]
            pattern = "[A-Z0-9]+"
            vendor = "auco"
        "#;
        let r = router(Some(overlay));
        assert_eq!(vendor_of(&r, "MX123"), Ok("auco_mx/MX123".into()));
        assert_eq!(vendor_of(&r, "MX12A"), Ok("auco/MX12A".into()));
        assert_eq!(vendor_of(&r, "auco_mx:ANY"), Ok("auco_mx/ANY".into()));
    }
}
