"""Issue 24, item 10: deleting a server in the app. The confirmation says what happens to its
jobs (they stay, with their logs, without a server), its templates and its credential; the
deletion is an audit event; a server with a running job is not deleted."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from automation.models import JobTemplate
from jobs.models import Job, JobStatus
from jobs.services import create_remote_exec_job
from servers.models import Credential, Server
from tests.helpers import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client):
    user = make_user("del-admin", role="Admins")
    client.force_login(user)
    return user


def finished_jobs(server, count: int) -> list[Job]:
    jobs = [create_remote_exec_job(server=server, command=f"echo {i}", enqueue=False) for i in range(count)]
    Job.objects.filter(pk__in=[j.pk for j in jobs]).update(status=JobStatus.SUCCEEDED, exit_code=0)
    return jobs


def test_the_confirmation_names_what_happens_and_the_jobs_stay(client, admin, make_server):
    server = make_server("gone-1")
    jobs = finished_jobs(server, 3)
    template = JobTemplate.objects.create(name="uses-gone", command="uptime")
    template.servers.add(server)
    credential_pk = server.credential_id

    page = client.get("/servers/gone-1/delete/").content.decode()
    assert "Its 3 jobs and their logs stay, without a server" in page
    assert "1 template aimed at it loses it as a target" in page and "uses-gone" in page
    assert "is deleted too" in page and 'id="confirm-delete-button"' in page
    assert Server.objects.filter(name="gone-1").exists()  # asking deletes nothing
    # A POST without the confirmation is the same question.
    assert client.post("/servers/gone-1/delete/").status_code == 200 and Server.objects.filter(pk=server.pk).exists()

    response = client.post("/servers/gone-1/delete/", {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == "/servers/"
    assert not Server.objects.filter(pk=server.pk).exists()
    assert not Credential.objects.filter(pk=credential_pk).exists()
    kept = Job.objects.filter(pk__in=[j.pk for j in jobs])
    assert kept.count() == 3 and all(j.server_id is None for j in kept)
    assert list(template.servers.all()) == []
    event = AuditEvent.objects.get(action="server.delete", target="gone-1")
    assert event.via == "web" and event.actor == admin and event.detail["jobs"] == 3
    listing = client.get("/servers/").content.decode()
    assert "Deleted server gone-1. Its 3 jobs and their logs stay, without a server." in listing
    assert client.get(f"/jobs/{jobs[0].job_id}/").status_code == 200


def test_a_shared_credential_stays(client, admin, make_server):
    first = make_server("share-1")
    second = make_server("share-2")
    Server.objects.filter(pk=second.pk).update(credential=first.credential)
    assert "stays: other servers use it" in client.get("/servers/share-1/delete/").content.decode()
    client.post("/servers/share-1/delete/", {"confirm": "yes"})
    assert Credential.objects.filter(pk=first.credential_id).exists()


def test_a_server_with_a_running_job_is_not_deleted(client, admin, make_server):
    server = make_server("busy-1")
    job = create_remote_exec_job(server=server, command="sleep 100", enqueue=False)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    page = client.get("/servers/busy-1/delete/").content.decode()
    assert "still running or waiting for approval" in page
    response = client.post("/servers/busy-1/delete/", {"confirm": "yes"})
    assert response.status_code == 409 and "cancel or finish them first" in response.content.decode()
    assert Server.objects.filter(pk=server.pk).exists()


@pytest.mark.parametrize("role", ["Viewers", "Operators"])
def test_only_server_managers_delete(client, make_server, role):
    make_server("keep-1")
    client.force_login(make_user(f"del-{role}", role=role))
    assert client.get("/servers/keep-1/delete/").status_code == 403
    assert client.post("/servers/keep-1/delete/", {"confirm": "yes"}).status_code == 403
    assert Server.objects.filter(name="keep-1").exists()
    assert 'id="delete-server"' not in client.get("/servers/keep-1/").content.decode()


def test_the_server_page_links_delete_and_the_key_hint_to_edit(client, admin, make_server, sshd):
    make_server("pw-only-1", private_key=None, password="secret-pw")
    page = client.get("/servers/pw-only-1/").content.decode()
    assert 'href="/servers/pw-only-1/delete/"' in page
    assert 'Add one on its <a href="/servers/pw-only-1/edit/">Edit page</a>' in page and "in the admin" not in page
