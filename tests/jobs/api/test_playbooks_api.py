"""The playbooks API: list, run (202 + job), and every refusal as a 4xx JSON error.

Needs `playbooks_router` from jobs/api_playbooks.py mounted at /api/playbooks/ in livchat/api.py.
"""

from __future__ import annotations

import pytest

from jobs.models import Job
from tests.api_helpers import assert_error, token_api
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(transactional_db):
    return token_api(make_user("api-staff", is_staff=True))


def test_list_playbooks(api):
    response = api.get("/api/playbooks/")
    assert response.status_code == 200
    found = {p["name"]: p for p in response.json()}
    assert {"ping.yml", "facts.yml", "disk_usage.yml", "uptime.yml", "base_setup.yml"} <= set(found)
    assert found["ping.yml"]["source"] == "builtin"
    assert found["ping.yml"]["description"].startswith("Check that Ansible")


def test_run_answers_202_with_the_job(api, server, monkeypatch):
    monkeypatch.setattr("jobs.services.enqueue_job", lambda **kw: None)  # no worker here: only the answer
    response = api.post(
        "/api/playbooks/run",
        {"playbook": "ping.yml", "servers": ["test"], "extra_vars": {"greeting": "hi"}, "timeout": 90},
    )
    assert response.status_code == 202, response.content
    body = response.json()
    job = Job.objects.get(job_id=body["job_id"])
    assert body["status"] == "pending" and body["urls"]["logs"] == f"/api/jobs/{job.job_id}/logs"
    assert job.job_type == "playbook" and job.timeout == 90
    assert job.params == {"playbook": "ping.yml", "extra_vars": {"greeting": "hi"}, "check": False}
    assert [s.name for s in job.servers.all()] == ["test"]
    assert job.created_by is not None and job.created_by.username == "api-staff"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"playbook": "../../etc/passwd.yml", "servers": ["test"]}, 400, "Invalid playbook name"),
        ({"playbook": "..%2f..%2fsettings.yml", "servers": ["test"]}, 400, "Invalid playbook name"),
        ({"playbook": "nope.yml", "servers": ["test"]}, 400, "No playbook named 'nope.yml'"),
        ({"playbook": "ping.yml", "servers": ["ghost"]}, 404, "No server named 'ghost'."),
        ({"playbook": "ping.yml", "servers": ["test"], "extra_vars": {"ansible_host": "x"}}, 400, "ansible_"),
        ({"playbook": "ping.yml", "servers": []}, 422, "servers"),
        ({"playbook": "ping.yml", "servers": ["test"], "timeout": 0}, 422, "timeout"),
        ({"playbook": "ping.yml", "servers": ["test"], "extra": 1}, 422, "extra"),
    ],
)
def test_run_refusals(api, server, body, status, message):
    text = assert_error(api.post("/api/playbooks/run", body), status)
    assert message in text
    assert not Job.objects.exists()


def test_run_needs_authentication(server):
    from tests.api_helpers import Api

    assert_error(Api().post("/api/playbooks/run", {"playbook": "ping.yml", "servers": ["test"]}), 401)
