"""Schemathesis hooks for tests/livchat/test_api_schema.py (loaded by the CLI through SCHEMATHESIS_HOOKS).

Fuzzed inline commands run for real on the test sshd: keep each one short. Only timeouts
that are valid anyway are shortened, so an invalid one still reaches the API as generated.
"""

from __future__ import annotations

import os

import schemathesis

FUZZ_EXEC_TIMEOUT = 2
INLINE_MAX_TIMEOUT = int(os.environ.get("FUZZ_INLINE_MAX_TIMEOUT", "120"))


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    body = case.body
    if not (case.operation.path.endswith("/exec") and isinstance(body, dict) and body.get("use_job") is not True):
        return
    timeout = body.get("timeout")
    whole = type(timeout) is int or (type(timeout) is float and timeout.is_integer())
    if timeout is None or (whole and FUZZ_EXEC_TIMEOUT < timeout <= INLINE_MAX_TIMEOUT):
        body["timeout"] = FUZZ_EXEC_TIMEOUT
