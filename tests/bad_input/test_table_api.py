"""The table, JSON API surface: every bad request gets a 4xx `{"error": "..."}` that says what
is wrong, changes nothing, never leaks a traceback and never hangs; the odd-but-valid inputs
(quotes, newlines, spaces) simply work."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from jobs.models import Job
from tests.api_helpers import assert_error
from tests.bad_input.helpers import JOB_LINE_COUNT, SPACED_DIR, XSS, Row, assert_no_traceback, table

MIB = 1024 * 1024
# A ReDoS pattern must be stopped by the search budget (2 s); this bound only tells "answered"
# from "hung" on a busy 2-core machine.
ANSWER_WITHIN_SECONDS = 20
UNSET = object()


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # {job}, {server}, {closed} are filled in by the world fixture
    body: Any = UNSET  # sent as JSON
    raw: str | bytes | None = None  # sent as is, with Content-Type application/json
    params: dict = field(default_factory=dict)
    auth: str = "token"


def _logs(**params) -> Call:
    return Call("get", "/api/jobs/{job}/logs", params=params)


def _exec(auth: str = "token", **body) -> Call:
    return Call("post", "/api/servers/{server}/exec", body=body, auth=auth)


def _download(job_part: str) -> Call:
    return Call("get", f"/api/jobs/{job_part}/logs/download")


def _raw_exec(raw: str | bytes, auth: str = "token") -> Call:
    return Call("post", "/api/servers/{server}/exec", raw=raw, auth=auth)


def _exec_true_on(server: str) -> Call:
    return Call("post", f"/api/servers/{server}/exec", {"command": "true"})


def _new_server(body: dict) -> Call:
    return Call("post", "/api/servers/", body)


def _patch_server(body: dict) -> Call:
    return Call("patch", "/api/servers/{server}", body)


def _row(name: str, call: Call, expect: int, fragment: str, check=None) -> Row:
    return Row("api", name, call, expect, fragment, check)


# ---- checks for rows that work -------------------------------------------------------------
def _nothing_after_the_end(body: dict) -> None:
    assert body["count"] == 0 and body["lines"] == [] and body["last_seq"] == JOB_LINE_COUNT


def _quoted_output(body: dict) -> None:
    assert body["success"] is True and body["exit_code"] == 0, body
    assert body["stdout"] == 'it\'s\nsay "hi"\n$HOME stays literal\nsecond line\n'


def _spaced_dir(body: dict) -> None:
    assert body["success"] is True and body["stdout"] == SPACED_DIR + "\n", body


def _unreachable(body: dict) -> None:
    assert body["success"] is False and body["exit_code"] is None, body


def _script_verbatim(body: dict) -> None:
    assert body["stdout"] == XSS + "\n"  # JSON carries it as data; pages must escape it


QUOTES_AND_NEWLINES = "printf '%s\\n' \"it's\" 'say \"hi\"' '$HOME stays literal'\necho 'second line'"

ROWS = table(
    # unknown ids
    _row("unknown-server", Call("get", "/api/servers/nope"), 404, "No server named 'nope'"),
    _row("exec-on-unknown-server", _exec_true_on("nope"), 404, "No server named 'nope'"),
    _row("unknown-job", Call("get", "/api/jobs/remote_exec-ffffffff"), 404, "No job with id 'remote_exec-ffffffff'"),
    _row("logs-of-unknown-job", Call("get", "/api/jobs/remote_exec-ffffffff/logs"), 404, "No job with id"),
    _row("cancel-unknown-job", Call("post", "/api/jobs/remote_exec-ffffffff/cancel"), 404, "No job with id"),
    _row("unknown-route", Call("get", "/api/nope/"), 404, "Not found"),
    # malformed JSON
    _row("json-syntax-error", _raw_exec("{bad"), 400, "not valid JSON"),
    _row("json-truncated", _raw_exec('{"command": "x"'), 400, "not valid JSON"),
    _row("json-empty-body", _raw_exec(""), 422, "a JSON object is required"),
    _row("json-array-not-object", _raw_exec("[1, 2]"), 422, "valid dictionary or object"),
    _row("json-invalid-utf8", _raw_exec(b'{"command": "\xff"}'), 400, "not valid JSON"),
    _row("json-nested-100000-deep", _raw_exec("[" * 100_000 + "]" * 100_000), 400, "not valid JSON"),
    _row(
        "json-5000-digit-number", _raw_exec('{"command": "true", "timeout": ' + "9" * 5000 + "}"), 400, "not valid JSON"
    ),
    _row("json-infinite-timeout", _raw_exec('{"command": "true", "timeout": 1e400}'), 422, "timeout"),
    _row("form-body-not-json", Call("post", "/api/servers/", raw="name=x&host=h"), 400, "not valid JSON"),
    # wrong types
    _row("command-is-a-number", _exec(command=123), 422, "command"),
    _row("command-is-a-list", _exec(command=["echo", "hi"]), 422, "command"),
    _row("timeout-is-text", _exec(command="true", timeout="abc"), 422, "timeout"),
    _row("timeout-is-bool", _exec(command="true", timeout=True), 422, "timeout"),
    _row("use-job-is-text", _exec(command="true", use_job="maybe"), 422, "use_job"),
    _row("port-is-text", _new_server({"name": "x", "host": "h", "port": "twenty"}), 422, "port"),
    _row("port-70000", _new_server({"name": "x", "host": "h", "port": 70000}), 422, "port"),
    # server fields that reach the Ansible inventory; a name that exists (never overwritten)
    _row("host-control-chars", _new_server({"name": "x", "host": "bad\x01host"}), 422, "not a valid host"),
    _row("host-not-idna", _new_server({"name": "x", "host": "\u200b.example"}), 422, "not a valid host"),
    _row("host-label-over-63", _new_server({"name": "x", "host": "x" * 64 + ".example"}), 422, "longer than 63"),
    _row("host-template", _new_server({"name": "x", "host": "{{ lookup('pipe','id') }}"}), 422, "not a valid host"),
    _row("username-template", _new_server({"name": "x", "host": "h", "username": "a{{x}}"}), 422, "POSIX login name"),
    _row(
        "python-relative",
        _new_server({"name": "x", "host": "h", "python_interpreter": "python3"}),
        422,
        "absolute path",
    ),
    _row("server-name-exists", _new_server({"name": "{server}", "host": "127.0.0.1"}), 409, "exists already"),
    _row("patch-host-control-chars", _patch_server({"host": "a\nb"}), 422, "not a valid host"),
    _row("patch-port-null", _patch_server({"port": None}), 422, "port"),
    _row("misspelt-field", _exec(command="true", timout=5), 422, "timout"),
    _row("server-filter-with-nul", Call("get", "/api/jobs/", params={"server": "a\x00b"}), 422, "must not contain NUL"),
    _row("limit-zero", Call("get", "/api/jobs/", params={"limit": 0}), 422, "limit"),
    _row("recent-negative", Call("get", "/api/jobs/{job}", params={"recent": -1}), 422, "recent"),
    _row("status-filter-unknown", Call("get", "/api/jobs/", params={"status": "bogus"}), 422, "status"),
    # tail and timeout out of range
    _row("tail-negative", _logs(tail=-1), 422, "tail"),
    _row("tail-zero", _logs(tail=0), 422, "tail"),
    _row("tail-huge", _logs(tail=10**12), 422, "tail"),
    _row("tail-not-a-number", _logs(tail="all"), 422, "tail"),
    _row("timeout-negative", _exec(command="true", timeout=-5), 422, "timeout"),
    _row("timeout-huge", _exec(command="true", timeout=10**30), 422, "timeout"),
    _row("job-timeout-over-max", _exec(command="true", timeout=86401, use_job=True), 422, "timeout"),
    _row("inline-timeout-over-max", _exec(command="true", timeout=121), 422, '"use_job": true'),
    # level, stream, regex
    _row("level-unknown", _logs(level="LOUD"), 422, "level must be one of DEBUG, INFO"),
    _row("stream-unknown", _logs(stream="stdin"), 422, "stream must be one of stdout, stderr, system"),
    _row("regex-invalid", _logs(q="(unclosed"), 400, "Not a valid regular expression"),
    _row("regex-trailing-backslash", _logs(q="\\"), 400, "Not a valid regular expression"),
    _row("regex-huge-repeat", _logs(q="a{99999999999}"), 400, "Not a valid regular expression"),
    _row("regex-catastrophic", _logs(q="(a|aa)+$"), 400, "took longer"),
    _row("regex-too-long", _logs(q="x" * 501), 422, "q"),
    _row(
        "regex-repeats-explode",
        _logs(q="(?:(?:(?:a{1000}){1000}){1000})"),
        400,
        "Too complex a regular expression: its repeats",
    ),
    # after
    _row("after-negative", _logs(after=-1), 422, "after"),
    _row("after-not-a-number", _logs(after="x"), 422, "after"),
    _row("after-beyond-64-bit", _logs(after=10**30), 422, "after"),
    _row("after-beyond-the-end", _logs(after=10**9), 200, '"count": 0', _nothing_after_the_end),
    # path traversal in the job id of a download
    _row("download-dotdot", _download("../../etc/passwd"), 404, "Not found"),
    _row("download-dotdot-encoded", _download("..%2F..%2Fetc%2Fpasswd"), 404, "Not found"),
    _row("download-dots-encoded", _download("%2e%2e%2f%2e%2e%2fetc%2fpasswd"), 404, "Not found"),
    _row("download-double-encoded", _download("..%252F..%252Fetc%252Fpasswd"), 404, "No job with id"),
    _row("download-nul-in-id", _download("remote_exec-00000000%00"), 404, "No job with id"),
    _row("download-unknown-job", _download("remote_exec-ffffffff"), 404, "No job with id"),
    # oversized bodies
    _row("exec-body-over-1-mib", _exec(command="echo " + "x" * MIB), 413, "too large"),
    _row("server-body-over-1-mib", _new_server({"name": "x", "host": "h", "description": "d" * MIB}), 413, "1 MiB"),
    # who may call
    _row("anonymous-get", Call("get", "/api/jobs/", auth="none"), 401, "Authentication required"),
    _row("anonymous-exec", _exec(auth="none", command="true"), 401, "Authentication required"),
    _row("unknown-token", Call("get", "/api/jobs/", auth="bad-token"), 401, "Invalid API token"),
    _row("no-role-token", Call("get", "/api/jobs/{job}", auth="plain-token"), 403, "needs the Viewers role"),
    _row("no-role-session", Call("get", "/api/jobs/{job}/logs", auth="plain-session"), 403, "needs the Viewers role"),
    _row("session-post-without-csrf", _exec(auth="staff-session", command="true"), 403, "CSRF check failed"),
    _row("session-json-syntax-error", _raw_exec("{bad", auth="staff-session-csrf"), 400, "not valid JSON"),
    _row("session-command-with-nul", _exec(auth="staff-session-csrf", command="a\x00b", use_job=True), 422, "NUL"),
    _row(
        "session-unknown-job",
        Call("get", "/api/jobs/remote_exec-ffffffff", auth="staff-session"),
        404,
        "No job with id",
    ),
    # commands and directories
    _row("command-with-quotes-and-newlines", _exec(command=QUOTES_AND_NEWLINES), 200, "second line", _quoted_output),
    _row("command-with-script-tag", _exec(command=f"echo '{XSS}'"), 200, "alert(1)", _script_verbatim),
    _row("command-with-nul", _exec(command="echo a\x00b"), 422, "NUL"),
    _row("job-command-with-nul", _exec(command="echo a\x00b", use_job=True), 422, "NUL"),
    _row("command-blank", _exec(command="   "), 400, "command must be a non-empty string"),
    _row("command-lone-surrogate", _exec(command="echo \ud800"), 422, "command"),
    _row("working-dir-with-spaces", _exec(command="pwd", working_dir=SPACED_DIR), 200, SPACED_DIR, _spaced_dir),
    _row("working-dir-with-newline", _exec(command="pwd", working_dir="/tmp\nrm -rf /"), 422, "working_dir"),
    # state and method
    _row("cancel-finished-job", Call("post", "/api/jobs/{job}/cancel"), 409, "has already finished"),
    _row("delete-a-job", Call("delete", "/api/jobs/{job}"), 405, "Method not allowed"),
    _row("exec-on-closed-port", _exec_true_on("{closed}"), 200, "connection refused", _unreachable),
)


def _send(api, call: Call, world):
    path = world.fill(call.path)
    if call.method == "get":
        return api.get(path, world.fill(call.params))
    if call.method == "post":
        raw = world.fill(call.raw) if call.raw is not None else None
        body = world.fill(call.body) if call.body is not UNSET else UNSET
        return api.post(path, raw=raw) if body is UNSET else api.post(path, body, raw=raw)
    if call.method == "patch":
        return api.patch(path, world.fill(call.body))
    return getattr(api.client, call.method)(path, **api.headers)


def _runs_inline(row: Row) -> bool:
    """An inline exec that passes the checks runs as an inline job in this process (its sink
    writes from its own thread, so the data must be committed) and stays on record."""
    call = row.input
    return row.expect == 200 and call.path.endswith("/exec") and not (call.body or {}).get("use_job")


@pytest.mark.parametrize("row", [p for p in ROWS if not _runs_inline(p.values[0])])
def test_api_row(row: Row, world):
    _check_row(row, world)


@pytest.mark.parametrize("row", [p for p in ROWS if _runs_inline(p.values[0])])
def test_api_inline_row(row: Row, committed_world):
    _check_row(row, committed_world)
    assert Job.objects.filter(inline=True, created_by=committed_world.staff).exclude(status="running").count() == 1


def _check_row(row: Row, world) -> None:
    before = world.snapshot()
    started = time.monotonic()
    response = _send(world.api(row.input.auth), row.input, world)
    elapsed = time.monotonic() - started
    content = b"".join(response.streaming_content) if response.streaming else response.content

    assert_no_traceback(content)
    assert b"root:x:0:0" not in content
    assert elapsed < ANSWER_WITHIN_SECONDS, f"answered after {elapsed:.1f} s"
    if row.expect >= 400:
        message = assert_error(response, row.expect)
        assert row.fragment in message, message
        assert world.snapshot() == before, "a refused request changed something"
    else:
        assert response.status_code == row.expect, (response.status_code, content[:500])
        assert row.fragment in content.decode(), content[:500]
        row.check(response.json())
