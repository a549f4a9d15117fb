"""Fair to neighbours: on SQLite (one writer) sinks take turns at the write lock and a quiet
job's small batch goes before a flooding job's next big one; a slow store gets smaller
batches, so one transaction never holds the lock for long. Asserts order, never time: who
waits is read from the kernel's lock table (/proc/locks), who went first from the rowids."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from django.db import IntegrityError, connection

from jobs.log import sink as sink_module
from jobs.log.sink import BATCH_LINES, JobSink
from jobs.log.turns import SMALL_BATCH_LINES, WriteTurns, turns_for
from jobs.models import Job, JobLogLine
from jobs.services import new_job_id
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _job() -> Job:
    return Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status="running")


def _flocks(path: Path) -> tuple[int, int]:
    """(granted, waiting) flock requests on `path`, from the kernel's lock table."""
    st = os.stat(path)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    granted = waiting = 0
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "FLOCK" not in fields:
            continue
        blocked = "->" in fields
        ino = fields[fields.index("FLOCK") + 4]
        if ino == inode:
            waiting += blocked
            granted += not blocked
    return granted, waiting


def _db_path() -> str:
    return str(connection.settings_dict["NAME"])


def test_sqlite_sinks_take_turns_beside_the_database():
    assert connection.vendor == "sqlite"
    turns = turns_for(connection)
    assert turns is not None and str(turns.turn_path) == f"{_db_path()}.sink-turn"


def test_a_quiet_jobs_small_batch_goes_before_the_floods_next_batch():
    flood_job, quiet_job = _job(), _job()
    holder = WriteTurns(_db_path())  # stands for the flood's batch in progress
    flood = JobSink(job_pk=flood_job.pk, job_id=flood_job.job_id).start()
    quiet = JobSink(job_pk=quiet_job.pk, job_id=quiet_job.job_id).start()
    try:
        with holder.turn(lines=10_000):
            flood.write_lines("stdout", [f"flood {i}" for i in range(5000)], block=False)
            wait_for(lambda: _flocks(holder.turn_path)[1] == 1, timeout=30, message="the flood waits for its turn")
            quiet.write_lines("stdout", ["quiet line"], block=False)
            wait_for(
                lambda: _flocks(holder.turn_path)[1] == 2 and _flocks(holder.waiting_path)[0] == 1,
                timeout=10,
                message="the quiet batch waits too, announced as small",
            )
        # The flood was waiting first, but the quiet line is stored before any flood line.
        flood.close()
        quiet.close()
    finally:
        holder.close()
    quiet_id = JobLogLine.objects.get(job=quiet_job).id
    flood_ids = list(JobLogLine.objects.filter(job=flood_job).order_by("seq").values_list("id", flat=True))
    assert len(flood_ids) == 5000
    assert quiet_id < min(flood_ids)
    assert flood_ids == sorted(flood_ids)  # and the flood's own lines stay in order


def test_a_big_batch_waits_while_a_small_one_is_queued():
    small = WriteTurns(_db_path())
    big = WriteTurns(_db_path())
    got_turn = threading.Event()

    def big_batch() -> None:
        with big.turn(lines=SMALL_BATCH_LINES + 1):
            got_turn.set()

    try:
        with small.turn(lines=1):
            worker = threading.Thread(target=big_batch)
            worker.start()
            # Queued behind the small batch's announcement, not at the turn itself.
            wait_for(lambda: _flocks(small.waiting_path)[1] == 1, timeout=10, message="the big batch waits")
            assert _flocks(small.turn_path) == (1, 0)
            assert not got_turn.is_set()
        worker.join(timeout=10)
        assert got_turn.is_set()
    finally:
        small.close()
        big.close()


def test_a_slow_store_gets_smaller_batches():
    job = _job()
    sink = JobSink(job_pk=job.pk, job_id=job.job_id)  # not started: batches are taken here
    assert BATCH_LINES < sink._batch_cap < sink_module.MAX_BATCH_LINES  # SQLite starts small
    for _ in range(10):  # 20,000 lines took a whole second each time
        sink._adapt_batch_cap(20_000, 1.0)
    assert sink._batch_cap == BATCH_LINES
    for i in range(30):
        sink.write_lines("stdout", [f"{i}-{j}" for j in range(200)], block=False)
    with sink._lock:
        batch = sink._take_batch()
    assert sum(len(e.messages) for e in batch) == BATCH_LINES
    for _ in range(10):  # a fast store: batches grow back, up to the row cap
        sink._adapt_batch_cap(BATCH_LINES, 0.0001)
    assert sink._batch_cap == sink_module.MAX_BATCH_LINES


def test_a_deleted_jobs_lines_are_not_stored_though_the_sink_skips_row_by_row_key_checks():
    # The sink turns SQLite's per-row foreign-key checks off on its own connection (a twelfth
    # of an insert's cost) and checks the job row once a batch instead: lines never outlive it.
    job = _job()
    sink = JobSink(job_pk=job.pk, job_id=job.job_id)  # not started: its batches are flushed here
    sink._file = open(os.devnull, "w")  # noqa: SIM115 - the log file start() would open
    try:
        sink.write_lines("stdout", ["kept 1", "kept 2"], block=False)
        with sink._lock:
            sink._flush(sink._take_batch())
        assert list(JobLogLine.objects.filter(job=job).values_list("message", flat=True)) == ["kept 1", "kept 2"]
        pk = job.pk
        Job.objects.filter(pk=pk).delete()
        sink.write_lines("stdout", ["orphan"], block=False)
        with sink._lock:
            batch = sink._take_batch()
        with pytest.raises(IntegrityError, match="no longer exists"):
            sink._flush(batch)
        assert not JobLogLine.objects.filter(job_id=pk).exists(), "no orphan line"
    finally:
        sink._file.close()
        with connection.cursor() as cursor:  # this test's connection flushed as a sink would
            cursor.execute("PRAGMA foreign_keys=ON")
