"""Checks the simulated DocuSign with DocuSign's official Python SDK (docusign-esign).

Run against `signgate simulate` (seeded with the demo envelopes): reads the simulator's URL
from SIGNGATE_SIM_URL (for example http://127.0.0.1:9911), voids a demo envelope that is
sent, reads it back as voided, and checks that a second void is refused as DocuSign refuses
it. Exits non-zero on any mismatch.
"""

import os
import sys

from docusign_esign import ApiClient, Envelope, EnvelopesApi
from docusign_esign.client.api_exception import ApiException

ACCOUNT = "sim-account"
TOKEN = "sim-token"
# A demo envelope that `signgate simulate` seeds as sent (src/vendors/docusign/simulator.rs).
ENVELOPE = "d5d5d5d5-0000-4000-8000-000000000003"


def fail(message):
    print(f"docusign sdk check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    base = os.environ.get("SIGNGATE_SIM_URL", "").rstrip("/")
    if not base:
        fail("SIGNGATE_SIM_URL is not set")
    client = ApiClient(host=f"{base}/docusign/restapi")
    client.set_default_header("Authorization", f"Bearer {TOKEN}")
    envelopes = EnvelopesApi(client)

    before = envelopes.get_envelope(ACCOUNT, ENVELOPE)
    if before.status != "sent":
        fail(f"the demo envelope reads {before.status!r}, not 'sent'")

    summary = envelopes.update(
        ACCOUNT,
        ENVELOPE,
        envelope=Envelope(status="voided", voided_reason="Checked with the official SDK"),
    )
    if summary.envelope_id != ENVELOPE:
        fail(f"the void answered envelopeId {summary.envelope_id!r}")

    after = envelopes.get_envelope(ACCOUNT, ENVELOPE)
    if after.status != "voided":
        fail(f"the voided envelope reads {after.status!r}, not 'voided'")

    try:
        envelopes.update(
            ACCOUNT, ENVELOPE, envelope=Envelope(status="voided", voided_reason="again")
        )
    except ApiException as e:
        if e.status != 400 or "ENVELOPE_CANNOT_VOID_INVALID_STATE" not in str(e.body):
            fail(f"a second void answered {e.status} {e.body!r}")
    else:
        fail("a second void was accepted")

    print("docusign sdk check: 3 passed, 0 failed")


if __name__ == "__main__":
    main()
