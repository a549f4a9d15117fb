"""One job through the real queue: API → django-q2 ORM broker → qcluster process → rows."""

from __future__ import annotations

import pytest

from jobs.models import Job, JobLogLine
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_job_runs_once_in_a_real_qcluster_worker(server, staff_user, qcluster, client):
    from accounts.services import create_token

    _, token = create_token(user=staff_user)
    response = client.post(
        f"/api/servers/{server.name}/exec",
        {"command": "for i in 1 2 3; do echo line $i; done; echo oops >&2; exit 4", "use_job": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]

    def finished():
        job = Job.objects.get(job_id=job_id)
        return job if job.is_final else None

    job = wait_for(finished, timeout=60, message=f"{job_id} to finish in the worker")
    assert job.status == "failed" and job.exit_code == 4
    out = list(
        JobLogLine.objects.filter(job=job).exclude(stream="system").order_by("seq").values_list("stream", "message")
    )
    assert out == [("stdout", "line 1"), ("stdout", "line 2"), ("stdout", "line 3"), ("stderr", "oops")]
    assert job.started_at and job.finished_at and job.heartbeat_at
    assert job.line_count == JobLogLine.objects.filter(job=job).count()

    from django_q.models import Task

    task = wait_for(lambda: Task.objects.filter(name=job_id).first(), timeout=20, message="the q2 task record")
    assert Task.objects.filter(name=job_id).count() == 1  # ran exactly once
    assert task.attempt_count == 1
