"""Turns at SQLite's one write lock for the sinks of every process, small batches first.

SQLite lets one writer in at a time; the others wait in its busy handler, which polls
with sleeps growing to 100 ms. A flooding sink commits and at once begins its next batch,
so a quiet job's writer keeps waking to a taken lock: its lines waited seconds. Sinks
therefore take turns through two `flock` files beside the database, where the kernel wakes
a waiter the moment the lock is free:

- `<db>.sink-turn`: held (exclusive) around each batch's transaction;
- `<db>.sink-waiting`: held shared by every small batch while it waits for and holds its
  turn. A big batch first takes it exclusively (and drops it at once), so it waits until no
  small batch is queued, and checks again once it has the turn: a quiet job's batch goes
  before the flood's next one. (A steady crowd of small batches could keep a big one
  waiting; small batches are a trickle's, so they leave gaps.)

Postgres has no single writer (concurrent COPYs only lock their own rows): no turns there.
flock locks belong to an open file, so two sinks in one process queue like two processes.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SMALL_BATCH_LINES = 500  # a batch this small (a trickle's ~50 ms of lines) goes first


class WriteTurns:
    """One sink's handle on the turn files of one SQLite database."""

    def __init__(self, db_path: str | Path) -> None:
        self.turn_path = Path(f"{db_path}.sink-turn")
        self.waiting_path = Path(f"{db_path}.sink-waiting")
        self._turn: int | None = None
        self._waiting: int | None = None

    def _fds(self) -> tuple[int, int]:
        if self._turn is None:
            self._turn = os.open(self.turn_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._waiting = os.open(self.waiting_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._turn, self._waiting

    @contextmanager
    def turn(self, *, lines: int) -> Iterator[None]:
        """Hold the write turn for a batch of `lines` lines (wrap its whole transaction)."""
        turn, waiting = self._fds()
        small = lines <= SMALL_BATCH_LINES
        if small:
            fcntl.flock(waiting, fcntl.LOCK_SH)
            fcntl.flock(turn, fcntl.LOCK_EX)
        else:
            self._big_turn(turn, waiting)
        try:
            yield
        finally:
            fcntl.flock(turn, fcntl.LOCK_UN)
            if small:
                fcntl.flock(waiting, fcntl.LOCK_UN)

    @staticmethod
    def _big_turn(turn: int, waiting: int) -> None:
        """Take the turn once no small batch waits: wait them out first, and hand the turn
        back if one queued while this batch waited for it (the kernel wakes every waiter of
        a released flock at once, and the big batch may win that race)."""
        while True:
            fcntl.flock(waiting, fcntl.LOCK_EX)
            fcntl.flock(waiting, fcntl.LOCK_UN)
            fcntl.flock(turn, fcntl.LOCK_EX)
            try:
                fcntl.flock(waiting, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fcntl.flock(turn, fcntl.LOCK_UN)
                continue
            fcntl.flock(waiting, fcntl.LOCK_UN)
            return

    def close(self) -> None:
        for fd in (self._turn, self._waiting):
            if fd is not None:
                os.close(fd)
        self._turn = self._waiting = None


def turns_for(connection) -> WriteTurns | None:
    """Turns for a file-backed SQLite database; None for Postgres or an in-memory SQLite."""
    if connection.vendor != "sqlite":
        return None
    name = str(connection.settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return WriteTurns(name)
