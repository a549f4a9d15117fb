"""The job page for a first-time user (issue 12): live times in the status payload, the
pending reason, the problems view (API filter and count), re-run from the page, wording."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import AuditEvent
from jobs import slots
from jobs.log.sink import JobSink
from jobs.models import STATUS_FIELDS, Job, JobLogLine, JobStatus, status_payload
from jobs.runners import Outcome
from jobs.runners.playbook.runner import failure_summary
from jobs.services import create_playbook_job, create_remote_exec_job
from jobs.tasks import _log_outcome
from servers.models import Server
from servers.services import create_or_update_server
from tests.helpers import free_port, make_user


@pytest.fixture
def offline(transactional_db):
    # Nothing listens on port 9: these jobs never really connect.
    server, _ = create_or_update_server(name="bar1", host="127.0.0.1", port=9, username="deploy")
    return server


@pytest.fixture
def operator_client(client, transactional_db):
    user = make_user("op", role="Operators")
    client.force_login(user)
    client.user = user
    return client


def _job_with_lines(server: Server) -> Job:
    """A finished job whose lines include every kind the problems view is about."""
    job = create_remote_exec_job(server=server, command="make", enqueue=False)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", ["compiling", "linking"])
    sink.write_lines("stderr", ["this is an error"])  # a command's stderr is INFO
    sink.write("disk almost full", level="WARNING", stream="system")
    sink.write("cannot write", level="ERROR", stream="system")
    sink.write_lines("stdout", ["done"])
    sink.close()
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, line_count=sink.line_count, last_seq=sink.last_seq, finished_at=timezone.now()
    )
    return Job.objects.get(pk=job.pk)


# ---- item 4: the status payload carries the job's times, as JSON ---------------------------
def test_status_payload_has_started_and_finished_as_iso_text(offline):
    job = create_remote_exec_job(server=offline, command="true", enqueue=False)
    payload = status_payload(job)
    assert payload["started_at"] is None and payload["finished_at"] is None
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(status="running", started_at=now)
    row = Job.objects.filter(pk=job.pk).values(*STATUS_FIELDS).get()
    payload = status_payload(row)
    assert payload["started_at"] == now.isoformat()
    json.dumps(payload)  # what the socket and the channel layer send


# ---- item 9: a pending job says why it waits ---------------------------------------------------
def test_a_job_waiting_for_a_slot_says_which_server_and_how_full(offline):
    Server.objects.filter(pk=offline.pk).update(max_concurrent_jobs=2)
    for _ in range(2):
        running = create_remote_exec_job(server=offline, command="sleep 9", enqueue=False)
        Job.objects.filter(pk=running.pk).update(status="running", started_at=timezone.now())
    waiting = create_remote_exec_job(server=offline, command="true", enqueue=False)
    assert slots.try_claim(job=waiting) is False
    waiting.refresh_from_db()
    assert waiting.status == "pending"
    assert waiting.current_step == "Waiting for a free slot on bar1 (2/2 running)."
    later = create_remote_exec_job(server=offline, command="true", enqueue=False)
    assert slots.try_claim(job=later) is False
    later.refresh_from_db()
    assert later.current_step == "Waiting for a free slot on bar1 (2/2 running, 1 job queued before this one)."


# ---- item 7: the problems view ---------------------------------------------------------------
def test_problems_filter_shows_warnings_and_stderr_and_the_page_counts_them(offline, operator_client):
    job = _job_with_lines(offline)
    url = f"/api/jobs/{job.job_id}/logs"
    body = operator_client.get(url, {"problems": "true", "tail": 100}).json()
    messages = [line["message"] for line in body["lines"]]
    assert messages == ["this is an error", "disk almost full", "cannot write"]
    # Levels stay as they were: the stderr line is INFO.
    assert [line["level"] for line in body["lines"]] == ["INFO", "WARNING", "ERROR"]
    assert operator_client.get(url, {"level": "WARNING"}).json()["count"] == 2  # the old filter: no stderr
    # With a regular expression, and together with a stream filter: both apply.
    searched = operator_client.get(url, {"problems": "true", "q": "error"}).json()
    assert [line["message"] for line in searched["lines"]] == ["this is an error"]
    system = operator_client.get(url, {"problems": "true", "stream": "system"}).json()
    assert [line["message"] for line in system["lines"]] == ["disk almost full", "cannot write"]
    assert operator_client.get(url, {"problems": "maybe"}).status_code == 422

    page = operator_client.get(f"/jobs/{job.job_id}/").content.decode()
    assert '<b data-lv="problem-count">3</b>' in page
    assert '"problems": 3' in page  # the viewer's boot data: it adds live lines to this
    assert 'data-stream="stderr" aria-pressed="false"' in page


# ---- item 13a: re-run from the job page --------------------------------------------------------
def test_rerun_from_the_job_page_links_both_ways(offline, operator_client):
    original = create_remote_exec_job(server=offline, command="uptime", timeout=77, enqueue=False)
    page = operator_client.get(f"/jobs/{original.job_id}/").content.decode()
    assert f'action="/jobs/{original.job_id}/rerun/"' in page and "data-confirm=" in page

    assert operator_client.get(f"/jobs/{original.job_id}/rerun/").status_code == 405
    response = operator_client.post(f"/jobs/{original.job_id}/rerun/")
    assert response.status_code == 302
    copy = Job.objects.exclude(pk=original.pk).get()
    assert response["Location"] == f"/jobs/{copy.job_id}/"
    assert copy.params == {**original.params, "rerun_of": original.job_id}
    assert copy.timeout == 77 and copy.created_by == operator_client.user
    event = AuditEvent.objects.get(action="job.rerun")
    assert event.target == copy.job_id and event.via == "web" and event.detail["rerun_of"] == original.job_id

    copy_page = operator_client.get(f"/jobs/{copy.job_id}/").content.decode()
    assert "Re-run of" in copy_page and f'href="/jobs/{original.job_id}/"' in copy_page
    original_page = operator_client.get(f"/jobs/{original.job_id}/").content.decode()
    assert 'id="job-reruns"' in original_page and f'href="/jobs/{copy.job_id}/"' in original_page


def test_rerun_is_refused_to_viewers_and_explains_a_gone_server(offline, client):
    job = create_remote_exec_job(server=offline, command="uptime", enqueue=False)
    client.force_login(make_user("viewer", role="Viewers"))
    assert 'id="rerun-form"' not in client.get(f"/jobs/{job.job_id}/").content.decode()
    assert client.post(f"/jobs/{job.job_id}/rerun/").status_code == 403
    assert Job.objects.count() == 1

    client.force_login(make_user("op2", role="Operators"))
    assert client.post("/jobs/remote_exec-00000000/rerun/").status_code == 404
    Job.objects.filter(pk=job.pk).update(server=None)
    job.servers.clear()
    response = client.post(f"/jobs/{job.job_id}/rerun/", follow=True)
    assert response.status_code == 200 and "cannot be re-run: its server no longer exists" in response.content.decode()


# ---- item 13c: one reason per failed host ------------------------------------------------------
def test_failure_summary_gives_each_host_its_own_reason():
    bad = {
        "web1": {"failed": 0, "unreachable": 1},
        "web2": {"failed": 2, "unreachable": 0},
        "web3": {"failed": 1, "unreachable": 0},
    }
    summary = failure_summary(
        bad,
        refused={"web1": "Cannot reach 10.0.0.1:22: connection refused."},
        failures=["web2: install: No package foo", "web2: other: second", "web3: copy: Permission denied"],
    )
    assert summary == (
        "Failed on 3 servers: web1: Cannot reach 10.0.0.1:22: connection refused; "
        "web2: install: No package foo (and 1 more failed task); web3: copy: Permission denied."
    )
    assert failure_summary({"web3": bad["web3"]}, refused={}, failures=[]) == "Failed on web3: 1 failed task."


def test_playbook_on_two_unreachable_servers_names_each_and_tags_its_connecting_lines(
    make_server, run_job, transactional_db
):
    down1 = make_server(name="down1", port=free_port())
    down2 = make_server(name="down2", port=free_port())
    job = run_job(create_playbook_job(playbook="ping.yml", servers=[down1, down2], enqueue=False))
    assert job.status == "failed"
    assert job.error.startswith("No server could be used: down1: Cannot reach "), job.error
    assert "; down2: Cannot reach " in job.error
    connecting = list(JobLogLine.objects.filter(job=job, message__startswith="Connecting to").values("host", "message"))
    assert sorted(row["host"] for row in connecting) == ["down1", "down2"]
    assert all(str(down1.port) in row["message"] for row in connecting if row["host"] == "down1")


def test_a_command_job_tags_its_connecting_line_with_its_server(server, run_job):
    job = run_job(create_remote_exec_job(server=server, command="echo hi", enqueue=False))
    assert job.status == "succeeded"
    assert list(
        JobLogLine.objects.filter(job=job, message__startswith="Connecting to").values_list("host", flat=True)
    ) == [server.name]


# ---- item 14: wording ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error", "said"),
    [
        (JobStatus.FAILED, "Command exited with code 2.", "Failed: Command exited with code 2."),
        (JobStatus.TIMED_OUT, "Timed out after 5 s.", "Timed out after 5 s."),
        (JobStatus.CANCELLED, "Cancelled by ann.", "Cancelled by ann."),
    ],
)
def test_the_last_line_of_a_job_says_its_status_in_words(caplog, status, error, said):
    with caplog.at_level(logging.INFO, logger="jobs.tasks"):
        _log_outcome(Outcome(status=status, exit_code=2, error=error))
    assert [r.getMessage() for r in caplog.records] == [said]
    assert "timed_out" not in said and "Finished" not in said


def test_playbook_form_errors_name_no_raw_field(operator_client):
    response = operator_client.post(
        "/playbooks/", {"playbook": "ping.yml", "servers": [], "extra_vars": "ansible_host=evil"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "&#x27;ansible_host&#x27; is refused" in page and "Choose at least one server." in page
    assert "extra_vars:" not in page and "extra vars: " not in page and "servers: " not in page


def test_ensure_admin_says_shown_once_only_when_it_showed_a_password(transactional_db, monkeypatch):
    monkeypatch.setenv("LIVCHAT_ADMIN_PASSWORD", "a-Long-and-unusual-pass-4821")
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    text = out.getvalue()
    assert "from LIVCHAT_ADMIN_PASSWORD" in text and "shown only once" not in text
    assert "a-Long-and-unusual-pass-4821" not in text

    from django.contrib.auth import get_user_model

    get_user_model().objects.all().delete()
    monkeypatch.delenv("LIVCHAT_ADMIN_PASSWORD")
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    text = out.getvalue()
    assert "shown only once" in text
    password = text.split("password ", 1)[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
