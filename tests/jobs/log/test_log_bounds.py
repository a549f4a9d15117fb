"""Log reads are bounded in bytes as well as lines: API answers stop at a byte budget and say
where to go on, long lines are cut (and whole by seq), and the regex scan never joins more
than SCAN_BYTES of lines into one string."""

from __future__ import annotations

import tracemalloc

import pytest

from jobs.log import filters, pattern_guard, reader, regex_scan
from jobs.log.sink import JobSink
from jobs.models import Job
from jobs.services import new_job_id
from tests.api_helpers import token_api
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

LONG = 16 * 1024  # 600 of these cut to 8 KiB are more than the 4 MiB an answer may hold
CUT = reader.LINE_CUT_BYTES


def _job(batches: list[tuple[str, list[str]]]) -> Job:
    job = Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status="running")
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    for stream, messages in batches:
        sink.write_lines(stream, messages, level="ERROR" if stream == "stderr" else "INFO")
    sink.close()
    Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0)
    return Job.objects.get(pk=job.pk)


def _long(i: int) -> str:
    return f"{i:05d}" + chr(ord("a") + i % 26) * (LONG - 5)


@pytest.fixture
def api():
    return token_api(make_user("reader", role="Viewers"))


@pytest.fixture
def long_job():
    return _job([("stdout", [_long(i) for i in range(1, 601)])])


def _read_all(api, job: Job, params: dict, cursor_key: str) -> tuple[list[dict], list[dict]]:
    """Follow has_more and the cursor the answer names until the end; (lines, answers)."""
    lines, answers = [], []
    params = dict(params)
    while True:
        response = api.get(f"/api/jobs/{job.job_id}/logs", params)
        assert response.status_code == 200, response.content[:300]
        assert len(response.content) <= reader.ANSWER_BYTES + 200_000, len(response.content)
        body = response.json()
        answers.append(body)
        lines = body["lines"] + lines if cursor_key == "before" else lines + body["lines"]
        if not body["has_more"]:
            return lines, answers
        params[cursor_key] = body[f"next_{cursor_key}"]


def test_a_tail_stops_at_the_byte_budget_and_before_reads_the_rest(api, long_job):
    lines, answers = _read_all(api, long_job, {"tail": 600}, "before")
    assert len(answers) >= 2, "600 cut lines are more than one answer may hold"
    first = answers[0]
    assert 0 < first["count"] < 600 and first["next_before"] == first["lines"][0]["seq"]
    assert first["lines"][-1]["seq"] == 600, "a tail keeps the newest lines"
    assert [line["seq"] for line in lines] == list(range(1, 601))
    for line in lines:
        assert line["truncated"] is True
        assert len(line["message"].encode()) == CUT
        assert line["message"] == _long(line["seq"])[:CUT]


def test_forward_reads_stop_at_the_budget_and_go_on_from_next_after(api, long_job):
    lines, answers = _read_all(api, long_job, {"after": 0, "tail": 10_000}, "after")
    assert len(answers) >= 2 and answers[0]["next_after"] == answers[0]["lines"][-1]["seq"]
    assert answers[-1]["next_after"] is None and answers[-1]["has_more"] is False
    assert [line["seq"] for line in lines] == list(range(1, 601))


def test_a_cut_line_is_whole_by_its_seq_and_short_lines_are_not_cut(api):
    wide = "é" * 6000  # 12,000 bytes: cut on a character boundary
    job = _job([("stdout", ["short", wide, _long(3)])])
    answer = api.get(f"/api/jobs/{job.job_id}/logs", {"tail": 10}).json()
    short, cut, long = answer["lines"]
    assert short["message"] == "short" and short["truncated"] is False
    assert cut["truncated"] is True and wide.startswith(cut["message"])
    assert CUT - 1 <= len(cut["message"].encode()) <= CUT
    assert answer["has_more"] is False and answer["next_before"] is None
    for seq, whole in ((2, wide), (3, _long(3))):
        line = api.get(f"/api/jobs/{job.job_id}/lines/{seq}").json()
        assert line["message"] == whole and line["truncated"] is False and line["seq"] == seq
    assert api.get(f"/api/jobs/{job.job_id}/lines/4").status_code == 404
    detail = api.get(f"/api/jobs/{job.job_id}", {"recent": 3}).json()
    assert [(r["seq"], r["truncated"]) for r in detail["recent_logs"]] == [(3, True), (2, True), (1, False)]


def test_job_detail_recent_lines_stay_within_the_budget(api, long_job):
    response = api.get(f"/api/jobs/{long_job.job_id}", {"recent": 1000})
    assert response.status_code == 200
    recent = response.json()["recent_logs"]
    assert len(response.content) <= reader.ANSWER_BYTES + 200_000
    assert 0 < len(recent) < 600 and recent[0]["seq"] == 600, "newest first, stopped at the budget"


def test_filters_and_regex_are_bounded_too(api):
    job = _job([("stdout", [_long(i) for i in range(1, 301)]), ("stderr", [_long(i) for i in range(301, 601)])])
    by_level, _ = _read_all(api, job, {"tail": 600, "level": "ERROR"}, "before")
    assert [line["seq"] for line in by_level] == list(range(301, 601))
    by_regex, answers = _read_all(api, job, {"tail": 600, "q": "^00[0-5][0-9]{2}[a-z]"}, "before")
    assert [line["seq"] for line in by_regex] == list(range(1, 600)), "every line but 00600"
    assert len(answers) >= 2
    forward, _ = _read_all(api, job, {"after": 0, "tail": 10_000, "q": "^00[0-5][0-9]{2}[a-z]"}, "after")
    assert [line["seq"] for line in forward] == list(range(1, 600))


def test_before_and_after_together_read_a_window(api):
    job = _job([("stdout", [f"l{i}" for i in range(1, 101)])])
    answer = api.get(f"/api/jobs/{job.job_id}/logs", {"after": 10, "before": 15, "tail": 100}).json()
    assert [line["seq"] for line in answer["lines"]] == [11, 12, 13, 14] and answer["has_more"] is False
    answer = api.get(f"/api/jobs/{job.job_id}/logs", {"before": 15, "tail": 3}).json()
    assert [line["seq"] for line in answer["lines"]] == [12, 13, 14] and answer["next_before"] == 12


def test_the_regex_scan_never_joins_more_than_scan_bytes_of_lines(monkeypatch):
    # This checks memory, not time: under tracemalloc, on 2 cores shared with xdist workers,
    # the scan can pass the 2 s wall-clock budget and be refused (the app's right answer).
    monkeypatch.setattr(pattern_guard, "REGEX_BUDGET_SECONDS", 60.0)
    size = 60 * 1024
    n = (3 * regex_scan.SCAN_BYTES) // size  # the whole log is three scan budgets of text
    job = _job([("stdout", [f"{i:06d}" + "x" * (size - 6) for i in range(1, n + 1)] + ["needle"])])
    flt = filters.parse_filter(q="needle|^000001x")
    tracemalloc.start()
    try:
        page = reader.read_page(job=job, flt=flt, tail=10, after=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [line["seq"] for line in page.lines] == [1, n + 1]
    assert peak < 2 * regex_scan.SCAN_BYTES + 8 * 2**20, (
        f"peak {peak / 2**20:.0f} MB for a {n * size / 2**20:.0f} MB log"
    )
