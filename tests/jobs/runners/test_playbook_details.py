"""What each playbook task printed (its msg, stdout and stderr) is kept as detail rows: DEBUG,
tagged with host and task, except a failed task's msg and stderr, which are ERROR. Real
ansible-playbook through ansible-runner against the test sshd, read back through the rows,
the log file, the JSON API and the MCP get_job tool."""

from __future__ import annotations

import pytest

from jobs.models import Job, JobLogLine
from jobs.runners.playbook.events import MAX_DETAIL_LINES
from jobs.services import create_playbook_job
from tests.api_helpers import token_api
from tests.helpers import copy_test_playbook
from tests.mcp_helpers import call, size, text

pytestmark = pytest.mark.django_db(transaction=True)

SEQ_LINES = 2500  # `seq 1 2500` in details.yml: more than one result may keep


@pytest.fixture
def details_job(make_server, server, run_job, operator_dir) -> Job:
    """tests/playbooks/details.yml on two servers; its "failing shell" task fails on web2 only."""
    copy_test_playbook(operator_dir, "details.yml")
    web2 = make_server(name="web2")
    job = run_job(create_playbook_job(playbook="details.yml", servers=[server, web2], enqueue=False))
    assert job.status == "failed", job.error
    return job


def _rows(job: Job, **filters) -> list[tuple[str, str, str]]:
    qs = JobLogLine.objects.filter(job=job, **filters).order_by("seq")
    return list(qs.values_list("level", "stream", "message"))


def test_task_output_is_kept_as_detail_rows_and_failures_as_errors(details_job):
    job = details_job
    for host in ("test", "web2"):
        # A command's multi-line stdout and its stderr: DEBUG rows after the summary row.
        assert _rows(job, host=host, task="multi-line output", event="runner_on_ok") == [
            ("INFO", "stdout", f"ok: [{host}]"),
            ("DEBUG", "stdout", "line one"),
            ("DEBUG", "stdout", "line two"),
            ("DEBUG", "stdout", ""),
            ("DEBUG", "stdout", "line four"),
            ("DEBUG", "stderr", "note one"),
            ("DEBUG", "stderr", "note two"),
        ]
        redraw = _rows(job, host=host, task="redraws and colours", level="DEBUG")
        assert [m for _, _, m in redraw] == ["all steps done", "\x1b[32mgreen text\x1b[0m"]

    # The shell task that succeeded on test: its stderr is a detail, not a problem.
    assert _rows(job, host="test", task="failing shell") == [
        ("INFO", "stdout", "ok: [test]"),
        ("DEBUG", "stdout", "partial output"),
        ("DEBUG", "stderr", "first problem"),
        ("DEBUG", "stderr", "second problem"),
    ]
    # The same task failed on web2: the summary, then its msg and stderr as ERROR rows there.
    failed = _rows(job, host="web2", task="failing shell", event="runner_on_failed")
    fatal = next(i for i, (_, _, m) in enumerate(failed) if m.startswith("fatal: [web2]: FAILED!"))
    assert failed[fatal + 1 :] == [
        ("ERROR", "stdout", "non-zero return code"),
        ("DEBUG", "stdout", "partial output"),
        ("ERROR", "stderr", "first problem"),
        ("ERROR", "stderr", "second problem"),
    ]
    errors_on_stderr = JobLogLine.objects.filter(job=job, level="ERROR", stream="stderr")
    assert set(errors_on_stderr.values_list("host", "task")) == {("web2", "failing shell")}
    assert job.error == "Failed on web2: failing shell: non-zero return code."
    # The debug task's msg is in its summary rows; it is not repeated as a detail.
    assert not _rows(job, task="after the failure", level="DEBUG")

    # A flood is cut per result: the first MAX_DETAIL_LINES lines and one line counting the rest.
    flood = _rows(job, host="test", task="lots of output", level="DEBUG")
    assert len(flood) == MAX_DETAIL_LINES + 1
    assert [m for _, _, m in flood[:3]] == ["1", "2", "3"] and flood[-2][2] == str(MAX_DETAIL_LINES)
    rest = SEQ_LINES - MAX_DETAIL_LINES
    assert flood[-1] == ("DEBUG", "stdout", f"… {rest} more stdout lines not kept ({SEQ_LINES} in all)")

    # Rows and the log file still agree line for line, seqs dense.
    seqs = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, job.last_seq + 1)) and job.line_count == len(seqs)
    with open(job.log_file, encoding="utf-8") as fh:
        log = fh.read().splitlines()
    assert len(log) == len(seqs)
    assert any(line.endswith("] DEBUG stdout: line one") for line in log)
    assert any(line.endswith("] ERROR stderr: first problem") for line in log)


def test_the_api_and_get_job_read_details_by_level(details_job, staff_user):
    job = details_job
    debug_rows = JobLogLine.objects.filter(job=job, level="DEBUG").count()
    assert debug_rows > 2 * MAX_DETAIL_LINES  # two hosts' floods and the smaller outputs

    # JSON API: level is a minimum, so DEBUG (and no level) include the detail rows; INFO hides them.
    api = token_api(staff_user)
    logs = f"/api/jobs/{job.job_id}/logs"
    for params in ({"level": "DEBUG"}, {}):
        body = api.get(logs, {**params, "tail": 10000}).json()
        assert body["count"] == job.line_count, params
        mine = [ln for ln in body["lines"] if ln["task"] == "multi-line output" and ln["host"] == "web2"]
        assert [(ln["level"], ln["stream"], ln["message"]) for ln in mine][-2:] == [
            ("DEBUG", "stderr", "note one"),
            ("DEBUG", "stderr", "note two"),
        ]
        assert {ln["event"] for ln in mine} == {"runner_on_ok"}
    info = api.get(logs, {"level": "INFO", "tail": 10000}).json()
    assert info["count"] == job.line_count - debug_rows
    assert all(ln["level"] != "DEBUG" for ln in info["lines"])
    errors = api.get(logs, {"level": "ERROR", "stream": "stderr"}).json()
    assert [(ln["host"], ln["message"]) for ln in errors["lines"]] == [
        ("web2", "first problem"),
        ("web2", "second problem"),
    ]

    # MCP get_job: level='DEBUG' returns the detail rows, tagged, ANSI removed.
    got = call(staff_user, "get_job", {"job_id": job.job_id, "level": "DEBUG", "grep": "green text"})
    lines = got.structured_content["lines"]
    assert sorted((ln["level"], ln["host"], ln["task"], ln["text"]) for ln in lines) == [  # hosts run in parallel
        ("DEBUG", "test", "redraws and colours", "green text"),
        ("DEBUG", "web2", "redraws and colours", "green text"),
    ]
    errors = call(staff_user, "get_job", {"job_id": job.job_id, "level": "ERROR", "stream": "stderr"})
    assert [(ln["host"], ln["text"]) for ln in errors.structured_content["lines"]] == [
        ("web2", "first problem"),
        ("web2", "second problem"),
    ]
    shown = call(staff_user, "get_job", {"job_id": job.job_id, "level": "INFO", "tail": 10000})
    assert all(ln["level"] != "DEBUG" for ln in shown.structured_content["lines"])

    # The default answer includes the details (they are what the agent asked the task to print)
    # and stays inside its budget: the head and the tail of a 5 000-row playbook, the recap whole.
    default = call(staff_user, "get_job", {"job_id": job.job_id, "tail": 10000})
    page = default.structured_content
    assert size(default) <= 16000
    assert page["omitted"] == job.line_count - len(page["lines"]) > MAX_DETAIL_LINES
    assert page["lines"][0]["seq"] == 1 and "after_seq=" in page["hint"]
    assert page["lines"][-1]["seq"] == job.last_seq and any(ln["level"] == "DEBUG" for ln in page["lines"])
    assert page["recap"]["failed_tasks"] == [
        {
            "host": "web2",
            "task": "failing shell",
            "message": "non-zero return code",
            "stderr": "first problem\nsecond problem",
        }
    ]
    assert "\x1b" not in text(default)
