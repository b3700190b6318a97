//! A simulated Yousign signature request: its status (every value of Yousign's
//! `SignatureRequestStatus`), the `SignatureRequest` body the API answers with, and the demo
//! requests. Statuses: <https://developers.yousign.com/docs/signature-request-2>.

use serde_json::{json, Value};

/// The demo signature requests `seed_demo` creates, at least one in every status (ids are
/// UUIDs; the last four digits tell the status: `000N` ongoing, `0011` approval, `0101`
/// canceled, `0201` done, `03NN` a status that cannot be cancelled).
pub const DEMO: [(&str, YousignState); 13] = [
    (
        "e5e5e5e5-0000-4000-8000-000000000001",
        YousignState::Ongoing,
    ),
    (
        "e5e5e5e5-0000-4000-8000-000000000002",
        YousignState::Ongoing,
    ),
    (
        "e5e5e5e5-0000-4000-8000-000000000003",
        YousignState::Ongoing,
    ),
    (
        "e5e5e5e5-0000-4000-8000-000000000004",
        YousignState::Ongoing,
    ),
    (
        "e5e5e5e5-0000-4000-8000-000000000005",
        YousignState::Ongoing,
    ),
    (
        "e5e5e5e5-0000-4000-8000-000000000011",
        YousignState::Approval,
    ),
    (
        "e5e5e5e5-0000-4000-8000-000000000101",
        YousignState::Canceled,
    ),
    ("e5e5e5e5-0000-4000-8000-000000000201", YousignState::Done),
    (
        "e5e5e5e5-0000-4000-8000-000000000301",
        YousignState::Expired,
    ),
    (
        "e5e5e5e5-0000-4000-8000-000000000302",
        YousignState::Declined,
    ),
    (
        "e5e5e5e5-0000-4000-8000-000000000303",
        YousignState::Rejected,
    ),
    (
        "e5e5e5e5-0000-4000-8000-000000000304",
        YousignState::Deleted,
    ),
    ("e5e5e5e5-0000-4000-8000-000000000305", YousignState::Draft),
];

/// A Yousign signature request's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YousignState {
    /// Not activated yet.
    Draft,
    /// Activated, waiting for approvers: cancellable.
    Approval,
    /// Activated and approved, waiting for signers: cancellable.
    Ongoing,
    /// Every approver approved and every signer signed.
    Done,
    /// Cancelled; it cannot be reactivated.
    Canceled,
    /// Past its expiration date.
    Expired,
    /// A signer declined it.
    Declined,
    /// An approver rejected it.
    Rejected,
    /// Deleted.
    Deleted,
}

impl YousignState {
    /// The `status` Yousign reports.
    pub fn wire(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Approval => "approval",
            Self::Ongoing => "ongoing",
            Self::Done => "done",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Declined => "declined",
            Self::Rejected => "rejected",
            Self::Deleted => "deleted",
        }
    }

    /// The `SignatureRequest` the API answers with (the fields the simulator can fill).
    pub fn body(self, id: &str) -> Value {
        json!({
            "id": id,
            "status": self.wire(),
            "name": "Simulated agreement",
            "delivery_mode": "email",
            "created_at": "2026-01-05T09:00:00+00:00",
            "ordered_signers": false,
            "timezone": "Europe/Paris",
            "email_custom_note": null,
            "expiration_date": "2026-07-05T21:59:00+00:00",
            "source": "public_api",
            "signers": [],
            "approvers": [],
            "documents": [],
            "external_id": null,
            "branding_id": null,
            "custom_experience_id": null,
            "signers_allowed_to_decline": true,
            "audit_trail_locale": "en",
            "bulk_send_batch_id": null,
        })
    }
}
