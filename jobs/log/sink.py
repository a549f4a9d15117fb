"""The hot path's store: one JobSink per running job, in the worker process.

Producers (the executor's asyncio loop, the logging handler) append lines to a buffer; a
writer thread takes the buffer every ~50 ms or ~1000 lines and, per batch:
  1. one transaction: a multi-row INSERT of JobLogLine rows (on SQLite one statement an
     entry of many lines, its messages one JSON array, and executemany for the rest; on
     PostgreSQL one COPY whose text is joined in C loops and written in one call; never one
     save() a line), the JobLogMark rows of its WARNING+ and stderr/system lines, and one
     Job update (line_count, last_seq, heartbeat_at), committed together;
  2. then one append to the job's log file (path and line format: jobs/log/logfile.py);
  3. one wake-up on channel-layer group `job.<job_id>`.
Rows commit before the file append: a worker killed in between leaves the file short by at
most a batch, and the reaper rebuilds the rest from rows (logfile.repair).
seq is assigned here, in buffer order, so stdout/stderr/system lines share one order.

Fair to neighbours: a batch is sized so its transaction holds the write lock about
MAX_HOLD_SECONDS, and on SQLite sinks take turns at the one write lock, small batches
first (jobs/log/turns.py): a flooding job no longer stalls a quiet job's lines.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from contextlib import nullcontext
from datetime import datetime
from functools import partial
from itertools import repeat
from json import dumps

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from jobs.live.push import wake_sender
from jobs.log import logfile
from jobs.log.batch_text import Entry, copy_lines, copy_marks, prepared
from jobs.log.partial import PartialBoard
from jobs.log.turns import turns_for
from jobs.models import IMPORTANT_LEVELS, NOT_STDOUT, Job, JobLogLine, JobLogMark

logger = logging.getLogger("jobs.log.sink")

FLUSH_INTERVAL = 0.05
BATCH_LINES = 1000
MAX_BATCH_LINES = 20_000
MAX_PENDING_LINES = 100_000  # producers wait above either bound: memory stays flat on huge output
MAX_PENDING_BYTES = 8 * 1024 * 1024
MAX_BATCH_BYTES = 2 * 1024 * 1024
CHECKPOINT_LINES = 50_000  # SQLite: lines stored between two WAL checkpoints of a sink
MAX_HOLD_SECONDS = 0.02  # a batch's transaction aims to hold the write lock no longer (see _adapt_batch_cap)
HEARTBEAT_SECONDS = 5.0

_COLUMNS = ("job_id", "seq", "ts", "level", "stream", "message", "host", "task", "event")


def _insert_sql(columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {JobLogLine._meta.db_table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"


_INSERT_SQL = _insert_sql(_COLUMNS)
_UNTAGGED_INSERT_SQL = _insert_sql(_COLUMNS[:6])  # host, task and event: their database default
# SQLite: an entry of many lines is one statement whose messages arrive as one JSON array,
# unpacked by json_each in C. sqlite3 lets go of the GIL for each statement step, so
# executemany handed the GIL back and forth once a row: with the SSH reader busy in the same
# process, the sink waited for it a thousand times a batch. One step an entry inserts the
# whole entry without the GIL (2x faster alone, 2-6x beside a busy thread: see bench/readers.py).
_ENTRY_INSERT_SQL = (
    f"INSERT INTO {JobLogLine._meta.db_table} ({', '.join(_COLUMNS)})"
    " SELECT %s, %s + key, %s, %s, %s, value, %s, %s, %s FROM json_each(%s)"
)
ENTRY_INSERT_MIN_LINES = 8  # below, a row per line binds faster than JSON is written and read
# COPY names seq first and the message second: each row's text is then "seq, message, and
# the entry's shared tail", joined for a whole entry at once (_copy_lines).
_COPY_SQL = f"COPY {JobLogLine._meta.db_table} (seq, message, job_id, ts, level, stream, host, task, event) FROM STDIN"
_MARK_COLUMNS = ("job_id", "seq", "level", "stream")
_MARK_INSERT_SQL = f"INSERT INTO {JobLogMark._meta.db_table} ({', '.join(_MARK_COLUMNS)}) VALUES (%s, %s, %s, %s)"
_ENTRY_MARK_INSERT_SQL = (
    f"INSERT INTO {JobLogMark._meta.db_table} ({', '.join(_MARK_COLUMNS)})"
    " SELECT %s, %s + key, %s, %s FROM json_each(%s)"
)
_MARK_COPY_SQL = f"COPY {JobLogMark._meta.db_table} (seq, job_id, level, stream) FROM STDIN"
_MARKED_LEVELS = frozenset(IMPORTANT_LEVELS)
_MARKED_STREAMS = frozenset(NOT_STDOUT)


# UTF-8 as is (prepared() has already replaced lone surrogates and NULs): SQLite reads it back
# byte for byte, escapes included.
_dumps = partial(dumps, ensure_ascii=False, separators=(",", ":"))


class SinkWriteError(RuntimeError):
    pass


class JobSink:
    def __init__(self, *, job_pk: int, job_id: str, start_seq: int = 0, line_count: int = 0) -> None:
        self.job_pk = job_pk
        self.job_id = job_id
        self.path = logfile.path_for(job_id)
        self.last_seq = start_seq
        self.line_count = line_count
        self._buf: list[Entry] = []
        self._pending_lines = 0
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._has_room = threading.Condition(self._lock)
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._closing = False
        self._error: BaseException | None = None
        self._last_flush = 0.0
        self._thread = threading.Thread(target=self._run, name=f"sink-{job_id}", daemon=True)
        self._file = None
        self._wake = wake_sender()
        self._turns = turns_for(connection)
        # SQLite starts small and grows to what fits MAX_HOLD_SECONDS (see _adapt_batch_cap).
        self._batch_cap = MAX_BATCH_LINES if self._turns is None else 4 * BATCH_LINES
        self._unchecked_lines = 0
        self._queued_seq = start_seq  # the seq the last queued line will get
        self._partials = PartialBoard(job_id)  # live `\r` redraws, never stored (jobs/log/partial.py)

    # ---- producers -------------------------------------------------------------------
    def start(self) -> JobSink:
        self._file = logfile.open_for_append(self.path)
        self._thread.start()
        return self

    def write_lines(
        self,
        stream: str,
        messages: list[str],
        *,
        level: str = "INFO",
        host: str = "",
        task: str = "",
        event: str = "",
        block: bool = True,
    ) -> None:
        """Queue lines (already split, without newlines). Thread-safe. A thread producer
        (block=True) waits here when the store is far behind; an asyncio producer awaits
        `wait_for_room()` first and passes block=False, so its event loop (and with it the
        job's cancel and timeout watchers) never stops. Either way the reader slows down,
        and so does the remote side (SSH flow control)."""
        if not messages:
            return
        entry = Entry(time.time(), level, stream, host, task, event, messages, sum(map(len, messages)))
        with self._lock:
            while block and not self._room_for_more():
                self._has_work.notify()
                self._has_room.wait(0.5)
            idle = not self._buf and time.monotonic() - self._last_flush >= FLUSH_INTERVAL
            self._buf.append(entry)
            self._pending_lines += len(messages)
            self._queued_seq += len(messages)
            self._pending_bytes += entry.size
            # A full batch goes now; so does the first line after a quiet spell (a trickle
            # is seen at once, a flood is still batched every FLUSH_INTERVAL).
            if idle or self._pending_lines >= BATCH_LINES:
                self._has_work.notify()

    def set_partial(self, stream: str, text: str, *, host: str = "") -> None:
        """The current text of a line being redrawn with `\\r` ("" once it is not): shown to
        viewers, at most ~5 times a second, after the lines queued before it; never stored."""
        with self._lock:
            if self._partials.set(stream=stream, host=host, text=text, after=self._queued_seq):
                self._has_work.notify()

    async def wait_for_room(self) -> None:
        """Return once the buffer is below its bounds, without blocking the event loop: the
        writer thread wakes this waiter through the loop (call_soon_threadsafe) as it frees room."""
        while True:
            with self._lock:
                if self._room_for_more():
                    return
                wake = asyncio.Event()
                self._async_waiters.append((asyncio.get_running_loop(), wake))
                self._has_work.notify()
            await wake.wait()

    def _room_for_more(self) -> bool:
        # Called with the lock held. A failed or closing sink never makes producers wait.
        below = self._pending_lines < MAX_PENDING_LINES and self._pending_bytes < MAX_PENDING_BYTES
        return below or self._error is not None or self._closing

    def _wake_async_waiters(self) -> None:
        # Called with the lock held.
        waiters, self._async_waiters = self._async_waiters, []
        for loop, wake in waiters:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass

    def write(self, message: str, *, level: str = "INFO", stream: str = "system", **tags: str) -> None:
        """One system/app message; multi-line text becomes one row per line. Never waits for
        room: these are few, and they come from logging calls on the job's event loop (the
        kill path logs while the store may be stalled), which must never block."""
        self.write_lines(stream, message.split("\n"), level=level, block=False, **tags)

    def close(self) -> None:
        """Flush everything and stop. Raises SinkWriteError if lines could not be stored."""
        with self._lock:
            self._closing = True
            self._has_work.notify()
            self._has_room.notify_all()
            self._wake_async_waiters()
        self._thread.join()
        self._partials.close()
        if self._file:
            self._file.close()
        if self._error is not None:
            raise SinkWriteError(f"Could not store log lines: {self._error}") from self._error

    # ---- writer thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._closing and self._pending_lines < BATCH_LINES:
                        self._has_work.wait(FLUSH_INTERVAL)
                    batch = self._take_batch()
                    done = self._closing and not self._buf
                if batch or time.monotonic() - self._last_flush >= HEARTBEAT_SECONDS:
                    self._flush_with_retry(batch)
                with self._lock:
                    due = self._partials.take_due()
                if due:
                    self._partials.publish(due)
                if done:
                    return
        except BaseException as exc:  # noqa: BLE001 - reported by close()
            with self._lock:
                self._error = exc
                self._has_room.notify_all()
                self._wake_async_waiters()
        finally:
            if self._turns:
                self._turns.close()
            connection.close()

    def _take_batch(self) -> list[Entry]:
        """Whole entries up to ~MAX_BATCH_LINES lines / MAX_BATCH_BYTES bytes (at least one)."""
        lines = size = taken = 0
        for entry in self._buf:
            if taken and (lines + len(entry.messages) > self._batch_cap or size + entry.size > MAX_BATCH_BYTES):
                break
            lines += len(entry.messages)
            size += entry.size
            taken += 1
        batch = self._buf[:taken]
        del self._buf[:taken]
        self._pending_lines -= lines
        self._pending_bytes -= size
        self._has_room.notify_all()
        self._wake_async_waiters()
        return batch

    def _flush_with_retry(self, batch: list[Entry]) -> None:
        delay = 0.2
        for attempt in range(8):
            try:
                self._flush(batch)
                return
            except DatabaseError as exc:
                # A database hiccup must not lose lines: keep the batch and try again.
                connection.close()
                if attempt == 7:
                    raise
                logger.warning("Storing lines of %s failed (%s); retrying", self.job_id, exc)
                time.sleep(delay)
                delay = min(delay * 2, 5)

    def _flush(self, batch: list[Entry]) -> None:
        # Rows, COPY text and file text are built per entry with zip/repeat/join (C loops),
        # never per line in Python.
        seq = self.last_seq
        postgres = connection.vendor == "postgresql"
        rows: list = []  # SQLite: row tuples; Postgres: COPY text, one piece per entry
        untagged: list = []  # SQLite: rows of lines without host, task or event (most of them)
        entries: list = []  # SQLite: whole entries of many lines, their messages one JSON array
        marks: list = []
        entry_marks: list = []
        parts: list[str] = []
        pk = self.job_pk
        for e in batch:
            messages, dt, text = prepared(e)
            n = len(messages)
            seqs = range(seq + 1, seq + n + 1)
            marked = e.level in _MARKED_LEVELS or e.stream in _MARKED_STREAMS
            if postgres:
                rows.append(copy_lines(pk, seqs, dt, e, messages))
                if marked:
                    marks.append(copy_marks(pk, seqs, e))
            elif n >= ENTRY_INSERT_MIN_LINES:
                packed = _dumps(messages)
                entries.append((pk, seq + 1, _db_ts(dt), e.level, e.stream, e.host, e.task, e.event, packed))
                if marked:
                    entry_marks.append((pk, seq + 1, e.level, e.stream, packed))
            else:
                common = (repeat(pk, n), seqs, repeat(_db_ts(dt), n), repeat(e.level, n), repeat(e.stream, n), messages)
                if e.host or e.task or e.event:
                    rows.extend(zip(*common, repeat(e.host, n), repeat(e.task, n), repeat(e.event, n), strict=True))
                else:
                    untagged.extend(zip(*common, strict=True))
                if marked:
                    marks.extend(zip(repeat(pk, n), seqs, repeat(e.level, n), repeat(e.stream, n), strict=True))
            parts.append(text)
            seq += n
        count = seq - self.last_seq
        now = timezone.now()
        if self._turns:
            with connection.cursor() as cursor:  # checkpoints run after the turn (_checkpoint)
                cursor.execute("PRAGMA wal_autocheckpoint=0")
                # SQLite checks each row's foreign key at commit (about a twelfth of an insert's
                # cost); the job row is checked once instead, by the update below.
                cursor.execute("PRAGMA foreign_keys=OFF")
        with self._turns.turn(lines=count) if self._turns else nullcontext():
            started = time.monotonic()
            with transaction.atomic():
                if postgres:
                    _copy(_COPY_SQL, rows)
                    _copy(_MARK_COPY_SQL, marks)
                else:
                    _executemany(_ENTRY_INSERT_SQL, entries)
                    _executemany(_UNTAGGED_INSERT_SQL, untagged)
                    _executemany(_INSERT_SQL, rows)
                    _executemany(_ENTRY_MARK_INSERT_SQL, entry_marks)
                    _executemany(_MARK_INSERT_SQL, marks)
                kept = Job.objects.filter(pk=self.job_pk).update(
                    line_count=self.line_count + count, last_seq=seq, heartbeat_at=now
                )
                if count and not kept:  # the job was deleted: its lines must not outlive it
                    raise IntegrityError(f"job {self.job_id} no longer exists; its lines are not stored")
            held = time.monotonic() - started
        self._adapt_batch_cap(count, held)
        if self._turns:
            self._checkpoint(count)
        self.last_seq = seq
        self.line_count += count
        self._last_flush = time.monotonic()
        if parts:
            self._file.write("".join(parts))
            self._file.flush()
            self._wake(self.job_id, seq)

    def _checkpoint(self, count: int) -> None:
        """Copy SQLite's WAL into the database now and then, outside the turn: a checkpoint run
        by the commit itself (autocheckpoint) kept the write turn through its fsyncs. PASSIVE
        never blocks writers, so the next job's batch commits meanwhile."""
        self._unchecked_lines += max(count, 1)
        if self._unchecked_lines >= CHECKPOINT_LINES:
            self._unchecked_lines = 0
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _adapt_batch_cap(self, count: int, held: float) -> None:
        """On SQLite, size the next batches so one transaction holds the write lock about
        MAX_HOLD_SECONDS (one writer: a 20,000-line batch kept every other job's lines waiting)."""
        if self._turns is None or count < BATCH_LINES or held <= 0:
            return  # PostgreSQL has no single write lock: big batches cost no one a wait there
        fits = count / held * MAX_HOLD_SECONDS
        self._batch_cap = int(min(MAX_BATCH_LINES, max(BATCH_LINES, (self._batch_cap + fits) / 2)))


def _copy(sql: str, pieces: list[str]) -> None:
    if pieces:
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            copy.write("".join(pieces))


def _executemany(sql: str, rows: list[tuple]) -> None:
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def _db_ts(dt: datetime):
    if connection.vendor == "sqlite":
        return dt.replace(tzinfo=None).isoformat(" ")
    return dt


def append_system_line(*, job_pk: int, job_id: str, message: str, level: str = "ERROR") -> int:
    """One line written outside a running sink (the reaper, for a job whose worker is gone).

    Locks the job row so the seq follows the last stored line; returns the new seq.
    """
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().only("last_seq", "line_count").get(pk=job_pk)
        seq = job.last_seq + 1
        _executemany(_INSERT_SQL, [(job_pk, seq, _db_ts(now), level, "system", message, "", "", "")])
        _executemany(_MARK_INSERT_SQL, [(job_pk, seq, level, "system")])
        Job.objects.filter(pk=job_pk).update(last_seq=seq, line_count=job.line_count + 1)
    with logfile.open_for_append(logfile.path_for(job_id)) as fh:
        fh.write(logfile.format_line(now, level, "system", message))
    wake_sender()(job_id, seq)
    return seq
