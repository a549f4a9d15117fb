"""rows_after (every live reader's query, plain SQL in jobs/log/head_rows.py) answers exactly
what the ORM reads: same fields, aware timestamps (whole seconds too), tags, long lines whole,
gaps skipped. Runs on SQLite, and on PostgreSQL when DATABASE_URL names one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.log import reader
from jobs.models import Job, JobLogLine
from jobs.services import new_job_id

pytestmark = pytest.mark.django_db

LONG = "x" * (reader.HEAD_CHARS * 3) + "end"


def _job_with_lines() -> Job:
    job = Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status="succeeded")
    whole = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)  # stored without a fraction of a second
    fine = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    rows = [
        JobLogLine(job=job, seq=1, ts=whole, level="INFO", stream="stdout", message="one"),
        JobLogLine(job=job, seq=2, ts=fine, level="ERROR", stream="stderr", message="two\ttab ünï"),
        JobLogLine(job=job, seq=3, ts=fine, level="INFO", stream="stdout", message=LONG),
        JobLogLine(job=job, seq=4, ts=fine, stream="stdout", message="", host="web1", task="t", event="ok"),
        # seq 5-6 removed (a gap), then more
        JobLogLine(job=job, seq=7, ts=whole, level="WARNING", stream="system", message="seven"),
    ]
    JobLogLine.objects.bulk_create(rows)
    return job


def test_rows_after_reads_what_the_orm_reads():
    job = _job_with_lines()
    expected = list(JobLogLine.objects.filter(job=job).order_by("seq").values(*reader.LINE_FIELDS))
    got = reader.rows_after(job_pk=job.pk, cursor=0, limit=100, max_bytes=1 << 20)
    assert got == expected
    assert [r["ts"].tzinfo is not None for r in got] == [True] * 5
    assert got[0]["ts"] == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert got[2]["message"] == LONG  # read again whole past HEAD_CHARS
    assert reader.compact_line(got[3]) == {
        "seq": 4, "ts": got[3]["ts"], "level": "INFO", "stream": "stdout", "message": "",
        "host": "web1", "task": "t", "event": "ok",
    }  # fmt: skip
    assert "host" not in reader.compact_line(got[0])


def test_rows_after_steps_over_a_gap_and_stops_at_the_limit():
    job = _job_with_lines()
    assert [r["seq"] for r in reader.rows_after(job_pk=job.pk, cursor=4, limit=2, max_bytes=1 << 20)] == [7]
    assert [r["seq"] for r in reader.rows_after(job_pk=job.pk, cursor=0, limit=2, max_bytes=1 << 20)] == [1, 2]
    assert reader.rows_after(job_pk=job.pk, cursor=7, limit=100, max_bytes=1 << 20) == []
