"""Shared fan-out: the viewers of one job in one daphne process share its reads.

Twenty people watching one busy job used to cost twenty readers: each websocket consumer
read the same rows after its own cursor and JSON-encoded them itself. Now the consumers of
a job in this process join one `JobFeed`. The feed runs the one "status, then rows after
my cursor" loop (jobs.log.reader.follow_rows) and keeps what it read as encoded chunks, one
per batch, in a bounded buffer; a viewer whose cursor is at a chunk's start gets that
chunk's text as it is, so a batch is read once and encoded once however many watch it.

Each viewer keeps its own cursor, so nothing about "every line once, in order" changed:
- a viewer inside the buffer takes the chunk after its cursor; when its cursor falls inside
  a chunk (a resume), it reads the rest of that chunk on its own first;
- a viewer older than the buffer (a late joiner starting at 0, a resume far back, one whose
  send window kept it behind) reads on its own, in the same large batches, until it reaches
  the buffer; and when its own read finds nothing more, it treats itself as at the head;
- a viewer at the head gets each new Round (the state read before the rows) and decides
  from it, with its own cursor, whether the job is done for it.

The feed reads only when a viewer waits at its head (or takes the last chunk: one batch of
read-ahead) and, between rounds, only after a wake-up or the tick: readers never read faster
than rows arrive, and slow viewers never make it read into a buffer nobody takes from.
Truly behind a running job's flood (full batches in a row) it rests as long as it worked, in
CPU, never for time spent waiting (jobs/log/pacing.py), so the job's own writer keeps its CPU
and a viewer caught up is never held back.
Flow control is untouched: each consumer still waits for room in its own send window
(jobs/live/flow.py) before it sends; the feed never waits on a socket.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import time
import weakref
from collections import deque
from dataclasses import dataclass, field

from channels.db import database_sync_to_async

from jobs.log.pacing import Pacer
from jobs.log.reader import JobGone, Round, compact_line, follow_rows, rows_after

logger = logging.getLogger("jobs.live.fanout")

BATCH = 1000
BUFFER_BYTES = 8 << 20  # encoded lines kept for viewers a little behind the head

_feeds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> {job_pk: JobFeed}


def lines_json(rows: list[dict]) -> list[dict]:
    """Rows as the `lines` message's JSON-ready lines; each distinct time is formatted once (the
    lines of one sink entry share one; a per-line isoformat was a sixth of the feed's work)."""
    texts: dict = {}
    out = []
    for row in rows:
        line = compact_line(row)
        ts = line["ts"]
        line["ts"] = texts.get(ts) or texts.setdefault(ts, ts.isoformat())
        out.append(line)
    return out


def lines_fragment(lines: list[dict]) -> str:
    """A `lines` message without its closing brace: the sender appends its ack token."""
    return '{"type": "lines", "lines": ' + json.dumps(lines)


@dataclass
class _Chunk:
    """A batch as the feed keeps it: its text alone. No per-line objects: 8 MiB of line dicts
    made each of the garbage collector's full passes walk some 50,000 of them, a cost that
    grew with every viewer's allocations."""

    after: int  # the cursor the batch was read after
    last: int  # the seq of its last line
    fragment: str  # the whole batch, encoded once


@dataclass(eq=False)
class Viewer:
    """One consumer's place in a feed: its cursor (the last seq it sent) and the last round it saw."""

    cursor: int
    seen_round: int = 0
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def poke(self) -> None:
        """Wake this viewer's pump (something of its own to send, e.g. a partial line)."""
        self.event.set()


@dataclass(frozen=True)
class Take:
    """What a viewer gets from `JobFeed.next`: lines, a round, the job gone, or nothing (a poke)."""

    fragment: str | None = None
    last: int = 0
    round: Round | None = None
    gone: str | None = None  # the job was deleted (or reading it failed: `failed`)
    failed: bool = False


IDLE = Take()


@database_sync_to_async
def _advance(rounds) -> tuple[object, float]:
    """The next item of the feed's rounds, and the CPU seconds reading it took (not the wait)."""
    began = time.thread_time()
    item = next(rounds, None)
    return item, time.thread_time() - began


@database_sync_to_async
def _read_own(job_pk: int, cursor: int, limit: int, max_bytes: int) -> list[dict]:
    return rows_after(job_pk=job_pk, cursor=cursor, limit=limit, max_bytes=max_bytes)


class JobFeed:
    def __init__(self, *, job_pk: int, start: int, tick: float, max_bytes: int) -> None:
        self.job_pk = job_pk
        self.tick = tick
        self.max_bytes = max_bytes
        self.base = start  # the buffer holds the rows in (base, head]
        self.head = start
        self.chunks: deque[_Chunk] = deque()
        self.lasts: list[int] = []  # each chunk's last seq, for bisect
        self.buffered = 0
        self.round: Round | None = None
        self.round_no = 0
        self.gone: str | None = None
        self.failed = False
        self.viewers: set[Viewer] = set()
        self.rows_read = 0  # rows the feed read for everyone (the tests and the bench look)
        self.own_rows_read = 0  # rows viewers behind the buffer read for themselves
        self._rounds = follow_rows(job_pk=job_pk, after=start, limit=BATCH, max_bytes=max_bytes)
        self._demand = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    # ---- the consumers' side ------------------------------------------------------------
    def wake(self) -> None:
        """New rows or a new status were announced (a channel-layer wake-up)."""
        self._wake.set()

    async def next(self, viewer: Viewer) -> Take:
        """What `viewer` should send next; waits while there is nothing (returns IDLE on a poke)."""
        while True:
            if self.gone is not None:
                return Take(gone=self.gone, failed=self.failed)
            own = None
            if viewer.cursor < self.base:
                own = await self._own_take(viewer.cursor, BATCH)
                # None: nothing after its cursor yet; it is at the end of what is stored, like the head.
            elif viewer.cursor < self.head:
                chunk = self._chunk_after(viewer.cursor)
                if chunk.after == viewer.cursor:
                    return Take(fragment=chunk.fragment, last=chunk.last)
                # A resume inside a batch reads the rest of that batch on its own (rare).
                own = await self._own_take(viewer.cursor, chunk.last - viewer.cursor)
            if own is not None:
                return own
            if self.round_no > viewer.seen_round and self.round is not None:
                viewer.seen_round = self.round_no
                return Take(round=self.round)
            self._demand.set()
            viewer.event.clear()
            await viewer.event.wait()
            if self.gone is None and viewer.cursor >= self.head and self.round_no <= viewer.seen_round:
                return IDLE  # a poke: the consumer may have something of its own to send

    async def _own_take(self, cursor: int, limit: int) -> Take | None:
        """The lines after `cursor` read for one viewer alone, or None when there are none."""
        rows = await _read_own(self.job_pk, cursor, limit, self.max_bytes)
        self.own_rows_read += len(rows)
        return Take(fragment=lines_fragment(lines_json(rows)), last=rows[-1]["seq"]) if rows else None

    def _chunk_after(self, cursor: int) -> _Chunk:
        """The buffered batch holding the line after `cursor` (base <= cursor < head)."""
        chunk = self.chunks[bisect.bisect_right(self.lasts, cursor)]
        if chunk.last >= self.head:
            self._demand.set()  # it takes the newest chunk: read the next batch meanwhile
        return chunk

    # ---- the reading ---------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        pacer = Pacer()  # truly behind a running job's flood, rest as long as it worked (jobs/log/pacing.py)
        try:
            while True:
                await self._demand.wait()
                self._demand.clear()
                item, work = await _advance(self._rounds)
                if item is None:
                    return
                if isinstance(item, Round):
                    self.round, self.round_no = item, self.round_no + 1
                    self._notify()
                    if item.done:
                        return
                    await self._between_rounds()
                    pacer.restart()
                else:
                    began = time.thread_time()
                    encoded = self._keep(item)
                    work += time.thread_time() - began
                    self._notify()
                    full = len(item) >= BATCH or encoded >= self.max_bytes * 0.9  # more rows wait
                    rest = pacer.rest_after(full=full, work=work)
                    if rest and self.round is not None and not self.round.final:
                        await asyncio.sleep(rest)
        except JobGone as exc:
            self.gone = str(exc)
            self._notify()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - its viewers are told and closed, never left hanging
            logger.exception("reading the lines of job %s failed", self.job_pk)
            self.gone, self.failed = "Reading this job's lines failed; reload to try again.", True
            self._notify()

    async def _between_rounds(self) -> None:
        # Coalesce: one round per wake-up or tick, however many rows or wake-ups came meanwhile.
        try:
            await asyncio.wait_for(self._wake.wait(), self.tick)
        except TimeoutError:
            pass
        self._wake.clear()

    def _keep(self, rows: list[dict]) -> int:
        """Keep a batch as one encoded chunk; its size in characters."""
        self.rows_read += len(rows)
        chunk = _Chunk(after=self.head, last=rows[-1]["seq"], fragment=lines_fragment(lines_json(rows)))
        self.chunks.append(chunk)
        self.lasts.append(chunk.last)
        self.buffered += len(chunk.fragment)
        self.head = chunk.last
        while self.buffered > BUFFER_BYTES and len(self.chunks) > 1:
            dropped = self.chunks.popleft()
            del self.lasts[0]
            self.buffered -= len(dropped.fragment)
            self.base = dropped.last
        return len(chunk.fragment)

    def _notify(self) -> None:
        for viewer in self.viewers:
            viewer.event.set()


def join(*, job_pk: int, cursor: int, tick: float, max_bytes: int) -> tuple[JobFeed, Viewer]:
    """The feed of this job in this process (made on first use) and a new viewer at `cursor`."""
    feeds = _feeds.setdefault(asyncio.get_running_loop(), {})
    feed = feeds.get(job_pk)
    if feed is None:
        feed = feeds[job_pk] = JobFeed(job_pk=job_pk, start=cursor, tick=tick, max_bytes=max_bytes)
        feed.start()
    viewer = Viewer(cursor=cursor)
    feed.viewers.add(viewer)
    return feed, viewer


def leave(feed: JobFeed, viewer: Viewer) -> None:
    """A viewer is gone; the last one stops the feed's reading and forgets it."""
    feed.viewers.discard(viewer)
    if feed.viewers:
        return
    feed.stop()
    feeds = _feeds.get(asyncio.get_running_loop(), {})
    if feeds.get(feed.job_pk) is feed:
        del feeds[feed.job_pk]


def feed_of(job_pk: int) -> JobFeed | None:
    """This process's feed of a job, if any viewer holds one (for tests and the bench)."""
    return _feeds.get(asyncio.get_running_loop(), {}).get(job_pk)
