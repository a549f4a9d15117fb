"""Log queries: tail, after, level minimum, stream, regex (incl. matches that lean across lines)."""

from __future__ import annotations

import pytest

from jobs.log import pattern_guard
from jobs.log.filters import parse_filter
from jobs.log.pattern_guard import LogQueryError
from jobs.log.reader import read_lines
from jobs.log.sink import JobSink
from jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job():
    from jobs.services import new_job_id

    # A fresh id each time: the data dir (and so the log file) outlives one test.
    job = Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status="succeeded")
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    for i in range(1, 120_001):  # spans several scan chunks
        if i % 1000 == 0:
            sink.write_lines("stderr", [f"err {i}"], level="ERROR")
        elif i % 777 == 0:
            sink.write_lines("stdout", [f"warn {i}"], level="WARNING")
        else:
            sink.write_lines("stdout", [f"out {i}"])
    sink.write("system note", level="INFO")
    sink.close()
    job.refresh_from_db()
    return job


def _messages(rows):
    return [r["message"] for r in rows]


def test_tail_after_level_stream(job):
    assert _messages(read_lines(job=job, flt=parse_filter(), tail=2)) == ["err 120000", "system note"]
    assert [r["seq"] for r in read_lines(job=job, flt=parse_filter(), tail=3, after=10)] == [11, 12, 13]
    errors = read_lines(job=job, flt=parse_filter(level="error"), tail=5)
    assert _messages(errors) == [f"err {i}" for i in range(116000, 120001, 1000)]
    warnings_up = read_lines(job=job, flt=parse_filter(level="WARNING"), tail=10000)
    assert len(warnings_up) == 120 + len([i for i in range(777, 120001, 777) if i % 1000])
    assert _messages(read_lines(job=job, flt=parse_filter(stream="system"), tail=10)) == ["system note"]
    assert read_lines(job=job, flt=parse_filter(), tail=10, after=10**9) == []


def test_regex_tail_and_forward_across_chunks(job):
    rows = read_lines(job=job, flt=parse_filter(q=r"^err 1[01]\d000$"), tail=100)
    assert _messages(rows) == [f"err {i}" for i in range(100000, 120000, 1000)]
    forward = read_lines(job=job, flt=parse_filter(q=r"^out 4999[0-9]$"), tail=3, after=49_990)
    assert _messages(forward) == ["out 49991", "out 49992", "out 49993"]
    combined = read_lines(job=job, flt=parse_filter(q="0{3}$", level="ERROR", stream="stderr"), tail=2)
    assert _messages(combined) == ["err 119000", "err 120000"]


def test_regex_never_matches_across_line_boundaries(job, monkeypatch):
    # Answers, not time: `\Z` is searched row by row (120,000 of them), which under three test
    # workers on two cores can pass the 2 s wall-clock budget and be refused.
    monkeypatch.setattr(pattern_guard, "REGEX_BUDGET_SECONDS", 60.0)
    # "\s" could span the newline between two rows in the joined text: each hit is re-checked alone.
    assert read_lines(job=job, flt=parse_filter(q=r"out 1\sout"), tail=10) == []
    assert _messages(read_lines(job=job, flt=parse_filter(q=r"^system note\Z"), tail=10)) == ["system note"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"level": "LOUD"}, "level must be one of"),
        ({"stream": "stdin"}, "stream must be one of"),
        ({"q": "("}, "Not a valid regular expression"),
        ({"q": "a" * 501}, "Too long a regular expression: more than 500"),
    ],
)
def test_bad_filters_are_refused_clearly(kwargs, message):
    with pytest.raises(LogQueryError, match=message):
        parse_filter(**kwargs)


def test_catastrophic_regex_is_stopped(job, monkeypatch):
    # (a|aa)+$ backtracks exponentially on "aaaa…!"; the budget turns that into a clear error.

    monkeypatch.setattr(pattern_guard, "REGEX_BUDGET_SECONDS", 0.5)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id, start_seq=job.last_seq, line_count=job.line_count).start()
    sink.write_lines("stdout", ["a" * 40 + "!"])
    sink.close()
    job.refresh_from_db()
    with pytest.raises(LogQueryError, match="took longer than"):
        read_lines(job=job, flt=parse_filter(q=r"(a|aa)+$"), tail=10)


def test_log_text_rebuilt_from_rows_equals_the_file(job):
    from jobs.log import logfile

    with open(logfile.path_for(job.job_id), encoding="utf-8") as fh:
        assert "".join(logfile.iter_text(job=job, chunk=7000)) == fh.read()
