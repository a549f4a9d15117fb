"""What every row of the table shares: the row type and the checks each answer must pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from jobs.models import Job, JobLogLine
from tests.api_helpers import store_lines  # noqa: F401 - re-exported for the tables
from tests.helpers import worker_name

# What a Python traceback leaves in text: any of these in an answer means one leaked out.
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/', "Exception inside application")

CATASTROPHIC_LINE = "a" * 40 + "!"  # `(a|aa)+$` backtracks exponentially on this line
XSS = "<script>alert(1)</script>"

# The finished job every row may point at: 156 lines, known by heart.
JOB_LINES = [
    ("system", "INFO", ["starting"]),
    ("stdout", "INFO", [f"line {i}" for i in range(1, 151)]),
    ("stderr", "WARNING", ["warn: disk 91%"]),
    ("stderr", "ERROR", ["error: boom"]),
    ("system", "DEBUG", ["debug detail"]),
    ("stdout", "INFO", [CATASTROPHIC_LINE]),
    ("system", "CRITICAL", ["critical: gone"]),
]
JOB_LINE_COUNT = sum(len(messages) for _, _, messages in JOB_LINES)
# Made by the sshd user (mode 0700 under its umask): one per xdist worker, each has its own user.
SPACED_DIR = worker_name("/tmp/livchat bad input dir")


@dataclass(frozen=True)
class Row:
    """One case: on `surface`, `input` must get `expect` with `fragment` in the readable answer."""

    surface: str
    name: str
    input: Any
    expect: int | str
    fragment: str | None
    check: Callable[..., None] | None = None  # extra assertions on the answer (what came back, what was stored)


def table(*rows: Row) -> list:
    names = [row.name for row in rows]
    assert len(names) == len(set(names)), "row names must be unique"
    return [pytest.param(row, id=f"{row.surface}:{row.name}") for row in rows]


def assert_no_traceback(*texts: str | bytes | None) -> None:
    for text in texts:
        if not text:
            continue
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for marker in TRACEBACK_MARKERS:
            assert marker not in text, f"a traceback leaked out: {text[:2000]}"


def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


# ---- jobs and their lines --------------------------------------------------------------
def messages(job: Job, stream: str | None = None, level: str | None = None) -> list[str]:
    qs = JobLogLine.objects.filter(job=job).order_by("seq")
    if stream:
        qs = qs.filter(stream=stream)
    if level:
        qs = qs.filter(level=level)
    return list(qs.values_list("message", flat=True))


def assert_every_line_kept(job: Job) -> None:
    """Rows are 1..last_seq without a hole, counted right, and the log file holds the same lines."""
    job.refresh_from_db()
    rows = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("seq", "level", "stream", "message"))
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "a hole or a duplicate in seq"
    assert job.last_seq == len(rows) and job.line_count == len(rows), (job.last_seq, job.line_count, len(rows))
    text = Path(job.log_file).read_text(encoding="utf-8")
    assert text.endswith("\n")
    file_lines = text[:-1].split("\n")
    assert len(file_lines) == len(rows), "the log file and the rows disagree"
    for file_line, (_, level, stream, message) in zip(file_lines, rows, strict=True):
        assert file_line.endswith(f"] {level} {stream}: {message}")
    assert_no_traceback(job.error, *(r[3] for r in rows))


# ---- websocket ---------------------------------------------------------------------------
@dataclass
class WsAnswer:
    connected: bool
    close_code: int | None
    messages: list[dict]
    crash: str = ""  # the exception the ASGI app raised, if it raised one


async def ws_talk(path: str, headers: list[tuple[bytes, bytes]]) -> WsAnswer:
    """Connect, read every message until the server closes, and say how it ended."""
    from channels.testing import WebsocketCommunicator

    from livchat.asgi import application

    comm = WebsocketCommunicator(application, path, headers=headers)
    first = await _first_output(comm)
    if isinstance(first, BaseException):
        return WsAnswer(False, None, [], crash=f"{first.__class__.__name__}: {first}")
    if first["type"] == "websocket.close":
        return WsAnswer(False, first.get("code"), [])
    assert first["type"] == "websocket.accept", first
    received: list[dict] = []
    while True:
        out = await comm.receive_output(timeout=15)
        if out["type"] == "websocket.close":
            await comm.disconnect()
            return WsAnswer(True, out.get("code"), received)
        received.append(json.loads(out["text"]))


async def _first_output(comm, timeout: float = 15.0):
    """The app's answer to the handshake, or the exception it raised (seen at once, where
    the communicator's own connect() would only notice it after its whole timeout)."""
    import asyncio

    await comm.send_input({"type": "websocket.connect"})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if not comm.output_queue.empty():
            return await comm.receive_output()
        if comm.future.done():
            return comm.future.exception() or AssertionError("the app ended without answering the handshake")
        await asyncio.sleep(0.01)
    raise AssertionError(f"no answer to the websocket handshake within {timeout} s")
