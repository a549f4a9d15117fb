"""Relaunch on failed hosts (jobs.services.relaunch_failed_hosts, the job page's button): a new
job with the same command or playbook and parameters, on only the hosts that did not succeed,
recorded like a re-run and decided on by the policies like any job. Real runs against the test
sshd; a server on a closed port is the host that fails."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from jobs.host_states import unsuccessful_hosts
from jobs.models import Job
from jobs.policy.edit import create_policy
from jobs.services import (
    JobInputError,
    PolicyDenied,
    create_fleet_exec_job,
    create_playbook_job,
    create_remote_exec_job,
    relaunch_failed_hosts,
)
from tests.helpers import free_port, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def down(make_server):
    return make_server(name="down1", port=free_port())  # nothing listens: unreachable


@pytest.fixture
def fleet_job(server, down, run_job) -> Job:
    job = create_fleet_exec_job(
        servers=[server, down],
        command="echo fine",
        timeout=42,
        working_dir="/tmp",
        forks=3,
        success="all",
        targets={"servers": [], "tags": ["web"]},
        enqueue=False,
    )
    job = run_job(job)
    assert job.status == "failed", job.error
    return job


def test_a_fleet_command_relaunches_on_its_unreachable_host_only(fleet_job, down, run_job):
    assert unsuccessful_hosts(fleet_job) == ["down1"]
    user = make_user("op", role="Operators")
    new = relaunch_failed_hosts(job=fleet_job, created_by=user, via="web")
    assert list(new.servers.values_list("name", flat=True)) == ["down1"]
    assert new.params == {
        **fleet_job.params,
        "targets": {"servers": ["down1"], "tags": []},  # what was asked is now that server, by name
        "rerun_of": fleet_job.job_id,
        "rerun_hosts": "failed",
    }
    assert new.timeout == 42 and new.created_by == user and new.status == "pending"
    event = AuditEvent.objects.get(action="job.rerun")
    assert event.target == new.job_id and event.via == "web"
    assert event.detail == {"rerun_of": fleet_job.job_id, "hosts": ["down1"]}

    # It is a real job: it runs (and fails again, the port is still closed).
    assert run_job(new).status == "failed"


def test_a_playbook_relaunches_on_its_failed_host_with_the_same_variables(server, down, run_job):
    job = create_playbook_job(
        playbook="ping.yml", servers=[server, down], extra_vars={"who": "ann"}, timeout=90, enqueue=False
    )
    job = run_job(job)
    assert job.status == "failed" and job.result["hosts"]["test"]["ok"] == 1, job.error
    new = relaunch_failed_hosts(job=job, created_by=None, via="cli")
    assert list(new.servers.values_list("name", flat=True)) == ["down1"]
    assert new.params == {**job.params, "rerun_of": job.job_id, "rerun_hosts": "failed"}
    assert new.params["extra_vars"] == {"who": "ann"} and new.timeout == 90


def test_relaunch_is_refused_when_it_makes_no_sense(server, down, fleet_job, run_job):
    one = run_job(create_remote_exec_job(server=server, command="false", enqueue=False))
    with pytest.raises(JobInputError, match="ran on one server: re-run it instead"):
        relaunch_failed_hosts(job=one)
    running = create_fleet_exec_job(servers=[server, down], command="true", enqueue=False)
    with pytest.raises(JobInputError, match="has not ended yet"):
        relaunch_failed_hosts(job=running)
    fine = run_job(create_fleet_exec_job(servers=[server], command="true", enqueue=False))
    assert fine.status == "succeeded"
    with pytest.raises(JobInputError, match="no failed hosts: every server succeeded"):
        relaunch_failed_hosts(job=fine)
    down.delete()
    with pytest.raises(JobInputError, match="its failed servers no longer exist"):
        relaunch_failed_hosts(job=Job.objects.get(pk=fleet_job.pk))
    assert not AuditEvent.objects.filter(action="job.rerun").exists()


def test_the_policies_decide_on_a_relaunch_like_on_any_job(fleet_job):
    create_policy(values={"name": "no-echo", "command_regex": "echo", "decision": "deny"})
    before = Job.objects.count()
    with pytest.raises(PolicyDenied):
        relaunch_failed_hosts(job=fleet_job, created_by=make_user("op", role="Operators"), via="web")
    assert Job.objects.count() == before


def test_the_job_page_button_relaunches_and_viewers_may_not(fleet_job, client):
    client.force_login(make_user("viewer", role="Viewers"))
    page = client.get(f"/jobs/{fleet_job.job_id}/").content.decode()
    assert 'id="relaunch-form"' not in page
    assert client.post(f"/jobs/{fleet_job.job_id}/relaunch-failed/").status_code == 403

    client.force_login(make_user("op", role="Operators"))
    page = client.get(f"/jobs/{fleet_job.job_id}/").content.decode()
    assert 'id="relaunch-form"' in page and "Relaunch on failed hosts (1)" in page
    assert "down1" in page.split('id="relaunch-form"')[1].split("</form>")[0]
    assert client.get(f"/jobs/{fleet_job.job_id}/relaunch-failed/").status_code == 405
    response = client.post(f"/jobs/{fleet_job.job_id}/relaunch-failed/")
    new = Job.objects.exclude(pk=fleet_job.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{new.job_id}/"
    assert list(new.servers.values_list("name", flat=True)) == ["down1"]

    # Both pages link each other; the new one says it ran on the failed hosts.
    new_page = client.get(f"/jobs/{new.job_id}/").content.decode()
    rerun_of = new_page.split('id="job-rerun-of"')[1].split("</dd>")[0]
    assert f'href="/jobs/{fleet_job.job_id}/"' in rerun_of and "on its failed hosts" in rerun_of
    old_page = client.get(f"/jobs/{fleet_job.job_id}/").content.decode()
    assert f'href="/jobs/{new.job_id}/"' in old_page.split('id="job-reruns"')[1]

    # A refusal comes back as a message on the job page.
    create_policy(values={"name": "no-echo", "command_regex": "echo", "decision": "deny"})
    response = client.post(f"/jobs/{fleet_job.job_id}/relaunch-failed/", follow=True)
    assert "Refused by policy" in response.content.decode()
