"""The table, job output surface: real jobs on the test sshd print awkward bytes (NUL, invalid
UTF-8, a 10 MB line, ANSI escapes, `<script>`) and odd commands; every line is stored, in
order, in rows and file alike, and pages show it escaped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client

from jobs.log.lines import MAX_LINE_BYTES, NUL_REPLACEMENT
from jobs.services import create_remote_exec_job
from tests.bad_input.helpers import SPACED_DIR, XSS, Row, assert_every_line_kept, messages, table
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

TEN_MB = 10 * 1024 * 1024
NUL = NUL_REPLACEMENT
ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;/script&gt;"


@dataclass(frozen=True)
class Run:
    command: str
    stdout: list[str] | Callable[[list[str]], None]  # the lines, or a check of them
    stderr: list[str]
    working_dir: str | None = None


def _ten_mb_line(stdout: list[str]) -> None:
    assert sum(len(piece) for piece in stdout) == TEN_MB, "bytes of the long line were lost"
    assert set("".join(stdout)) == {"x"}
    assert max(len(piece.encode()) for piece in stdout) <= MAX_LINE_BYTES


def _long_multibyte_line(stdout: list[str]) -> None:
    # 300 000 two-byte characters: cut into pieces at character boundaries, none mangled.
    assert "".join(stdout) == "é" * 300_000
    assert len(stdout) > 1 and "\ufffd" not in "".join(stdout)


def _many_lines(stdout: list[str]) -> None:
    assert stdout == [str(i) for i in range(1, 20_001)]


# expect: the final status; fragment: text that must be in the stored output (or in the error)
ROWS = table(
    Row("output", "nul-bytes", Run(r"printf 'a\000b\n\000\n'", [f"a{NUL}b", NUL], []), "succeeded", f"a{NUL}b"),
    Row(
        "output",
        "invalid-utf8",
        Run(r"printf 'bad \377\376 byte\n'; printf '\300\n' >&2", ["bad \ufffd\ufffd byte"], ["\ufffd"]),
        "succeeded",
        "bad \ufffd",
    ),
    Row(
        "output",
        "utf8-split-across-reads",
        Run(r"printf 'caf\303'; sleep 0.2; printf '\251\n'", ["café"], []),
        "succeeded",
        "café",
    ),
    Row(
        "output",
        "ten-mb-line",
        Run("head -c 10485760 /dev/zero | tr '\\0' 'x'; echo", _ten_mb_line, []),
        "succeeded",
        "xxxx",
    ),
    Row(
        "output",
        "long-multibyte-line",
        Run("yes é | head -n 300000 | tr -d '\\n'; echo", _long_multibyte_line, []),
        "succeeded",
        "éé",
    ),
    Row(
        "output",
        "ansi-escapes",
        Run(
            r"printf '\033[1;31mred\033[0m plain\n\033[2K\033[1Gcleared\n'",
            ["\x1b[1;31mred\x1b[0m plain", "\x1b[2K\x1b[1Gcleared"],
            [],
        ),
        "succeeded",
        "\x1b[1;31m",
    ),
    Row("output", "script-tag", Run(f"echo '{XSS}'; echo '{XSS}' >&2", [XSS], [XSS]), "succeeded", XSS),
    Row(
        "output",
        "quotes-and-newlines",
        Run(
            "printf '%s\\n' \"it's\" 'say \"hi\"' '$HOME'\necho 'second line'",
            ["it's", 'say "hi"', "$HOME", "second line"],
            [],
        ),
        "succeeded",
        'say "hi"',
    ),
    Row(
        "output",
        "working-dir-with-spaces",
        Run('pwd; ls -d "$PWD"', [SPACED_DIR, SPACED_DIR], [], SPACED_DIR),
        "succeeded",
        SPACED_DIR,
    ),
    Row("output", "empty-lines-kept", Run(r"printf 'a\n\n\nb\n\n'", ["a", "", "", "b", ""], []), "succeeded", "b"),
    Row(
        "output",
        "no-final-newline",
        Run(r"printf 'one\nlast words'; printf 'err tail' >&2", ["one", "last words"], ["err tail"]),
        "succeeded",
        "last words",
    ),
    Row(
        "output",
        "crlf-and-progress",
        Run(r"printf 'dos\r\n10%%\r50%%\r100%%\n'", ["dos", "100%"], []),
        "succeeded",
        "100%",
    ),
    Row(
        "output",
        "many-lines-both-streams",
        Run("seq 1 20000; seq 1 300 >&2; exit 3", _many_lines, [str(i) for i in range(1, 301)]),
        "failed",
        "Command exited with code 3",
    ),
)


@pytest.mark.parametrize("row", ROWS)
def test_output_row(row: Row, server, spaced_dir, run_job):
    run = row.input
    job = run_job(
        create_remote_exec_job(server=server, command=run.command, working_dir=run.working_dir, enqueue=False)
    )

    assert job.status == row.expect, (job.status, job.error)
    stdout, stderr = messages(job, "stdout"), messages(job, "stderr")
    if callable(run.stdout):
        run.stdout(stdout)
    else:
        assert stdout == run.stdout
    assert stderr == run.stderr
    if row.expect == "succeeded":
        assert row.fragment in "\n".join(stdout + stderr)
    else:
        assert row.fragment in job.error
    assert_every_line_kept(job)

    if row.fragment == XSS:
        _page_escapes_it(job, make_user("out-staff", is_staff=True))


def _page_escapes_it(job, staff) -> None:
    """The command and the error shown on the job page and the admin page are escaped."""
    from jobs.models import Job

    Job.objects.filter(pk=job.pk).update(error=f"failed: {XSS}", current_step=XSS)
    client = Client()
    client.force_login(staff)
    page = client.get(f"/jobs/{job.job_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert XSS not in html and ESCAPED_XSS in html
