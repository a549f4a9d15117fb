"""Every run leaves a record, inline ones included; cancels are recorded (issue 10, section 7).

An inline exec (API without use_job, `remote_exec` without --job) is a Job marked inline: created
with its author, run in the caller's process (never queued), awaited, stored line by line. It
takes part in the per-server slots, and the reaper leaves it alone while it heartbeats.
"""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.core.management import call_command
from django.test import Client
from django_q.models import OrmQ

from accounts.models import AuditEvent
from jobs.log import sink as sink_module
from jobs.models import Job, JobLogLine
from jobs.reaper import reap_lost_jobs
from jobs.runners.inline import run_inline_command
from jobs.services import create_remote_exec_job
from jobs.tasks import run_job as run_job_task
from servers.models import Server
from tests.api_helpers import failed_exec_answer, token_api
from tests.helpers import make_user, wait_for
from tests.jobs.management.test_commands import ctrl_c_remote_exec, unique_sleep

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def superuser(transactional_db):
    return make_user("audit-root", role=None, is_staff=True, is_superuser=True)


def _stdout(job: Job) -> list[str]:
    return list(JobLogLine.objects.filter(job=job, stream="stdout").order_by("seq").values_list("message", flat=True))


def test_api_inline_exec_is_an_inline_job_with_author_output_and_exit_code(server, superuser):
    api = token_api(superuser)
    response = api.post(f"/api/servers/{server.name}/exec", {"command": "echo one; echo two >&2; exit 4"})
    assert response.status_code == 200
    # The answer keeps its shape.
    assert response.json() == failed_exec_answer("one\n", "two\n", 4)
    job = Job.objects.get()
    assert job.inline is True and job.job_type == "remote_exec" and job.server_id == server.pk
    assert job.created_by == superuser and job.params["command"] == "echo one; echo two >&2; exit 4"
    assert (job.status, job.exit_code) == ("failed", 4)
    assert job.started_at and job.finished_at and job.heartbeat_at
    assert _stdout(job) == ["one"]
    assert JobLogLine.objects.filter(job=job, stream="stderr", message="two").exists()
    assert JobLogLine.objects.filter(job=job, stream="system", message__startswith="$ echo one").exists()
    assert job.line_count == JobLogLine.objects.filter(job=job).count()
    assert not OrmQ.objects.exists()  # run here, never queued for a worker
    # It is listed and readable like any other job: API, /jobs/, the admin.
    assert [j["job_id"] for j in api.get("/api/jobs/").json()] == [job.job_id]
    client = Client()
    client.force_login(superuser)
    assert job.job_id in client.get("/jobs/").content.decode()
    assert job.job_id in client.get("/admin/jobs/job/").content.decode()
    assert "one" in client.get(f"/api/jobs/{job.job_id}/logs/download").getvalue().decode()


def test_api_inline_exec_that_cannot_connect_is_recorded_too(make_server, superuser):
    dead = make_server(name="dead", port=9)
    out = token_api(superuser).post(f"/api/servers/{dead.name}/exec", {"command": "true"}).json()
    assert out["success"] is False and out["exit_code"] is None and out["error"]
    job = Job.objects.get()
    assert job.inline and job.status == "failed" and job.error == out["error"] and job.created_by == superuser


def test_cli_inline_exec_is_an_inline_job(server):
    out, err = io.StringIO(), io.StringIO()
    call_command("remote_exec", server.name, "echo from-cli", stdout=out, stderr=err)
    assert out.getvalue() == "from-cli\n"
    job = Job.objects.get()
    assert job.inline and job.status == "succeeded" and job.exit_code == 0 and job.created_by is None
    assert _stdout(job) == ["from-cli"]
    assert not OrmQ.objects.exists()


def test_cli_ctrl_c_ends_the_inline_job_cancelled_and_records_who(server):
    code, err = ctrl_c_remote_exec(server.name, unique_sleep())
    assert code == 130, err
    job = Job.objects.get()
    assert job.inline and job.status == "cancelled" and "(Ctrl-C)" in job.error
    assert _stdout(job) == ["started"]
    event = AuditEvent.objects.get(action="job.cancel")
    assert event.target == job.job_id and event.via == "cli" and event.actor is None
    assert event.detail["requested_by"].startswith("cli:")


def test_an_inline_job_can_be_cancelled_from_another_surface_and_the_cancel_is_recorded(server, superuser):
    api = token_api(superuser)
    answer: dict = {}
    thread = threading.Thread(
        target=lambda: answer.update(
            api.post(f"/api/servers/{server.name}/exec", {"command": "echo up; sleep 30"}).json()
        )
    )
    thread.start()
    job = wait_for(lambda: Job.objects.filter(inline=True, line_count__gte=2).first(), message="the inline job")
    assert job.status == "running"
    assert api.post(f"/api/jobs/{job.job_id}/cancel").status_code == 202
    thread.join(30)
    assert answer["success"] is False and answer["error"] == f"Cancelled by {superuser.username}."
    job.refresh_from_db()
    assert job.status == "cancelled"
    event = AuditEvent.objects.get(action="job.cancel")
    assert (event.actor, event.target, event.via) == (superuser, job.job_id, "api")
    assert event.detail == {"requested_by": superuser.username, "status": "running"}
    assert event.at >= job.started_at


def test_cancel_command_is_recorded(server):
    job = create_remote_exec_job(server=server, command="sleep 100", enqueue=False)
    call_command("cancel_job", job.job_id, stdout=io.StringIO())
    event = AuditEvent.objects.get(action="job.cancel")
    assert event.target == job.job_id and event.via == "cli" and event.actor_name == "(command line)"
    assert event.detail["status"] == "pending" and event.detail["requested_by"].startswith("cli:")
    # A refused cancel (already finished) records nothing.
    with pytest.raises(Exception, match="already finished"):
        call_command("cancel_job", job.job_id, stdout=io.StringIO())
    assert AuditEvent.objects.filter(action="job.cancel").count() == 1


def test_inline_job_holds_a_slot_and_frees_it_when_done(server):
    Server.objects.filter(pk=server.pk).update(max_concurrent_jobs=1)
    server.refresh_from_db()
    done = threading.Thread(
        target=run_inline_command, kwargs={"server": server, "command": "echo busy; sleep 2", "timeout": 30}
    )
    done.start()
    wait_for(lambda: Job.objects.filter(inline=True, line_count__gte=2).exists(), message="the inline job")
    queued = create_remote_exec_job(server=server, command="echo queued", enqueue=False)
    # The server's one slot is taken by the inline job: the queued one waits...
    assert run_job_task(queued.job_id) == "pending"
    queued.refresh_from_db()
    assert queued.current_step == "Waiting for a free slot on test (1/1 running)."
    assert not OrmQ.objects.exists()
    done.join(30)
    # ...and is enqueued again as soon as the inline job ends.
    assert [q.task["name"] for q in OrmQ.objects.all()] == [queued.job_id]
    assert run_job_task(queued.job_id) == "succeeded"


def test_reaper_leaves_a_heartbeating_inline_job_alone_and_reaps_a_dead_one(server, monkeypatch):
    monkeypatch.setattr(sink_module, "HEARTBEAT_SECONDS", 0.3)
    dead = create_remote_exec_job(server=server, command="true", inline=True)  # its process died
    Job.objects.filter(pk=dead.pk).update(heartbeat_at=dead.heartbeat_at.replace(year=2000))
    thread = threading.Thread(
        target=run_inline_command, kwargs={"server": server, "command": "echo slow; sleep 3", "timeout": 30}
    )
    thread.start()
    live = wait_for(lambda: Job.objects.filter(inline=True, line_count__gte=1).first(), message="the inline job")
    reaped = []
    while thread.is_alive():
        reaped += reap_lost_jobs(stale_after=1.5)  # far shorter than the run, longer than a heartbeat
        time.sleep(0.3)
    thread.join()
    live.refresh_from_db()
    assert reaped == [dead.job_id]
    assert live.status == "succeeded" and _stdout(live) == ["slow"]
