//! The demo documents: memorable codes in every state, for `signgate demo`, tests and docs.

use super::{AucoState, Simulator, ZapSignState};

/// The Auco documents `seed_demo` creates (codes match `^[A-Z0-9]{9,10}$`).
pub const DEMO_AUCO: [(&str, AucoState); 8] = [
    ("AUCOOPEN01", AucoState::InProgress),
    ("AUCOOPEN02", AucoState::InProgress),
    ("AUCOOPEN03", AucoState::InProgress),
    ("AUCOOPEN04", AucoState::InProgress),
    ("AUCOOPEN05", AucoState::InProgress),
    ("AUCOSIGN01", AucoState::Signed),
    ("AUCODONE01", AucoState::Cancelled),
    ("AUCOEXPD01", AucoState::Expired),
];

/// The ZapSign documents `seed_demo` creates (tokens are UUIDs; the last group tells the
/// state: `00000000000N` pending, `0000000001..` refused, `0000000002..` signed,
/// `0000000003..` not allowed).
pub const DEMO_ZAPSIGN: [(&str, ZapSignState); 8] = [
    (
        "0a1b2c3d-0000-4000-8000-000000000001",
        ZapSignState::Pending,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000002",
        ZapSignState::Pending,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000003",
        ZapSignState::Pending,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000004",
        ZapSignState::Pending,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000005",
        ZapSignState::Pending,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000101",
        ZapSignState::Refused,
    ),
    ("0a1b2c3d-0000-4000-8000-000000000201", ZapSignState::Signed),
    (
        "0a1b2c3d-0000-4000-8000-000000000301",
        ZapSignState::NotAllowed,
    ),
];

impl Simulator {
    /// Seeds `DEMO_AUCO` and `DEMO_ZAPSIGN`: documents in every state.
    pub fn seed_demo(&self) {
        for (code, state) in DEMO_AUCO {
            self.seed_auco(code, state);
        }
        for (token, state) in DEMO_ZAPSIGN {
            self.seed_zapsign(token, state);
        }
    }
}

/// The demo documents as lines for a terminal, grouped by vendor and state.
pub fn describe_demo_documents() -> String {
    let mut text = String::new();
    let auco = [
        (AucoState::InProgress, "in progress"),
        (AucoState::Cancelled, "already cancelled"),
        (AucoState::Signed, "signed"),
        (AucoState::Expired, "expired"),
    ];
    for (state, label) in auco {
        let codes: Vec<&str> = DEMO_AUCO
            .iter()
            .filter(|(_, s)| *s == state)
            .map(|(code, _)| *code)
            .collect();
        text.push_str(&format!("  auco     {label:<18} {}\n", codes.join(" ")));
    }
    let zapsign = [
        (ZapSignState::Pending, "pending"),
        (ZapSignState::Refused, "already refused"),
        (ZapSignState::Signed, "signed"),
        (ZapSignState::NotAllowed, "refuse not allowed"),
    ];
    for (state, label) in zapsign {
        for (token, _) in DEMO_ZAPSIGN.iter().filter(|(_, s)| *s == state) {
            text.push_str(&format!("  zapsign  {label:<18} {token}\n"));
        }
    }
    text
}
