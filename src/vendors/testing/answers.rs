//! Arbitrary vendor answers for every kind's classification proptests: any status a server can
//! send, `Retry-After` and a kind's rate-limit headers holding anything (huge numbers, dates
//! past the clock, bytes), and bodies of bytes or JSON shaped like the kind's own. `check_reply`
//! and `check_read` hold what every classification promises: no panic, a defined outcome.

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use serde_json::{Map, Value};

use crate::model::Outcome;
use crate::vendors::http::{self, RawAnswer, MAX_VENDOR_WAIT};
use crate::vendors::{DocState, Reply, UpstreamError};

/// Cases per property: enough to cross every status band, few enough to keep the suite fast.
pub const CASES: u32 = 256;

/// Statuses some vendor documents, drawn more often than chance would.
const DOCUMENTED: &[u16] = &[
    200, 201, 204, 301, 302, 307, 400, 401, 402, 403, 404, 409, 410, 415, 422, 429, 500, 503,
];

/// Any status from `100` to `599`, the documented ones often.
pub fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        1 => 100u16..=599,
        1 => proptest::sample::select(DOCUMENTED),
    ]
}

/// What a header may hold: bytes, numbers of any size (negative too), and dates.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        any::<u128>().prop_map(|n| n.to_string().into_bytes()),
        any::<u64>().prop_map(|n| n.to_string().into_bytes()),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        (0u64..=4_102_444_800).prop_map(|n| n.to_string().into_bytes()),
        Just(b"Fri, 31 Dec 9999 23:59:59 GMT".to_vec()),
        Just(b"Thu, 01 Jan 1970 00:00:00 GMT".to_vec()),
        Just(b"99999999999999999999999999999999".to_vec()),
    ]
}

/// `Retry-After` and each of `names`, each present or not, holding anything a header can.
pub fn headers(names: &'static [&'static str]) -> impl Strategy<Value = HeaderMap> {
    let all: Vec<&'static str> = std::iter::once("retry-after")
        .chain(names.iter().copied())
        .collect();
    proptest::collection::vec(proptest::option::of(header_value()), all.len()).prop_map(
        move |values| {
            let mut headers = HeaderMap::new();
            for (name, value) in all.iter().zip(values) {
                let value = value.and_then(|v| HeaderValue::from_bytes(&v).ok());
                if let (Ok(name), Some(value)) = (HeaderName::from_bytes(name.as_bytes()), value) {
                    headers.insert(name, value);
                }
            }
            headers
        },
    )
}

/// A string: one of the kind's `texts` most often, else anything.
fn text(texts: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(texts).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A JSON value whose object keys are drawn from `fields` and whose strings from `texts` (or
/// anything), nested a few levels: the shapes a kind parses, and the shapes that break them.
fn json(
    fields: &'static [&'static str],
    texts: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        4 => text(texts).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(fields), inner), 0..5).prop_map(
                |pairs| {
                    let map: Map<String, Value> =
                        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    Value::Object(map)
                }
            ),
        ]
    })
}

/// A JSON object of the kind's `fields`, each holding any JSON value.
fn object(
    fields: &'static [&'static str],
    texts: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    proptest::collection::vec(
        (proptest::sample::select(fields), json(fields, texts)),
        0..5,
    )
    .prop_map(|pairs| {
        let map: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Value::Object(map)
    })
}

/// A flat JSON object: each of the kind's `fields` present or not, holding one of its `texts`
/// (or any string): the shape every error and status body has.
fn flat(
    fields: &'static [&'static str],
    texts: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    proptest::collection::vec(proptest::option::of(text(texts)), fields.len()).prop_map(
        move |values| {
            let map: Map<String, Value> = fields
                .iter()
                .zip(values)
                .filter_map(|(k, v)| Some(((*k).to_owned(), Value::String(v?))))
                .collect();
            Value::Object(map)
        },
    )
}

/// A body: arbitrary bytes, any JSON, and most often an object of the kind's `fields` and
/// `texts` (alone, or as a one-element array, as D4Sign answers).
pub fn body(
    fields: &'static [&'static str],
    texts: &'static [&'static str],
) -> impl Strategy<Value = Vec<u8>> {
    let bytes = |v: Value| serde_json::to_vec(&v).unwrap_or_default();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => json(fields, texts).prop_map(bytes),
        2 => object(fields, texts).prop_map(bytes),
        3 => flat(fields, texts).prop_map(bytes),
        1 => flat(fields, texts).prop_map(move |v| bytes(Value::Array(vec![v]))),
    ]
}

/// The answer `http::send` would hand over for these parts (`Retry-After` read as it reads it).
pub fn answer(status: u16, headers: &HeaderMap, body: Vec<u8>) -> RawAnswer {
    RawAnswer {
        status: StatusCode::from_u16(status).expect("a status from 100 to 599"),
        retry_after: http::retry_after(headers),
        body: Bytes::from(body),
    }
}

/// What every error promises: a wait within the cap and a document error code.
fn check_error(status: u16, error: &UpstreamError) -> Result<(), TestCaseError> {
    prop_assert!(
        error
            .retry_after()
            .is_none_or(|wait| wait <= MAX_VENDOR_WAIT),
        "{status}: {error:?}"
    );
    prop_assert!(error.clone().into_outcome().error_code().is_some());
    if (300..=399).contains(&status) {
        prop_assert_eq!(error, &UpstreamError::BadResponse { status });
    }
    Ok(())
}

/// What every cancel answer's reading promises: a redirect is a bad response; an answer keeps
/// the status it came with; a failure has a code and a sentence.
pub fn check_reply(status: u16, reply: &Reply) -> Result<(), TestCaseError> {
    match reply {
        Ok(answer) => {
            prop_assert!(!(300..=399).contains(&status), "{status}: {answer:?}");
            prop_assert_eq!(answer.http_status, status);
            if let Outcome::Failed(failure) = &answer.outcome {
                prop_assert!(!failure.message.trim().is_empty(), "{status}: {failure:?}");
            }
            Ok(())
        }
        Err(error) => check_error(status, error),
    }
}

/// What every status read's reading promises: a state, or an error as `check_reply` wants it.
pub fn check_read(
    status: u16,
    read: &Result<DocState, UpstreamError>,
) -> Result<(), TestCaseError> {
    match read {
        Ok(_) => {
            prop_assert!(!(300..=399).contains(&status), "{status}: {read:?}");
            Ok(())
        }
        Err(error) => check_error(status, error),
    }
}
