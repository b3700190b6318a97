#!/usr/bin/env python3
"""dropboxsign.py: the official Dropbox Sign Python SDK (`dropbox-sign`) against signgate's
simulated Dropbox Sign, to prove the simulator speaks the vendor's wire format.

Start a simulator first (`signgate simulate --listen 127.0.0.1:9911`, with its demo documents)
and point SIGNGATE_SIM_URL at it (`http://127.0.0.1:9911`). The script cancels a seeded
in-progress signature request, reads it while the cancel is queued and once it took effect
(`410 deleted`), and checks the simulator's refusals as the SDK raises them. It exits non-zero
on the first mismatch.
"""

import os
import sys
import time

from dropbox_sign import ApiClient, ApiException, Configuration, api

API_KEY = "sim-key"
# Seeded by `signgate simulate`: the last of the demo's in-progress requests, then one per
# closed state (see src/vendors/dropboxsign/simulator.rs, DEMO).
IN_PROGRESS = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50005"
COMPLETE = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50201"
DECLINED = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50301"
UNKNOWN = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d59999"
# How long the cancel may take to take effect (the simulator's default queue delay is 200 ms).
CANCEL_WITHIN_S = 10.0


class Mismatch(Exception):
    """The simulator answered something the real Dropbox Sign would not."""


def expect(condition, what):
    if not condition:
        raise Mismatch(what)


def refusal(call):
    """The status and error_name of the ApiException `call` raises."""
    try:
        call()
    except ApiException as e:
        name = e.data.error.error_name if e.data is not None else None
        return e.status, name
    raise Mismatch("expected an error, the call succeeded")


def signature_requests(url, username=API_KEY):
    configuration = Configuration(host=f"{url}/dropboxsign/v3", username=username)
    return api.SignatureRequestApi(ApiClient(configuration))


def check(url):
    requests = signature_requests(url)

    before = requests.signature_request_get(IN_PROGRESS).signature_request
    expect(before.signature_request_id == IN_PROGRESS, f"read back {before.signature_request_id}")
    expect(not before.is_complete and not before.is_declined, f"not in progress: {before}")

    # An empty 200: the SDK returns None. The cancel is queued, not done.
    expect(requests.signature_request_cancel(IN_PROGRESS) is None, "cancel returned a body")

    deadline = time.monotonic() + CANCEL_WITHIN_S
    while True:
        try:
            queued = requests.signature_request_get(IN_PROGRESS).signature_request
        except ApiException as e:
            expect(e.status == 410, f"read after cancel answered {e.status}")
            expect(e.data.error.error_name == "deleted", f"410 named {e.data.error.error_name}")
            break
        expect(not queued.is_complete, "a queued cancel reads complete")
        expect(time.monotonic() < deadline, f"not cancelled within {CANCEL_WITHIN_S} s")
        time.sleep(0.1)

    gone = refusal(lambda: requests.signature_request_cancel(IN_PROGRESS))
    expect(gone == (410, "deleted"), f"second cancel: {gone}")

    complete = requests.signature_request_get(COMPLETE).signature_request
    expect(complete.is_complete, f"complete request reads {complete}")
    refused = refusal(lambda: requests.signature_request_cancel(COMPLETE))
    expect(refused == (400, "bad_request"), f"cancel of a complete request: {refused}")
    declined = requests.signature_request_get(DECLINED).signature_request
    expect(declined.is_declined, f"declined request reads {declined}")

    missing = refusal(lambda: requests.signature_request_cancel(UNKNOWN))
    expect(missing == (404, "not_found"), f"cancel of an unknown request: {missing}")

    stranger = signature_requests(url, username="not-the-key")
    denied = refusal(lambda: stranger.signature_request_get(COMPLETE))
    expect(denied == (401, "unauthorized"), f"a wrong key: {denied}")


def main():
    url = os.environ.get("SIGNGATE_SIM_URL")
    if not url:
        print("dropboxsign.py: set SIGNGATE_SIM_URL to the simulator's base URL", file=sys.stderr)
        return 2
    try:
        check(url.rstrip("/"))
    except Mismatch as e:
        print(f"dropboxsign.py: FAILED: {e}", file=sys.stderr)
        return 1
    except ApiException as e:
        print(f"dropboxsign.py: FAILED: an unexpected answer {e.status}: {e.body}", file=sys.stderr)
        return 1
    print("dropboxsign.py: the official SDK agrees with the simulated Dropbox Sign")
    return 0


if __name__ == "__main__":
    sys.exit(main())
