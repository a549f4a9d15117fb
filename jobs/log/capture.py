"""Route the app's own log records raised during a job into that job's log.

One handler (installed once through settings.LOGGING) looks up the sink of the job that
runs in the current contextvars context. asyncio tasks copy the context, so records from
concurrent jobs in one process never cross; outside a job nothing is captured.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs.log.sink import JobSink

current_sink: ContextVar[JobSink | None] = ContextVar("livchat_current_sink", default=None)
# The server the current task talks to: its records ("Connecting to …") are tagged with it
# (JobLogLine.host), so a job on several servers says which one each line is about.
current_host: ContextVar[str] = ContextVar("livchat_current_host", default="")
_emitting = threading.local()


@contextmanager
def capture_into(sink: JobSink):
    token = current_sink.set(sink)
    try:
        yield sink
    finally:
        current_sink.reset(token)


@contextmanager
def about_host(name: str):
    """Records raised inside are about server `name` (each asyncio task has its own)."""
    token = current_host.set(name)
    try:
        yield
    finally:
        current_host.reset(token)


class JobLogHandler(logging.Handler):
    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        sink = current_sink.get()
        if sink is None or getattr(_emitting, "active", False):
            return
        _emitting.active = True  # a record raised while storing a record must not recurse
        try:
            level = record.levelname if record.levelname in _LEVELS else "INFO"
            host = current_host.get()
            tags = {"host": host} if host else {}
            sink.write(self.format(record), level=level, stream="system", **tags)
        except Exception:  # noqa: BLE001
            self.handleError(record)
        finally:
            _emitting.active = False


_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
