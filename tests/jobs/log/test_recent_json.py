"""The job detail's newest lines are JSON the database writes (jobs/log/head_rows.py,
jobs/log/recent_json.py). Each must be what the schema path would send: the same values as
the ORM row cut like every list answer, `ts` as the API's encoder writes it, the schema's key
order. Runs on SQLite, and on PostgreSQL in the scale-out pass (DATABASE_URL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from jobs.api.schemas import LineOut
from jobs.log import reader
from jobs.log.recent_json import recent_lines_json
from jobs.models import Job, JobLogLine
from jobs.services import new_job_id

pytestmark = pytest.mark.django_db

CUT = 64
TIMES = [
    datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),  # no fraction: the encoder writes none
    datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),  # cut to milliseconds, not rounded
    datetime(2024, 5, 6, 7, 8, 9, 999999, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 59, 59, 123, tzinfo=UTC),  # a fraction under 1 ms: ".000"
]
MESSAGES = [
    "plain",
    "",
    'quotes " and \\ backslash / slash',
    "tab\tcr\rbell\x07esc\x1b[31mred\x1b[0m del\x7f",
    "ünïcödé ✓ 😀 \u2028 \u2400",
    "x" * CUT,  # exactly the cut: whole
    "x" * (CUT + 1),  # one byte over: cut, truncated
    "é" * CUT,  # 2 bytes each: cut on a character boundary
    "😀" * 40 + "tail",  # 4 bytes each
    "y" * 5000,
]


def _job(messages: list[str]) -> Job:
    job = Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status="succeeded")
    JobLogLine.objects.bulk_create(
        JobLogLine(
            job=job, seq=seq, ts=TIMES[seq % len(TIMES)], message=message,
            level=("INFO", "ERROR", "WARNING")[seq % 3], stream=("stdout", "stderr", "system")[seq % 3],
            host="web1" if seq % 2 else "", task="t ✓" if seq % 4 == 1 else "", event="ok" if seq % 5 == 0 else "",
        )
        for seq, message in enumerate(messages, start=1)
    )  # fmt: skip
    return job


def _schema_line(row: dict) -> dict:
    """What the schema path sends for an ORM row: cut to CUT bytes of UTF-8, through LineOut
    and the API's JSON encoder."""
    whole = row["message"]
    cut = whole.encode()[:CUT].decode("utf-8", "ignore")
    line = LineOut.model_validate({**row, "message": cut, "truncated": cut != whole}).model_dump()
    return json.loads(json.dumps(line, cls=DjangoJSONEncoder))


def test_each_line_is_what_the_schema_would_send_newest_first():
    job = _job(MESSAGES)
    texts = recent_lines_json(job_pk=job.pk, limit=100, max_bytes=1 << 20, cut=CUT)
    rows = JobLogLine.objects.filter(job=job).order_by("-seq").values(*reader.LINE_FIELDS)
    got = [json.loads(text) for text in texts]
    assert [line["seq"] for line in got] == list(range(len(MESSAGES), 0, -1))
    for line, row in zip(got, rows, strict=True):
        assert line == _schema_line(row), row["seq"]
        assert list(line) == list(LineOut.model_fields), "the schema's key order"
    by_seq = {line["seq"]: line for line in got}
    assert by_seq[6]["truncated"] is False and by_seq[6]["message"] == "x" * CUT
    assert by_seq[7]["truncated"] is True and by_seq[7]["message"] == "x" * CUT
    assert by_seq[8]["message"] == "é" * (CUT // 2) and by_seq[8]["truncated"] is True
    assert [by_seq[s]["ts"] for s in (4, 1, 2, 3)] == [
        "2024-05-06T07:08:09Z",
        "2024-05-06T07:08:09.123Z",
        "2024-05-06T07:08:09.999Z",
        "2024-12-31T23:59:59.000Z",
    ]


def test_limit_and_byte_budget():
    job = _job([f"line {i:03d} " + "z" * 200 for i in range(1, 101)])
    assert recent_lines_json(job_pk=job.pk, limit=0, max_bytes=1 << 20, cut=CUT) == []
    three = recent_lines_json(job_pk=job.pk, limit=3, max_bytes=1 << 20, cut=1000)
    assert [json.loads(t)["seq"] for t in three] == [100, 99, 98]
    budgeted = recent_lines_json(job_pk=job.pk, limit=100, max_bytes=2000, cut=1000)
    assert 1 <= len(budgeted) < 10 and sum(map(len, budgeted[:-1])) <= 2000
    assert [json.loads(t)["seq"] for t in budgeted] == list(range(100, 100 - len(budgeted), -1))
    one = recent_lines_json(job_pk=job.pk, limit=5, max_bytes=10, cut=1000)
    assert len(one) == 1, "at least one line, however small the budget"


def test_a_job_without_lines_and_an_unknown_job_have_none():
    job = _job([])
    assert recent_lines_json(job_pk=job.pk, limit=50, max_bytes=1 << 20, cut=CUT) == []
    assert recent_lines_json(job_pk=-1, limit=50, max_bytes=1 << 20, cut=CUT) == []
