"""Jobs over the JSON API: list filters, detail, log queries, download, cancel.

Lines are stored through the real sink (JobSink), or by running a job against the sshd.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import services
from jobs.models import JobLogLine
from jobs.services import create_job, create_remote_exec_job
from tests.api_helpers import assert_error, store_lines, token_api
from tests.bad_input.helpers import JOB_LINES  # the same 156 known lines
from tests.helpers import make_user, wait_running_with_line

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(transactional_db):
    return token_api(make_user("api-staff", is_staff=True))


@pytest.fixture
def job(server):
    """156 lines: 1 system, 150 stdout ('line 1'..'line 150'), then a few of each level."""
    job = create_remote_exec_job(server=server, command="demo", enqueue=False)
    return store_lines(job, JOB_LINES)


def _seqs(response) -> list[int]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["lines"])
    return [line["seq"] for line in body["lines"]]


def _logs(api, job, **params):
    return api.get(f"/api/jobs/{job.job_id}/logs", params)


# ---- list ------------------------------------------------------------------------------
def test_list_filters(api, make_server):
    a, b = make_server(name="srv-a"), make_server(name="srv-b")
    pending = create_remote_exec_job(server=a, command="true", enqueue=False)
    done = create_remote_exec_job(server=b, command="true", enqueue=False)
    services.finish_job(job=done, status="succeeded", exit_code=0)
    playbook = create_job(
        job_type="playbook", servers=[a, b], params={"playbook": "ping.yml"}, timeout=60, enqueue=False
    )

    def ids(**params):
        response = api.get("/api/jobs/", params)
        assert response.status_code == 200, response.content
        return [j["job_id"] for j in response.json()]

    assert ids() == [playbook.job_id, done.job_id, pending.job_id]  # newest first
    assert ids(status="succeeded") == [done.job_id]
    assert ids(status="pending") == [playbook.job_id, pending.job_id]
    assert ids(type="playbook") == [playbook.job_id]
    assert ids(type="remote_exec", server="srv-a") == [pending.job_id]
    assert ids(server="srv-b") == [playbook.job_id, done.job_id]
    assert ids(server="nope") == []
    assert ids(limit=1, offset=1) == [done.job_id]
    first = api.get("/api/jobs/", {"type": "playbook"}).json()[0]
    assert first["servers"] == ["srv-a", "srv-b"] and first["urls"]["logs"] == f"/api/jobs/{playbook.job_id}/logs"
    bad = ({"status": "bogus"}, {"type": "shell"}, {"limit": 0}, {"limit": 501}, {"offset": -1}, {"server": "a\x00b"})
    for params in bad:
        assert assert_error(api.get("/api/jobs/", params), 422).startswith("Invalid input: ")


# ---- detail ----------------------------------------------------------------------------
def test_detail_has_recent_logs_newest_first(api, job):
    body = api.get(f"/api/jobs/{job.job_id}").json()
    assert body["job_id"] == job.job_id and body["status"] == "pending" and body["server"] == "test"
    assert body["line_count"] == 156 and body["last_seq"] == 156
    assert [line["seq"] for line in body["recent_logs"]] == list(range(156, 106, -1))
    assert body["recent_logs"][0]["message"] == "critical: gone" and body["recent_logs"][0]["level"] == "CRITICAL"
    few = api.get(f"/api/jobs/{job.job_id}", {"recent": 3}).json()["recent_logs"]
    assert [line["seq"] for line in few] == [156, 155, 154]
    assert_error(api.get(f"/api/jobs/{job.job_id}", {"recent": 1001}), 422)
    # The detail renders its answer itself (jobs/api/jobs.py): exactly as the API renders the others.
    detail, listing = api.get(f"/api/jobs/{job.job_id}"), api.get("/api/jobs/")
    assert detail["Content-Type"] == listing["Content-Type"]
    assert detail.json()["created_at"] == listing.json()[0]["created_at"]


def test_detail_cost_does_not_grow_with_the_log(api, server):
    small = store_lines(create_remote_exec_job(server=server, command="s", enqueue=False), [("stdout", "INFO", ["x"])])
    big = create_remote_exec_job(server=server, command="b", enqueue=False)
    big = store_lines(big, [("stdout", "INFO", [f"n{i}" for i in range(30_000)])])
    assert api.get("/api/jobs/").status_code == 200  # the token's last_used_at is written once
    counts = []
    for j in (small, big):
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(f"/api/jobs/{j.job_id}").status_code == 200
        counts.append(len(ctx.captured_queries))
        line_queries = [q["sql"] for q in ctx.captured_queries if "joblogline" in q["sql"].lower()]
    assert counts[0] == counts[1]
    assert len(line_queries) == 1 and "LIMIT 50" in line_queries[0]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + line_queries[0])
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
        # The unique (job, seq) index, walked backwards: no scan, no sort of the job's lines.
        assert "INDEX" in plan and "(job_id=?)" in plan and "TEMP B-TREE" not in plan, plan


def test_unknown_job_is_404(api):
    assert assert_error(api.get("/api/jobs/remote_exec-00000000"), 404) == "No job with id 'remote_exec-00000000'."
    for suffix in ("", "/logs", "/logs/download"):
        assert_error(api.get(f"/api/jobs/remote_exec-00000000{suffix}"), 404)
    assert_error(api.post("/api/jobs/remote_exec-00000000/cancel"), 404)


# ---- logs ------------------------------------------------------------------------------
def test_logs_tail(api, job):
    body = _logs(api, job).json()
    assert (body["job_id"], body["last_seq"], body["count"]) == (job.job_id, 156, 100)
    assert [line["seq"] for line in body["lines"]] == list(range(57, 157))
    assert _seqs(_logs(api, job, tail=3)) == [154, 155, 156]
    assert _seqs(_logs(api, job, tail=10000)) == list(range(1, 157))
    line = _logs(api, job, tail=1).json()["lines"][0]
    assert set(line) >= {"seq", "ts", "level", "stream", "message"} and line["stream"] == "system"


def test_logs_level_is_a_minimum(api, job):
    assert _seqs(_logs(api, job, level="WARNING")) == [152, 153, 156]
    assert _seqs(_logs(api, job, level="error")) == [153, 156]
    assert len(_seqs(_logs(api, job, level="DEBUG", tail=10000))) == 156
    assert "level must be one of" in assert_error(_logs(api, job, level="LOUD"), 422)


def test_logs_stream(api, job):
    assert _seqs(_logs(api, job, stream="stderr")) == [152, 153]
    assert _seqs(_logs(api, job, stream="system")) == [1, 154, 156]
    assert "stream must be one of" in assert_error(_logs(api, job, stream="stdin"), 422)


def test_logs_regex(api, job):
    assert _seqs(_logs(api, job, q=r"^line 1\d$")) == list(range(11, 21))
    assert _seqs(_logs(api, job, q="line 15", stream="stdout")) == [16, 151]
    assert _seqs(_logs(api, job, q="boom|gone", level="ERROR")) == [153, 156]
    assert _seqs(_logs(api, job, q=r"^line [12]$", after=1, tail=1)) == [2]
    assert "Not a valid regular expression" in assert_error(_logs(api, job, q="(unclosed"), 400)
    assert_error(_logs(api, job, q="x" * 501), 422)


def test_logs_regex_catastrophic_patterns_answer_and_never_hang(api, job):
    # The `regex` module solves this classic backtracking case at once: no line ends in "a".
    assert _seqs(_logs(api, job, q="(a+)+$")) == []
    # This one really explodes on "aaaa...a!": the search's time budget stops it with a 400
    # (without the budget this request would not return; pytest-timeout would end the test).
    message = assert_error(_logs(api, job, q="(a|aa)+$"), 400)
    assert "took longer" in message and "simpler" in message


def test_logs_after(api, job):
    assert _seqs(_logs(api, job, after=150)) == [151, 152, 153, 154, 155, 156]
    assert _seqs(_logs(api, job, after=150, tail=2)) == [151, 152]
    assert _seqs(_logs(api, job, after=0, tail=2)) == [1, 2]
    assert _seqs(_logs(api, job, after=100, level="ERROR")) == [153, 156]
    assert _seqs(_logs(api, job, after=156)) == []
    assert _seqs(_logs(api, job, after=10**9)) == []


@pytest.mark.parametrize(
    "params",
    [{"tail": 0}, {"tail": -1}, {"tail": 10001}, {"tail": "abc"}, {"after": -1}, {"after": "x"}, {"after": 10**30}],
)
def test_logs_bad_numbers_are_422(api, job, params):
    message = assert_error(_logs(api, job, **params), 422)
    assert next(iter(params)) in message


# ---- download --------------------------------------------------------------------------
def test_download_is_the_exact_log_file(api, job):
    response = api.get(f"/api/jobs/{job.job_id}/logs/download")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert f'filename="{job.job_id}.log"' in response["Content-Disposition"]
    assert response["X-Log-Timezone"] == "UTC"  # the file says which zone its times are in
    body = b"".join(response.streaming_content).decode()
    with open(job.log_file, encoding="utf-8") as fh:
        assert body == fh.read()
    lines = body.splitlines()
    rows = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("level", "stream", "message"))
    assert len(lines) == len(rows) == 156
    for line, (level, stream, message) in zip(lines, rows, strict=True):
        assert line.endswith(f"] {level} {stream}: {message}")


def test_download_of_a_job_without_a_file_is_404(api, server):
    job = create_remote_exec_job(server=server, command="never ran", enqueue=False)
    assert "log file" in assert_error(api.get(f"/api/jobs/{job.job_id}/logs/download"), 404)


@pytest.mark.parametrize(
    "job_part",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "../../etc/passwd",
        "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%252F..%252Fetc%252Fpasswd",
        "..",
        "%2e%2e",
        "remote_exec-00000000%00",
        "%2Fetc%2Fpasswd",
    ],
)
def test_path_traversal_in_job_ids_is_404(api, job, job_part):
    for suffix in ("/logs/download", "/logs", ""):
        response = api.get(f"/api/jobs/{job_part}{suffix}")
        assert_error(response, 404)
        assert b"root:" not in response.content


# ---- cancel ----------------------------------------------------------------------------
def test_cancel_pending_then_finished(api, server):
    job = create_remote_exec_job(server=server, command="sleep 100", enqueue=False)
    response = api.post(f"/api/jobs/{job.job_id}/cancel")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["cancel_requested_at"] is not None
    assert "api-staff" in body["error"]
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finished_at is not None
    message = assert_error(api.post(f"/api/jobs/{job.job_id}/cancel"), 409)
    assert "already finished" in message


def test_cancel_a_running_job_stops_it_on_the_server(api, server, sshd, run_job_in_thread):
    duration = f"{800 + time.monotonic_ns() % 1000}.75"
    job = create_remote_exec_job(server=server, command=f"echo started; sleep {duration}", enqueue=False)
    thread = run_job_in_thread(job)
    wait_running_with_line(job, "started", timeout=30)
    response = api.post(f"/api/jobs/{job.job_id}/cancel")
    assert response.status_code == 202 and response.json()["cancel_requested_at"] is not None
    thread.join(timeout=60)
    job.refresh_from_db()
    assert job.status == "cancelled", job.error
    assert sshd.run_local(f"pgrep -f '[s]leep {duration}' || true").stdout.strip() == ""
    assert "already finished" in assert_error(api.post(f"/api/jobs/{job.job_id}/cancel"), 409)


def test_download_rebuilds_the_log_from_rows_when_the_file_is_elsewhere(api, server, run_job):
    # A web machine without the worker's disk still serves the whole log, from the rows.
    import os

    job = run_job(create_remote_exec_job(server=server, command="echo one; echo two >&2", enqueue=False))
    with open(job.log_file, "rb") as fh:
        original = fh.read()
    os.unlink(job.log_file)
    response = api.get(f"/api/jobs/{job.job_id}/logs/download")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == original
