"""The store falls behind, the job's event loop does not stop: cancel and timeout still fire.

A flooding command fills the sink's buffer to its bound while the store is stalled: once
by holding the database's write lock from another connection, once by a log file nobody
reads (a FIFO). The runner then waits for room *without blocking its event loop*, so the
timeout and cancel watchers on that loop still kill the remote process while the store is
still stuck; the job ends with its final status once the store catches up.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
from django.db import connection

from jobs.log.logfile import path_for
from jobs.log.sink import MAX_PENDING_LINES
from jobs.models import Job, JobStatus
from jobs.services import create_remote_exec_job, request_cancel
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

KILL_WITHIN = 3.0  # seconds from the cancel (or the timeout) to the remote process gone


def _flood_command() -> tuple[str, str]:
    marker = f"flood-{time.monotonic_ns()}"
    return f"yes {marker}", marker


def _remote_alive(marker: str) -> bool:
    out = subprocess.run(["pgrep", "-f", f"^yes {marker}$"], capture_output=True, text=True)
    return bool(out.stdout.strip())


def _started(job: Job, marker: str) -> None:
    def flooding():
        job.refresh_from_db()
        return job.status == JobStatus.RUNNING and job.line_count > 0 and _remote_alive(marker)

    wait_for(flooding, timeout=60, interval=0.05, message="the flood to start")


class _WriteLock:
    """Another connection that holds the database write lock for the lines."""

    def __enter__(self):
        settings = connection.settings_dict
        if connection.vendor == "sqlite":
            import sqlite3

            self.conn = sqlite3.connect(settings["NAME"], isolation_level=None, timeout=30)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.conn = psycopg.connect(
                host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"]
            )
            # Inserts of lines wait; reads (the cancel check) and the job row stay free.
            self.conn.execute("LOCK TABLE jobs_joblogline IN EXCLUSIVE MODE")
        return self

    def __exit__(self, *exc):
        self.conn.rollback() if connection.vendor != "sqlite" else self.conn.execute("ROLLBACK")
        self.conn.close()


def _buffer_fills() -> None:
    # `yes` prints ~10 M lines/s: the sink's bound (MAX_PENDING_LINES) is reached in
    # milliseconds. Nothing outside the worker shows the buffer, so give it a moment; the
    # test checks afterwards that the stalled batch really was that large.
    time.sleep(1.0)


def test_timeout_fires_while_the_database_write_lock_is_held(server, run_job_in_thread):
    command, marker = _flood_command()
    job = create_remote_exec_job(server=server, command=command, timeout=4, enqueue=False)
    thread = run_job_in_thread(job)
    _started(job, marker)
    with _WriteLock():
        stalled_at = Job.objects.get(pk=job.pk).line_count
        _buffer_fills()
        deadline = job.started_at.timestamp() + job.timeout + KILL_WITHIN
        wait_for(lambda: not _remote_alive(marker), timeout=max(deadline - time.time(), 0.5), interval=0.05,
                 message="the timeout to kill the remote process while the store is stalled")  # fmt: skip
        assert thread.is_alive(), "the job cannot have ended: its lines are not stored yet"
    thread.join(timeout=60)
    job.refresh_from_db()
    assert job.status == JobStatus.TIMED_OUT
    assert job.line_count - stalled_at >= MAX_PENDING_LINES * 0.9, "the sink never fell behind"
    assert job.line_count == job.last_seq == job.lines.count()


def test_cancel_fires_while_the_log_file_cannot_be_written(server, run_job_in_thread):
    command, marker = _flood_command()
    job = create_remote_exec_job(server=server, command=command, timeout=600, enqueue=False)
    path = path_for(job.job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # lets the sink open it; never read (yet)
    try:
        thread = run_job_in_thread(job)
        wait_for(lambda: _remote_alive(marker), timeout=60, interval=0.05, message="the flood to start")
        _buffer_fills()
        stalled_at = Job.objects.get(pk=job.pk).line_count
        cancelled_at = time.monotonic()
        request_cancel(job=job, requested_by="alice")
        wait_for(lambda: not _remote_alive(marker), timeout=KILL_WITHIN, interval=0.05,
                 message="the cancel to kill the remote process while the store is stalled")  # fmt: skip
        kill_seconds = time.monotonic() - cancelled_at
        assert thread.is_alive(), "the job cannot have ended: the log file is still stalled"
    finally:
        drained = threading.Thread(target=_drain, args=(reader,), daemon=True)
        drained.start()
    thread.join(timeout=60)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and kill_seconds < KILL_WITHIN
    assert job.line_count - stalled_at >= MAX_PENDING_LINES * 0.9, "the sink never fell behind"
    assert job.line_count == job.last_seq == job.lines.count()


def _drain(fd: int) -> None:
    os.set_blocking(fd, True)
    try:
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)
