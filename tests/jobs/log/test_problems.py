"""jobs.log.problems: the last problem lines of a job, the one reader behind the MCP answers'
`problems` and the notifications' last error lines."""

from __future__ import annotations

import pytest

from automation.notify import last_error_lines
from jobs.log.problems import last_problems
from tests.mcp_helpers import finished_job

pytestmark = pytest.mark.django_db(transaction=True)


def _job():
    rows = [("stdout", "INFO", f"out {i}") for i in range(1, 101)]
    rows[9] = ("stderr", "INFO", "first stderr line")  # seq 10
    rows[49] = ("stdout", "WARNING", "a warning")  # seq 50
    rows[69] = ("stdout", "DEBUG", "debug is not a problem")  # seq 70
    rows[79] = ("stderr", "DEBUG", "x" * 5000)  # seq 80: stderr at any level is a problem
    rows[89] = ("system", "ERROR", "Failed: it broke")  # seq 90
    return finished_job(rows)


def test_the_last_problem_lines_in_order_each_cut_with_the_count():
    job = _job()
    found = last_problems(job=job, limit=3, cut=100)
    assert [line["seq"] for line in found.lines] == [50, 80, 90] and found.total == 4
    long = found.lines[1]
    assert long["message"] == "x" * 100 and long["cut"] is True and found.lines[0]["cut"] is False
    assert [line["stream"] for line in found.lines] == ["stdout", "stderr", "system"]

    since = last_problems(job=job, limit=10, cut=100, after=50)
    assert [line["seq"] for line in since.lines] == [80, 90] and since.total == 2
    assert last_problems(job=job, limit=10, cut=100, after=90) == type(since)(lines=[], total=0)


def test_the_webhook_reads_the_same_lines():
    job = _job()
    assert last_error_lines(job, limit=2) == ["x" * 2000, "Failed: it broke"]
    assert last_error_lines(job)[:2] == ["first stderr line", "a warning"]
