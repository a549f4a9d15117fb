"""The table, management command surface: bad arguments end with a non-zero exit code and one
readable message (CommandError / jobs.management.helpers.CommandExit), never a traceback. A few rows run
`manage.py` as a real process, where the exit code and stderr are what a shell sees."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.models import Job
from servers.models import Server
from tests.bad_input.helpers import SPACED_DIR, Row, assert_no_traceback, table

MISSING_DIR = "/nonexistent-livchat-table-dir"
QUOTES_AND_NEWLINES = "printf '%s\\n' \"it's\" 'say \"hi\"'\necho 'second line'"


def _quoted(out: str) -> None:
    assert out == 'it\'s\nsay "hi"\nsecond line\n'


def _spaced(out: str) -> None:
    assert out == SPACED_DIR + "\n"


def _no_server_created(out: str) -> None:
    assert not Server.objects.filter(name__in=["bad", "not a slug!"]).exists()


def _exec_argv(*args: str) -> list[str]:
    return ["remote_exec", "{server}", *args]


def _row(name: str, argv: list[str], expect: int | str, fragment: str | None, check=None) -> Row:
    return Row("cli", name, argv, expect, fragment, check)


def _refused_server(name: str, host_and_options: list[str], fragment: str) -> Row:
    """`add_server bad --host ...` that is refused and leaves no server behind."""
    return _row(name, ["add_server", "bad", "--host", *host_and_options], 1, fragment, _no_server_created)


ROWS = table(
    # remote_exec
    _row("exec-unknown-server", ["remote_exec", "nope", "true"], 1, "No server named 'nope'"),
    _row("exec-missing-arguments", ["remote_exec"], 1, "the following arguments are required: server, command"),
    _row("exec-timeout-text", _exec_argv("true", "--timeout", "abc"), 1, "--timeout must be a number of seconds"),
    _row("exec-timeout-negative", _exec_argv("true", "--timeout", "-5"), 1, "--timeout must be between 1 and"),
    _row("exec-timeout-nan", _exec_argv("true", "--timeout", "nan"), 1, "--timeout must be a number of seconds"),
    _row("exec-timeout-huge", _exec_argv("true", "--timeout", "1e30"), 1, "--timeout must be between 1 and"),
    _row("exec-command-with-nul", _exec_argv("echo a\x00b"), 1, "must not contain NUL"),
    _row("exec-command-blank", _exec_argv("   "), 1, "command must be a non-empty string"),
    _row("exec-workdir-with-newline", _exec_argv("pwd", "--workdir", "/tmp\nx"), 1, "without NUL or newline"),
    _row("exec-closed-port", ["remote_exec", "{closed}", "true"], 255, "connection refused"),
    _row("exec-missing-workdir", _exec_argv("pwd", "--workdir", MISSING_DIR), 2, MISSING_DIR),
    _row("exec-quotes-and-newlines", _exec_argv(QUOTES_AND_NEWLINES), 0, "second line", _quoted),
    _row("exec-workdir-with-spaces", _exec_argv("pwd", "--workdir", SPACED_DIR), 0, SPACED_DIR, _spaced),
    # job_status / job_logs / cancel_job
    _row("status-unknown-job", ["job_status", "remote_exec-ffffffff"], 1, "No job with id 'remote_exec-ffffffff'"),
    _row("status-path-traversal", ["job_status", "../../etc/passwd"], 1, "No job with id '../../etc/passwd'"),
    _row("status-tail-negative", ["job_status", "{job}", "--tail", "-1"], 1, "--tail must be a whole number"),
    _row(
        "logs-tail-huge",
        ["job_logs", "{job}", "--tail", "99999999999"],
        1,
        "--tail must be a whole number between 1 and 10000",
    ),
    _row("logs-level-unknown", ["job_logs", "{job}", "--level", "LOUD"], 1, "--level must be one of DEBUG, INFO"),
    _row(
        "logs-stream-unknown",
        ["job_logs", "{job}", "--stream", "stdin"],
        1,
        "--stream must be one of stdout, stderr, system",
    ),
    _row("logs-grep-invalid", ["job_logs", "{job}", "--grep", "("], 1, "Not a valid regular expression"),
    _row("logs-grep-catastrophic", ["job_logs", "{job}", "--grep", "(a|aa)+$"], 1, "took longer"),
    _row(
        "logs-grep-explodes",
        ["job_logs", "{job}", "--grep", "(?:(?:(?:a{1000}){1000}){1000})"],
        1,
        "Too complex a regular expression",
    ),
    _row("cancel-unknown-job", ["cancel_job", "remote_exec-ffffffff"], 1, "No job with id"),
    _row("cancel-finished-job", ["cancel_job", "{job}"], 1, "has already finished"),
    # add_server / create_token
    _refused_server("add-server-port-70000", ["h", "--port", "70000"], "port must be between 1 and 65535"),
    _refused_server("add-server-port-text", ["h", "--port", "abc"], "invalid int value: 'abc'"),
    _refused_server("add-server-missing-key-file", ["h", "--key-file", "/nonexistent/id_ed25519"], "does not exist"),
    _row("add-server-bad-name", ["add_server", "not a slug!", "--host", "h"], 1, "name", _no_server_created),
    _refused_server("add-server-host-control-chars", ["a\x01b"], "not a valid host"),
    _refused_server("add-server-host-label-over-63", ["x" * 64], "longer than 63"),
    _refused_server("add-server-host-not-idna", ["\u200b.example"], "not a valid host"),
    _refused_server("add-server-user-template", ["h", "--user", "{{x}}"], "POSIX login name"),
    _refused_server("add-server-bad-fingerprint", ["h", "--host-key-fingerprint", "x"], "not a host key fingerprint"),
    _row("add-server-existing-name", ["add_server", "{server}", "--host", "h"], 1, "add --update"),
    _row("token-for-unknown-user", ["create_token", "ghost"], 1, "No user named 'ghost'"),
    _row("token-for-user-without-role", ["create_token", "{plain}"], 1, "has no role"),
)


def _args(world, args: list[str]) -> list[str]:
    return [world.fill(a).replace("{plain}", world.plain.get_username()) for a in args]


def _runs_inline(row: Row) -> bool:
    # remote_exec that passes the checks runs as an inline job here (its sink writes from its own
    # thread, so the data must be committed) and stays on record, whatever its exit code.
    return row.input[0] == "remote_exec" and row.expect != 1


@pytest.mark.parametrize("row", [p for p in ROWS if not _runs_inline(p.values[0])])
def test_cli_row(row: Row, world):
    _check_row(row, world, runs_inline=False)


@pytest.mark.parametrize("row", [p for p in ROWS if _runs_inline(p.values[0])])
def test_cli_inline_row(row: Row, committed_world):
    _check_row(row, committed_world, runs_inline=True)
    assert Job.objects.filter(inline=True).exclude(status="running").count() == 1, "the run is on record"


def _check_row(row: Row, world, *, runs_inline: bool) -> None:
    before = world.snapshot()
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*_args(world, row.input), stdout=out, stderr=err)
        code, message = 0, ""
    except CommandError as exc:  # jobs.management.helpers.CommandExit is one, with its own return code
        code, message = exc.returncode, str(exc)
    except SystemExit as exc:  # pragma: no cover - a command must raise, not exit, under call_command
        raise AssertionError(f"SystemExit({exc.code}) instead of a CommandError") from None

    assert_no_traceback(out.getvalue(), err.getvalue(), message)
    assert code == row.expect, (code, message, err.getvalue()[-500:])
    if row.expect == 0:
        assert row.fragment in out.getvalue()
    else:
        readable = message or err.getvalue()
        assert row.fragment in readable, readable
        if not runs_inline:
            assert world.snapshot() == before, "a refused command changed something"
    if row.check is not None:
        row.check(out.getvalue())


# ---- real processes ----------------------------------------------------------------------------
PROCESS_ROWS = table(
    Row(
        "cli-process",
        "status-unknown-job",
        ["job_status", "remote_exec-00000000"],
        1,
        "No job with id 'remote_exec-00000000'",
    ),
    Row(
        "cli-process",
        "logs-grep-invalid",
        ["job_logs", "{job}", "--grep", "("],
        1,
        "Not a valid regular expression",
    ),
    Row("cli-process", "exec-closed-port", ["remote_exec", "{closed}", "true"], 255, "connection refused"),
    Row(
        "cli-process",
        "add-server-port-70000",
        ["add_server", "bad", "--host", "h", "--port", "70000"],
        1,
        "port must be between 1 and 65535",
    ),
)


@pytest.mark.parametrize("row", PROCESS_ROWS)
def test_cli_process_row(row: Row, committed_world, subprocess_env):
    proc = subprocess.run(
        [sys.executable, "manage.py", *_args(committed_world, row.input)],
        cwd=settings.BASE_DIR,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert_no_traceback(proc.stdout, proc.stderr)
    assert proc.returncode == row.expect, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one readable line on stderr, got: {proc.stderr!r}"
    assert row.fragment in lines[0]
