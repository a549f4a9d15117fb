"""Run one shell command on one server and stream its output, for jobs and inline calls.

Reads stdout and stderr concurrently in large chunks (never readline), splits lines itself
(jobs/log/lines.py) and hands them to the sink in pieces of at most EMIT_LINES lines and
EMIT_BYTES, each after waiting for room. Only the last 64 KiB of each stream is kept in
memory, for the job result.

Why a read takes up to READ_BYTES (twice asyncssh's 2 MiB channel window): asyncssh grants
the remote a whole new window each time it resumes a paused channel, however little of the
buffered data the reader took. Reading 64 KiB at a time while the sink was behind let its
buffers grow by almost a window per read: 600 MB for a 1 GiB output. Taking everything
buffered at each read keeps what asyncssh holds near one window (bench/scale.py: worker RSS).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate

import asyncssh

from jobs.log.lines import NUL_REPLACEMENT, LineSplitter
from jobs.models import JobStatus
from jobs.runners import Outcome
from servers import ssh

logger = logging.getLogger("jobs.remote")

READ_BYTES = 4 << 20
EMIT_BYTES = 256 << 10  # a sink entry (what one producer call hands over) holds at most this
EMIT_LINES = 1000  # and this many lines: a batch takes whole entries, and a SQLite batch must
# stay small enough to hold the write lock briefly (jobs/log/sink.py: MAX_HOLD_SECONDS)
TAIL_BYTES = 64 * 1024
CANCEL_POLL_SECONDS = 0.25
DRAIN_AFTER_KILL_SECONDS = 3.0

LinesCallback = Callable[[str, list[str]], None]
PartialCallback = Callable[[str, str], None]  # (stream, text of the line being redrawn, "" when done)
CancelCheck = Callable[[], Awaitable[str | None]]
RoomWait = Callable[[], Awaitable[None]]


class Tail:
    """The last `limit` bytes of a stream, plus how much passed through."""

    __slots__ = ("buf", "limit", "total", "lines")

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self.buf = bytearray()
        self.limit = limit
        self.total = 0
        self.lines = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.lines += data.count(b"\n")
        self.buf += data
        if len(self.buf) > 2 * self.limit:
            del self.buf[: -self.limit]

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def text(self) -> str:
        data = bytes(self.buf[-self.limit :])
        # the cut may fall inside a character: drop the orphaned bytes
        text = data.decode("utf-8", "ignore" if self.truncated else "replace")
        return text.replace("\x00", NUL_REPLACEMENT) if "\x00" in text else text


@dataclass
class _Run:
    process: asyncssh.SSHClientProcess
    on_lines: LinesCallback | None
    wait_for_room: RoomWait | None = None  # awaited before each emit: the store's back-pressure
    on_partial: PartialCallback | None = None  # a `\r` redraw in progress (live view only)
    stdout: Tail = field(default_factory=Tail)
    stderr: Tail = field(default_factory=Tail)
    pgid: int | None = None
    pgid_known: asyncio.Event = field(default_factory=asyncio.Event)
    nonce: str = field(default_factory=lambda: secrets.token_hex(8))  # marks this run's pgid line

    async def pump(self, stream: str) -> None:
        reader = self.process.stdout if stream == "stdout" else self.process.stderr
        tail = self.stdout if stream == "stdout" else self.stderr
        splitter = LineSplitter()
        emit = self.on_lines
        head = b""
        redrawing = False
        try:
            while True:
                data = await reader.read(READ_BYTES)
                if not data:
                    break
                if stream == "stdout" and not self.pgid_known.is_set():
                    head += data
                    if b"\n" not in head and len(head) < 256:
                        continue
                    data, head = self._take_marker(head), b""
                    if not data:
                        continue
                tail.add(data)
                if emit is not None:
                    for piece in _pieces(splitter.feed(data)):
                        if self.wait_for_room is not None:
                            await self.wait_for_room()
                        emit(stream, piece)
                    if self.on_partial is not None:
                        redrawing = self._show_partial(stream, splitter, redrawing)
        except (asyncssh.Error, OSError) as exc:
            logger.warning("Reading %s stopped: %s", stream, exc)
        finally:
            if head:
                tail.add(head)
                if emit is not None:
                    emit(stream, splitter.feed(head))
            self.pgid_known.set()
            if emit is not None:
                rest = splitter.finish()
                if rest:
                    emit(stream, rest)
                if redrawing and self.on_partial is not None:
                    self.on_partial(stream, "")

    def _show_partial(self, stream: str, splitter: LineSplitter, redrawing: bool) -> bool:
        """Hand the line being redrawn (after the lines just emitted) to `on_partial`; True while one is."""
        text = splitter.redraw()
        if text is not None:
            self.on_partial(stream, text)
            return True
        if redrawing:
            self.on_partial(stream, "")
        return False

    def _take_marker(self, head: bytes) -> bytes:
        first, sep, rest = head.partition(b"\n")
        self.pgid = ssh.parse_pgid_marker(first, nonce=self.nonce)
        self.pgid_known.set()
        return rest if self.pgid is not None else head

    def result(self, exit_code: int | None) -> dict:
        return {
            "exit_code": exit_code,
            "stdout": self.stdout.text(),
            "stderr": self.stderr.text(),
            "stdout_bytes": self.stdout.total,
            "stderr_bytes": self.stderr.total,
            "stdout_lines": self.stdout.lines,
            "stderr_lines": self.stderr.lines,
            "truncated": self.stdout.truncated or self.stderr.truncated,
        }


async def stream_command(
    conn: asyncssh.SSHClientConnection,
    *,
    command: str,
    working_dir: str = "",
    timeout: float,
    on_lines: LinesCallback | None = None,
    wait_for_room: RoomWait | None = None,
    cancel_check: CancelCheck | None = None,
    tail_bytes: int = TAIL_BYTES,
    on_partial: PartialCallback | None = None,
) -> Outcome:
    """Run `command`, stream its lines to `on_lines`, stop it on timeout or cancel.

    `on_lines` must not block: a slow consumer offers `wait_for_room`, awaited before each
    call, so reading pauses (and SSH flow control slows the remote side) while the timeout
    and cancel watchers keep running on this loop. `on_partial(stream, text)` gets a line while
    it is being redrawn with `\r` (a progress bar; "" when it ended): runners pass their sink's
    `set_partial`, so viewers see live progress lines."""
    nonce = secrets.token_hex(8)
    process = await conn.create_process(ssh.wrap_command(command, working_dir, nonce=nonce), encoding=None)
    process.stdin.write_eof()
    run = _Run(
        process=process,
        on_lines=on_lines,
        wait_for_room=wait_for_room,
        on_partial=on_partial,
        stdout=Tail(tail_bytes),
        stderr=Tail(tail_bytes),
        nonce=nonce,
    )
    pumps = asyncio.gather(run.pump("stdout"), run.pump("stderr"))
    finished = asyncio.ensure_future(_finish(process, pumps))
    watchers = [asyncio.ensure_future(asyncio.sleep(timeout))]
    if cancel_check is not None:
        watchers.append(asyncio.ensure_future(_wait_for_cancel(cancel_check)))
    started = time.monotonic()
    try:
        done, _ = await asyncio.wait([finished, *watchers], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in watchers:
            w.cancel()
    if finished in done:
        exit_code = finished.result()
        if exit_code is None:
            return Outcome(
                status=JobStatus.FAILED,
                error=f"Connection lost before the command finished (after {time.monotonic() - started:.1f} s).",
                result=run.result(None),
            )
        status = JobStatus.SUCCEEDED if exit_code == 0 else JobStatus.FAILED
        error = "" if exit_code == 0 else f"Command exited with code {exit_code}."
        return Outcome(status=status, exit_code=exit_code, error=error, result=run.result(exit_code))

    cancelled_by = watchers[1].result() if len(watchers) > 1 and watchers[1] in done else None
    if cancelled_by is not None:
        logger.warning("Cancel requested by %s: stopping the remote process", cancelled_by)
    else:
        logger.error("Timed out after %s s: stopping the remote process", _fmt(timeout))
    gone = await _kill(conn, run)
    try:
        exit_code = await asyncio.wait_for(asyncio.shield(finished), DRAIN_AFTER_KILL_SECONDS)
    except TimeoutError:
        finished.cancel()
        process.close()
        exit_code = None
    if gone:
        logger.info("Remote process group %s is gone", run.pgid)
    if cancelled_by is not None:
        return Outcome(
            status=JobStatus.CANCELLED,
            exit_code=exit_code,
            error=f"Cancelled by {cancelled_by}.",
            result=run.result(exit_code),
        )
    return Outcome(
        status=JobStatus.TIMED_OUT,
        exit_code=exit_code,
        error=f"Timed out after {_fmt(timeout)} s.",
        result=run.result(exit_code),
    )


def _pieces(lines: list[str]) -> Iterator[list[str]]:
    """`lines` in consecutive slices of at most EMIT_LINES lines and EMIT_BYTES of text (at
    least one line each), cut at C speed (accumulate + bisect), never by a loop over the lines."""
    if len(lines) <= EMIT_LINES and sum(map(len, lines)) <= EMIT_BYTES:
        if lines:
            yield lines
        return
    ends = list(accumulate(map(len, lines)))
    start, done = 0, 0
    while start < len(lines):
        stop = min(start + EMIT_LINES, bisect_right(ends, done + EMIT_BYTES, lo=start))
        stop = max(start + 1, stop)
        yield lines[start:stop]
        start, done = stop, ends[stop - 1]


async def _finish(process: asyncssh.SSHClientProcess, pumps: asyncio.Future) -> int | None:
    await pumps
    await process.wait_closed()
    return ssh.exit_code_of(process)


async def _wait_for_cancel(check: CancelCheck) -> str:
    while True:
        who = await check()
        if who is not None:
            return who
        await asyncio.sleep(CANCEL_POLL_SECONDS)


async def _kill(conn: asyncssh.SSHClientConnection, run: _Run) -> bool:
    try:
        await asyncio.wait_for(run.pgid_known.wait(), 5)
    except TimeoutError:
        pass
    if run.pgid is None or run.pgid <= 1:  # never `kill -- -1`: every process of the user
        logger.warning("The remote process id is unknown; closing the channel instead")
        run.process.close()
        return False
    return await ssh.kill_process_group(conn, run.pgid)


def _fmt(seconds: float) -> str:
    return f"{seconds:g}"
