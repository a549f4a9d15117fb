"""Guardrails on the job-starting endpoints and the approvals API: a held job answers 202 with
`status: awaiting_approval` and its approval, a refused one 403 naming the rule; approvers
list, approve and reject held jobs. No SSH: held and refused jobs never run, and approved ones
are only queued (on commit, which these tests never reach)."""

from __future__ import annotations

import pytest

from accounts.services import create_token
from jobs.models import Job, JobStatus
from jobs.policy.edit import create_policy
from jobs.services import create_remote_exec_job, finish_job
from servers.models import Server
from tests.api_helpers import Api, assert_error, token_api
from tests.helpers import make_user
from tests.policy_helpers import house_policies, prod_and_dev_servers

pytestmark = pytest.mark.django_db

HELD_KEYS = {"rule", "description", "approvers", "approvals_needed", "expires_at", "url", "message"}


@pytest.fixture
def fleet():
    prod_and_dev_servers()


@pytest.fixture
def rules():
    house_policies(playbook_rule="deploys")


@pytest.fixture
def op():
    return make_user("op", role="Operators")


@pytest.fixture
def op_api(op):
    return token_api(op)


@pytest.fixture
def boss():
    return make_user("boss", role="Admins")


@pytest.fixture
def boss_api(boss):
    return token_api(boss)


def _held(response) -> dict:
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "awaiting_approval"
    assert set(body["approval"]) >= HELD_KEYS
    job = Job.objects.get(job_id=body["job_id"])
    assert job.status == JobStatus.AWAITING_APPROVAL
    return body


def _template(user, **fields):
    response = token_api(user).post("/api/templates/", {"kind": "command", **fields})
    assert response.status_code == 201, response.content


def _ask(api, command="reboot", **extra):
    return api.post("/api/servers/web1/exec", {"command": command, **extra})


# ---- the job-starting endpoints ----------------------------------------------------------
@pytest.mark.usefixtures("fleet", "rules")
@pytest.mark.parametrize("use_job", [True, False], ids=["job", "inline"])
def test_a_held_exec_answers_202_with_the_approval(op_api, use_job):
    body = _held(_ask(op_api, use_job=use_job))
    approval = body["approval"]
    assert (approval["rule"], approval["description"], approval["approvers"]) == (
        "prod-writes",
        "risky commands on prod",
        "Admins",
    )
    assert approval["approvals_needed"] == 1 and approval["approvals"] == 0
    assert approval["url"].endswith(f"/jobs/{body['job_id']}/")
    assert "prod-writes" in approval["message"] and "Admins" in approval["message"]
    assert (approval["requested_by"], approval["via"]) == ("op", "api")
    assert body["urls"]["page"] == f"/jobs/{body['job_id']}/"
    job = Job.objects.get(job_id=body["job_id"])
    assert job.inline is False and job.params["command"] == "reboot"


@pytest.mark.usefixtures("fleet", "rules")
def test_a_job_that_runs_at_once_carries_no_approval_key(op_api):
    response = op_api.post("/api/servers/dev1/exec", {"command": "reboot", "use_job": True})
    assert response.status_code == 202, response.content
    assert set(response.json()) == {"job_id", "status", "urls"} and response.json()["status"] == "pending"


@pytest.mark.usefixtures("fleet", "rules")
def test_the_other_starting_endpoints_hold_jobs_too(op_api, boss):
    _held(op_api.post("/api/exec", {"command": "rm -rf /tmp/x", "tags": ["prod", "dev"]}))
    body = _held(op_api.post("/api/playbooks/run", {"playbook": "ping.yml", "servers": ["web1"]}))
    assert (body["approval"]["rule"], body["approval"]["approvals_needed"]) == ("deploys", 2)
    _template(boss, name="restart", command="reboot", servers=["web1"])
    body = _held(op_api.post("/api/templates/restart/launch", {}))
    assert body["approval"]["rule"] == "prod-writes"


@pytest.mark.usefixtures("fleet", "rules")
def test_a_refused_job_is_403_naming_the_rule_and_nothing_is_created(op_api, boss):
    for response in (
        _ask(op_api, "mkfs.ext4 /dev/sdb", use_job=True),
        _ask(op_api, "mkfs.ext4 /dev/sdb"),
        op_api.post("/api/exec", {"command": "mkfs -t xfs /dev/sdc", "servers": ["dev1"]}),
    ):
        message = assert_error(response, 403)
        assert "'no-mkfs'" in message and "never" in message, message
    _template(boss, name="wipe", command="mkfs.ext4 /dev/sdb", servers=["dev1"])
    assert "'no-mkfs'" in assert_error(op_api.post("/api/templates/wipe/launch", {}), 403)
    create_policy(values={"name": "no-facts", "playbook": "facts.yml", "decision": "deny"})
    refused = op_api.post("/api/playbooks/run", {"playbook": "facts.yml", "servers": ["dev1"]})
    assert "'no-facts'" in assert_error(refused, 403)
    assert not Job.objects.exists()


# ---- the approvals list ---------------------------------------------------------------------
@pytest.mark.usefixtures("fleet", "rules")
def test_the_list_shows_held_jobs_and_mine_those_one_may_decide(op_api, boss_api):
    command = _held(_ask(op_api, use_job=True))["job_id"]
    playbook = _held(op_api.post("/api/playbooks/run", {"playbook": "ping.yml", "servers": ["web1"],
                                                        "extra_vars": {"a": 1}}))["job_id"]  # fmt: skip
    listed = boss_api.get("/api/approvals/")
    assert listed.status_code == 200, listed.content
    entries = {e["job_id"]: e for e in listed.json()}
    assert set(entries) == {command, playbook}
    entry = entries[command]
    assert (entry["command"], entry["playbook"], entry["servers"]) == ("reboot", None, ["web1"])
    assert (entry["requested_by"], entry["via"], entry["rule"], entry["approvers"]) == (
        "op",
        "api",
        "prod-writes",
        "Admins",
    )
    assert (entry["approvals_needed"], entry["approvals"], entry["votes"], entry["status"]) == (
        1,
        0,
        [],
        "awaiting_approval",
    )
    assert entry["url"].endswith(f"/jobs/{command}/") and entry["expires_at"]
    assert (entries[playbook]["playbook"], entries[playbook]["extra_vars"]) == ("ping.yml", {"a": 1})

    mine = boss_api.get("/api/approvals/", {"mine": "true"}).json()
    assert {e["job_id"] for e in mine} == {command, playbook}
    assert op_api.get("/api/approvals/", {"mine": "true"}).json() == []  # one's own, and not an approver
    assert len(op_api.get("/api/approvals/").json()) == 2  # but they may see them

    boss_api.post(f"/api/jobs/{playbook}/approve", {"comment": "fine"})
    assert [e["job_id"] for e in boss_api.get("/api/approvals/", {"mine": "true"}).json()] == [command]
    boss_api.post(f"/api/jobs/{command}/reject", {"comment": "not now"})
    decided = boss_api.get("/api/approvals/", {"status": "decided"}).json()
    assert [(e["job_id"], e["outcome"], e["status"]) for e in decided] == [(command, "rejected", "rejected")]
    assert decided[0]["votes"][0]["username"] == "boss" and decided[0]["votes"][0]["comment"] == "not now"
    assert {e["job_id"] for e in boss_api.get("/api/approvals/", {"status": "all"}).json()} == {command, playbook}
    assert "status" in assert_error(boss_api.get("/api/approvals/", {"status": "later"}), 422)


# ---- approve and reject ------------------------------------------------------------------------
@pytest.mark.usefixtures("fleet", "rules")
def test_an_admin_approves_and_the_job_is_queued(op_api, boss_api):
    job_id = _held(_ask(op_api, use_job=True))["job_id"]
    response = boss_api.post(f"/api/jobs/{job_id}/approve", {"comment": "go"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["job_id"], body["status"]) == (job_id, "pending")
    assert body["approval"]["outcome"] == "approved" and body["approval"]["decided_by"] == "boss"
    assert body["approval"]["votes"][0]["comment"] == "go"
    assert Job.objects.get(job_id=job_id).status == JobStatus.PENDING
    assert "not waiting for approval" in assert_error(boss_api.post(f"/api/jobs/{job_id}/approve"), 409)


@pytest.mark.usefixtures("fleet", "rules")
def test_two_approvals_needed_and_the_same_person_cannot_approve_twice(op_api, boss_api):
    job_id = _held(op_api.post("/api/playbooks/run", {"playbook": "ping.yml", "servers": ["web1"]}))["job_id"]
    first = boss_api.post(f"/api/jobs/{job_id}/approve")  # no body at all
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "awaiting_approval" and first.json()["approval"]["approvals"] == 1
    assert "already approved" in assert_error(boss_api.post(f"/api/jobs/{job_id}/approve", {}), 409)
    second = token_api(make_user("boss2", role="Admins")).post(f"/api/jobs/{job_id}/approve", {})
    assert second.status_code == 200 and second.json()["status"] == "pending"


@pytest.mark.usefixtures("fleet", "rules")
def test_who_may_not_decide_gets_403(op, op_api, boss):
    job_id = _held(_ask(op_api, use_job=True))["job_id"]
    assert "another person" in assert_error(op_api.post(f"/api/jobs/{job_id}/approve"), 403)
    other_operator = token_api(make_user("op2", role="Operators"))
    assert "Only members of Admins" in assert_error(other_operator.post(f"/api/jobs/{job_id}/reject"), 403)
    _, read_token = create_token(user=boss, name="ro", scope="read")
    assert "'read' scope" in assert_error(Api(read_token).post(f"/api/jobs/{job_id}/approve"), 403)
    # An admin asking for a job cannot approve it either.
    boss_job = _held(_ask(token_api(boss), use_job=True))["job_id"]
    assert "another person" in assert_error(token_api(boss).post(f"/api/jobs/{boss_job}/approve"), 403)
    assert Job.objects.get(job_id=job_id).status == JobStatus.AWAITING_APPROVAL


@pytest.mark.usefixtures("fleet", "rules")
def test_reject_with_a_comment_ends_the_job_with_the_reason(op_api, boss_api):
    job_id = _held(_ask(op_api))["job_id"]
    response = boss_api.post(f"/api/jobs/{job_id}/reject", {"comment": "not during business hours"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "rejected" and body["finished_at"]
    assert body["error"] == "Rejected by boss: not during business hours"
    assert body["approval"]["reason"] == body["error"] and body["approval"]["outcome"] == "rejected"
    assert "not waiting for approval" in assert_error(boss_api.post(f"/api/jobs/{job_id}/reject"), 409)


@pytest.mark.usefixtures("fleet", "rules")
def test_jobs_not_waiting_unknown_ids_and_bad_bodies(op_api, boss_api):
    done = create_remote_exec_job(server=Server.objects.get(name="dev1"), command="true", enqueue=False)
    finish_job(job=done, status="succeeded", exit_code=0)
    assert "not waiting for approval" in assert_error(boss_api.post(f"/api/jobs/{done.job_id}/approve"), 409)
    assert "not waiting for approval" in assert_error(boss_api.post(f"/api/jobs/{done.job_id}/reject"), 409)
    assert "No job with id" in assert_error(boss_api.post("/api/jobs/remote_exec-0123abcd/approve"), 404)
    assert_error(boss_api.post("/api/jobs/../../etc/reject"), 404)
    job_id = _held(_ask(op_api, use_job=True))["job_id"]
    assert "comment" in assert_error(boss_api.post(f"/api/jobs/{job_id}/approve", {"comment": "x" * 2001}), 422)
    assert "why" in assert_error(boss_api.post(f"/api/jobs/{job_id}/approve", {"why": "x"}), 422)
    assert "comment" in assert_error(boss_api.post(f"/api/jobs/{job_id}/reject", {"comment": 5}), 422)
    assert Job.objects.get(job_id=job_id).status == JobStatus.AWAITING_APPROVAL
