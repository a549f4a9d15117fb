"""The sink stores every line exactly as given, whatever it holds: COPY's text format on
PostgreSQL (tabs, backslashes, carriage returns escaped in one joined payload); on SQLite a
row per line for a short entry and one JSON array for a long one (json_each unpacks it). A
message the store or the log file cannot hold as one line (a NUL, a newline inside, a lone
surrogate) is made safe the same way in the rows and in the file, so file line N is always
seq N. Runs on SQLite and again on PostgreSQL (Makefile SCALEOUT_TESTS)."""

from __future__ import annotations

import pytest

from jobs.log import logfile
from jobs.log.lines import NUL_REPLACEMENT
from jobs.log.sink import JobSink, append_system_line
from jobs.models import Job, JobLogLine, JobLogMark
from jobs.services import new_job_id

pytestmark = pytest.mark.django_db(transaction=True)

TRICKY = [
    "plain",
    "tab\tseparated\tcolumns",
    "back\\slash \\n not a newline \\t nor a tab \\\\ two",
    "\\.",  # COPY's end-of-data marker, when it is a whole line
    "\\",
    "ends with a backslash \\",
    "carriage\rreturn kept as sent",
    "",
    "   leading and trailing spaces   ",
    "unicode: café 日本語 🚀 \u2028 \u0085 end",
    "[2024-01-01 00:00:00] ERROR stderr: a line that looks like the file's own prefix",
    "\\N is not NULL",
    '"quoted", \x1b[31mred\x1b[0m, \x01\x7f controls, {"json": [1, "two"]}',
    "null",
    "1",
    "x" * 70_000,
]


def _job() -> Job:
    return Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status="running")


def _stored(job: Job) -> list[tuple]:
    return list(
        JobLogLine.objects.filter(job=job)
        .order_by("seq")
        .values_list("seq", "level", "stream", "message", "host", "task", "event")
    )


def _file_lines(job: Job) -> list[str]:
    return logfile.path_for(job.job_id).read_bytes().decode("utf-8").split("\n")[:-1]


def _assert_file_matches_rows(job: Job) -> None:
    rows = _stored(job)
    lines = _file_lines(job)
    assert len(lines) == len(rows)
    for line, (_seq, level, stream, message, *_tags) in zip(lines, rows, strict=True):
        assert line.endswith(f"] {level} {stream}: {message}"), (line[:200], message[:200])


def test_tricky_messages_are_stored_exactly_with_their_tags_and_marks():
    job = _job()
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", TRICKY)
    sink.write_lines("stderr", ["err\twith tab", "err \\ back"], level="WARNING")
    sink.write_lines(
        "stdout",
        ["tagged\tline"],
        level="DEBUG",
        host="web\t1\\x",
        task="task with \\ and \t tab",
        event="runner_on_ok",
    )
    sink.write("system note\twith tab", level="ERROR")
    sink.close()

    rows = _stored(job)
    expected = [(i + 1, "INFO", "stdout", m, "", "", "") for i, m in enumerate(TRICKY)]
    n = len(TRICKY)
    expected += [
        (n + 1, "WARNING", "stderr", "err\twith tab", "", "", ""),
        (n + 2, "WARNING", "stderr", "err \\ back", "", "", ""),
        (n + 3, "DEBUG", "stdout", "tagged\tline", "web\t1\\x", "task with \\ and \t tab", "runner_on_ok"),
        (n + 4, "ERROR", "system", "system note\twith tab", "", "", ""),
    ]
    assert rows == expected
    marks = list(JobLogMark.objects.filter(job=job).order_by("seq").values_list("seq", "level", "stream"))
    assert marks == [(n + 1, "WARNING", "stderr"), (n + 2, "WARNING", "stderr"), (n + 4, "ERROR", "system")]
    job.refresh_from_db()
    assert (job.line_count, job.last_seq) == (n + 4, n + 4)
    _assert_file_matches_rows(job)


def test_a_long_tagged_stderr_entry_keeps_every_message_its_tags_and_its_marks():
    job = _job()
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", ["first"])
    sink.write_lines("stderr", TRICKY, level="ERROR", host="web\t1", task="a \\ task", event="runner_on_failed")
    sink.close()

    n = len(TRICKY)
    assert _stored(job) == [(1, "INFO", "stdout", "first", "", "", "")] + [
        (i + 2, "ERROR", "stderr", m, "web\t1", "a \\ task", "runner_on_failed") for i, m in enumerate(TRICKY)
    ]
    marks = list(JobLogMark.objects.filter(job=job).order_by("seq").values_list("seq", "level", "stream"))
    assert marks == [(i + 2, "ERROR", "stderr") for i in range(n)]
    _assert_file_matches_rows(job)


def test_nul_newline_and_surrogate_inside_a_message_keep_one_row_per_file_line():
    job = _job()
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", ["before", "nul\x00inside", "two\nlines", "lone \udcff surrogate", "after"])
    sink.close()

    messages = [m for _, _, _, m, *_ in _stored(job)]
    assert messages == [
        "before",
        f"nul{NUL_REPLACEMENT}inside",
        "two",
        "lines",
        "lone \ufffd surrogate",
        "after",
    ]
    assert [s for s, *_ in _stored(job)] == [1, 2, 3, 4, 5, 6]
    _assert_file_matches_rows(job)


def test_many_entries_in_one_batch_get_consecutive_seqs_and_their_own_times():
    job = _job()
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    for i in range(300):  # many producer calls, most of them taken in one batch
        sink.write_lines("stderr" if i % 7 == 0 else "stdout", [f"{i}-a\t", f"{i}-b\\"], block=False)
    sink.close()

    rows = _stored(job)
    assert [r[0] for r in rows] == list(range(1, 601))
    assert [r[3] for r in rows] == [f"{i}-{x}" for i in range(300) for x in ("a\t", "b\\")]
    assert JobLogMark.objects.filter(job=job).count() == 2 * len([i for i in range(300) if i % 7 == 0])
    _assert_file_matches_rows(job)


def test_a_system_line_outside_a_sink_follows_the_stored_lines():
    job = _job()
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", ["one", "two\tthree"])
    sink.close()

    seq = append_system_line(job_pk=job.pk, job_id=job.job_id, message="worker gone \\ tab\t")
    assert seq == 3
    assert _stored(job)[-1] == (3, "ERROR", "system", "worker gone \\ tab\t", "", "", "")
    assert JobLogMark.objects.filter(job=job, seq=3, level="ERROR").exists()
    _assert_file_matches_rows(job)
