//! The demo documents: every vendor's memorable codes in every state, for `signgate demo`,
//! tests and docs. Each vendor's simulator (`SimVendor::seed_demo`) owns its own.

use super::Simulator;

impl Simulator {
    /// Seeds every vendor's demo documents: documents in every state.
    pub fn seed_demo(&self) {
        for vendor in self.inner.vendors {
            vendor.seed_demo(self);
        }
    }
}

/// The demo documents of every vendor in `vendors()` as lines for a terminal, grouped by
/// vendor and state.
pub fn describe_demo_documents() -> String {
    let mut text = String::new();
    let width = super::name_width(super::vendors());
    for vendor in super::vendors() {
        for (label, codes) in vendor.describe_demo() {
            text.push_str(&format!(
                "  {:<width$} {label:<18} {codes}\n",
                vendor.name()
            ));
        }
    }
    text
}
