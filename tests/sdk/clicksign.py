#!/usr/bin/env python3
"""clicksign.py: the Clicksign Python SDK (`clicksign-python-sdk`) against signgate's simulated
Clicksign API v3, to prove the simulator speaks the vendor's wire format.

Start a simulator first (`signgate simulate --listen 127.0.0.1:9911`, with its demo documents)
and point SIGNGATE_SIM_URL at it (`http://127.0.0.1:9911`). The script reads a seeded running
document inside its envelope, cancels it with the SDK's `Document.update(status="canceled")`
(a JSON:API PATCH), reads it back as canceled, and checks that a second cancel, a cancel of a
closed document, an unknown document and a wrong token fail as the SDK raises them. It exits
non-zero on the first mismatch.
"""

import os
import sys

# This file has the SDK package's name: Python puts its folder first on the path, so the
# package would import this file. Drop the folder before importing the SDK.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]

from clicksign import (  # noqa: E402 (after the path fix above)
    AuthenticationError,
    ClicksignClient,
    ClicksignError,
    Document,
    NotFoundError,
    ValidationError,
)
from clicksign.client_scope import client_scope  # noqa: E402

ACCESS_TOKEN = "sim-clicksign-token"
# Seeded by `signgate simulate`: the last of the demo's running documents, then a closed one,
# all in one envelope (see src/vendors/clicksign/simulator.rs, DEMO).
ENVELOPE = "c1c5c1c5-0000-4000-8000-00000000e001"
RUNNING = "c1c5c1c5-0000-4000-8000-000000000003"
CLOSED = "c1c5c1c5-0000-4000-8000-000000000201"
UNKNOWN = "c1c5c1c5-0000-4000-8000-000000009999"


class Mismatch(Exception):
    """The simulator answered something the real Clicksign would not."""


def expect(condition, what):
    if not condition:
        raise Mismatch(what)


def refusal(call):
    """The SDK error class and HTTP status that `call` raises."""
    try:
        call()
    except ClicksignError as e:
        return type(e), e.status_code
    raise Mismatch("expected an error, the call succeeded")


def client(url, token=ACCESS_TOKEN):
    # No retries: every answer checked here is final, and a retry would hide a wrong one.
    return ClicksignClient(api_key=token, base_url=f"{url}/clicksign/api/v3", max_retries=0)


def check(url):
    sdk = client(url)
    with client_scope(sdk.http, sdk.bulk):
        document = Document.retrieve(RUNNING, envelope_id=ENVELOPE)
        expect(document.id == RUNNING, f"read back {document.id}")
        expect(document.envelope_id == ENVELOPE, f"in envelope {document.envelope_id}")
        expect(document.status == "running", f"not running: {document.status}")

        # The SDK's cancel: PATCH /envelopes/{envelope}/documents/{document}.
        document.update(status="canceled")
        expect(document.status == "canceled", f"the cancel answered {document.status}")
        read_back = Document.retrieve(RUNNING, envelope_id=ENVELOPE)
        expect(read_back.status == "canceled", f"read after cancel: {read_back.status}")

        again = refusal(lambda: read_back.update(status="canceled"))
        expect(again == (ValidationError, 422), f"second cancel: {again}")

        closed = Document.retrieve(CLOSED, envelope_id=ENVELOPE)
        expect(closed.status == "closed", f"closed document reads {closed.status}")
        refused = refusal(lambda: closed.update(status="canceled"))
        expect(refused == (ValidationError, 422), f"cancel of a closed document: {refused}")
        still = Document.retrieve(CLOSED, envelope_id=ENVELOPE)
        expect(still.status == "closed", f"a refused cancel changed it: {still.status}")

        missing = refusal(lambda: Document.retrieve(UNKNOWN, envelope_id=ENVELOPE))
        expect(missing == (NotFoundError, 404), f"an unknown document: {missing}")

    stranger = client(url, token="not-the-token")
    with client_scope(stranger.http, stranger.bulk):
        denied = refusal(lambda: Document.retrieve(CLOSED, envelope_id=ENVELOPE))
        expect(denied == (AuthenticationError, 401), f"a wrong token: {denied}")


def main():
    url = os.environ.get("SIGNGATE_SIM_URL")
    if not url:
        print("clicksign.py: set SIGNGATE_SIM_URL to the simulator's base URL", file=sys.stderr)
        return 2
    try:
        check(url.rstrip("/"))
    except Mismatch as e:
        print(f"clicksign.py: FAILED: {e}", file=sys.stderr)
        return 1
    except ClicksignError as e:
        print(
            f"clicksign.py: FAILED: an unexpected answer {e.status_code}: {e.response_body}",
            file=sys.stderr,
        )
        return 1
    print("clicksign.py: the Clicksign SDK agrees with the simulated Clicksign")
    return 0


if __name__ == "__main__":
    sys.exit(main())
