"""The table, MCP surface: bad tool arguments end in a tool error (is_error) whose text says what is
wrong and how to fix it, never a traceback, and change nothing. Through the SDK's in-memory client."""

from __future__ import annotations

import pytest

from tests.bad_input.helpers import CATASTROPHIC_LINE, Row, assert_no_traceback, table
from tests.mcp_helpers import call, text


def _row(name: str, tool: str, arguments: dict, expect: str, fragment: str | None, who: str = "staff") -> Row:
    return Row("mcp", name, (who, tool, arguments), expect, fragment)


RUN_TRUE = {"server": "{server}", "command": "true"}
PING = {"playbook": "ping.yml", "servers": ["{server}"]}

ROWS = table(
    _row("unknown-argument", "get_job", {"job_id": "{job}", "colour": "red"}, "error", "Unknown argument(s)"),
    _row("unknown-job", "get_job", {"job_id": "remote_exec-deadbeef"}, "error", "Unknown or not permitted job"),
    _row("job-id-path", "get_job", {"job_id": "../../etc/passwd"}, "error", "job ids look like"),
    _row("job-id-number", "get_job", {"job_id": 12}, "error", "job_id"),
    _row("huge-tail", "get_job", {"job_id": "{job}", "tail": 10**9}, "error", "less than or equal to 10000"),
    _row("negative-tail", "get_job", {"job_id": "{job}", "tail": -1}, "error", "greater than or equal to 0"),
    _row("tail-as-text", "get_job", {"job_id": "{job}", "tail": "all"}, "error", "valid integer"),
    _row("tiny-max-bytes", "get_job", {"job_id": "{job}", "max_bytes": 10}, "error", "greater than or equal to 2000"),
    _row("bad-regex", "get_job", {"job_id": "{job}", "grep": "(oops"}, "error", "Not a valid regular expression"),
    _row(
        "exploding-regex",
        "get_job",
        {"job_id": "{job}", "grep": "(?:(?:(?:a{1000}){1000}){1000})"},
        "error",
        "Too complex a regular expression",
    ),
    _row(
        "exploding-pattern",
        "search_job_log",
        {"job_id": "{job}", "pattern": "(?:a{1000}){1000}"},
        "error",
        "Too complex a regular expression",
    ),
    _row(
        "slow-regex",
        "search_job_log",
        {"job_id": "{job}", "pattern": "(a|aa)+$"},
        "error",
        "took longer than",
    ),
    _row("bad-level", "get_job", {"job_id": "{job}", "level": "LOUD"}, "error", "level must be one of"),
    _row("bad-stream", "get_job", {"job_id": "{job}", "stream": "stdin"}, "error", "stream must be one of"),
    _row("unknown-server", "run_command", {"server": "nope", "command": "true"}, "error", "Unknown or not permitted"),
    _row("command-not-text", "run_command", {"server": "{server}", "command": ["ls"]}, "error", "command"),
    _row("command-blank", "run_command", {"server": "{server}", "command": "   "}, "error", "non-empty string"),
    _row("timeout-huge", "run_command", {**RUN_TRUE, "timeout_s": 10**9}, "error", "timeout_s"),
    _row("workdir-newline", "run_command", {**RUN_TRUE, "working_dir": "/a\nb"}, "error", "newline"),
    _row("servers-not-a-list", "run_playbook", {"playbook": "ping.yml", "servers": 5}, "error", "servers"),
    _row("ansible-var", "run_playbook", {**PING, "extra_vars": {"ansible_host": "x"}}, "error", "connection settings"),
    _row("recap-of-a-command", "get_playbook_recap", {"job_id": "{job}"}, "error", "only playbook jobs have a recap"),
    _row("cancel-finished", "cancel_job", {"job_id": "{job}"}, "error", "has already finished"),
    _row("no-role", "list_jobs", {}, "error", "needs the Viewers role", who="plain"),
    _row("status-unknown", "list_jobs", {"status": "exploded"}, "error", "status"),
    _row("errors-only", "get_job", {"job_id": "{job}", "level": "ERROR", "tail": 10000}, "ok", "error: boom"),
    _row("catastrophic-line-shown", "get_job", {"job_id": "{job}", "tail": 2}, "ok", CATASTROPHIC_LINE),
)  # fmt: skip


@pytest.mark.parametrize("row", ROWS)
def test_mcp_row(row: Row, committed_world):
    who, tool, arguments = row.input
    user = committed_world.staff if who == "staff" else committed_world.plain
    before = committed_world.snapshot()
    result = call(user, tool, committed_world.fill(arguments))
    answer = text(result)
    assert_no_traceback(answer)
    assert "pydantic" not in answer, "validation errors are told in plain words"
    assert result.is_error is (row.expect == "error"), answer
    # The lines an answer holds are in its structured content (the text names them): either may reach a model.
    lines = " ".join(line["text"] for line in (result.structured_content or {}).get("lines", []))
    assert row.fragment in answer + "\n" + lines, answer
    assert committed_world.snapshot() == before, "a refused or read-only call changes nothing"
