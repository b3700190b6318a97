"""schemathesis hooks for .ci/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

A bulk job's `callback_url` (openapi.yaml, JobRequest) is a `uri` whose host must be listed in
the gateway's `jobs.callback_hosts`, which no generated URI would be: every schema-valid job
with a callback would be refused, and a listed public host would send the finished job off
the machine. The script lists one loopback `host:port` where nothing listens
(ST_CALLBACK_BASE), and this makes every `uri` schemathesis generates a URL on it, so the
callbacks are accepted, signed, sent and retried, and never leave loopback.

`ast.parse` is also serialised. Hypothesis parses source files to describe the lambdas that
filter path parameters; on CPython 3.11 two workers parsing at once share one AST recursion
counter and one of them fails with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905), a schemathesis runtime error that has nothing to do with the API.
"""

import ast
import os
import threading

import schemathesis
from hypothesis import strategies as st

BASE = os.environ["ST_CALLBACK_BASE"]

schemathesis.openapi.format(
    "uri",
    st.from_regex(r"[a-z0-9_-]{0,12}(/[a-z0-9_-]{1,12}){0,2}", fullmatch=True).map(
        lambda path: f"{BASE}/{path}"
    ),
)

_PARSE = ast.parse
_PARSING = threading.Lock()


def _parse_one_at_a_time(*args, **kwargs):
    with _PARSING:
        return _PARSE(*args, **kwargs)


ast.parse = _parse_one_at_a_time
