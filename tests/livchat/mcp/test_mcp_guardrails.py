"""Guardrails over MCP, through the SDK's in-memory client: a job a policy holds answers at once
with who may approve and a sentence for the agent's human; wait_job waits through the decision
with progress saying so; a refusal is a tool error naming the rule; check_policy asks first.
(The whole path with a real sshd, qcluster and a person approving in Chromium is
tests/web/test_approval_end_to_end.py.)"""

from __future__ import annotations

import threading

import pytest

from jobs.models import Job, JobStatus
from jobs.policy.edit import create_policy
from jobs.services import approve_job, reject_job
from servers.models import Server
from tests.helpers import make_user, wait_for
from tests.mcp_helpers import Progress, call, text

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def prod():
    make_user("someone-admin")  # the role groups exist
    create_policy(values={"name": "no-mkfs", "command_regex": r"\bmkfs", "decision": "deny", "description": "disks"})
    create_policy(
        values={
            "name": "prod-writes",
            "description": "changes on production",
            "command_regex": r"\b(rm|reboot|systemctl (stop|restart))\b",
            "tags": ["prod"],
            "decision": "approve",
            "approvers": "Admins",
        }
    )
    return Server.objects.create(name="web1", host="127.0.0.1", username="u", tags=["prod"])


def test_a_held_command_answers_at_once_with_who_may_approve(prod):
    agent = make_user("agent", role="Operators")
    result = call(agent, "run_command", {"server": "web1", "command": "systemctl restart nginx", "wait_s": 30})
    page = result.structured_content
    assert not result.is_error
    assert page["status"] == "awaiting_approval" and page["lines"] == []
    approval = page["approval"]
    assert approval["rule"] == "prod-writes" and approval["description"] == "changes on production"
    assert approval["approvers"] == "Admins" and approval["approvals_needed"] == 1 and approval["approvals"] == 0
    assert approval["who_can_approve"] == ["someone-admin"]
    assert approval["url"].endswith(f"/jobs/{page['job_id']}/") and approval["via"] == "mcp"
    assert "waits for approval by one person of Admins" in approval["message"]
    assert approval["message"] in text(result) and "wait_job" in page["hint"]
    job = Job.objects.get(job_id=page["job_id"])
    assert job.status == JobStatus.AWAITING_APPROVAL and job.started_at is None and job.line_count == 0


def test_a_refusal_is_a_tool_error_naming_the_rule(prod):
    agent = make_user("agent", role="Operators")
    result = call(agent, "run_command", {"server": "web1", "command": "mkfs.ext4 /dev/sdb"})
    assert result.is_error
    assert "Refused by policy 'no-mkfs' (disks)." in text(result)
    assert not Job.objects.exists()


def test_check_policy_asks_first_and_creates_nothing(prod):
    agent = make_user("agent", role="Viewers")
    held = call(agent, "check_policy", {"command": "reboot", "servers": ["web1"]}).structured_content
    assert held["decision"] == "approve" and held["rule"] == "prod-writes" and held["servers"] == ["web1"]
    assert held["approvers"] == "Admins" and held["approvals"] == 1
    fine = call(agent, "check_policy", {"command": "uptime", "tags": ["prod"]}).structured_content
    assert fine["decision"] == "allow" and fine["rule"] is None
    both = call(agent, "check_policy", {"command": "x", "playbook": "ping.yml", "servers": ["web1"]})
    assert both.is_error and "either command or playbook" in text(both)
    unknown = call(agent, "check_policy", {"command": "x", "servers": ["nope"]})
    assert unknown.is_error and "nope" in text(unknown)
    assert not Job.objects.exists()


def test_wait_job_waits_through_the_approval_with_progress(prod):
    agent, admin = make_user("agent", role="Operators"), make_user("boss")
    job_id = call(agent, "run_command", {"server": "web1", "command": "reboot"}).structured_content["job_id"]
    job = Job.objects.get(job_id=job_id)
    progress = Progress()
    answer = {}

    def waiting():
        answer["result"] = call(agent, "wait_job", {"job_id": job_id, "timeout_s": 60}, progress=progress)

    thread = threading.Thread(target=waiting)
    thread.start()
    wait_for(lambda: progress.seen, message="a progress notification while it waits")
    assert progress.messages[0] == "waiting for approval by Admins, rule prod-writes (0 of 1)"
    reject_job(job=job, user=admin, comment="not now")
    thread.join(30)
    page = answer["result"].structured_content
    assert page["status"] == "rejected" and page["error"] == "Rejected by boss: not now"
    assert page["approval"]["outcome"] == "rejected" and page["approval"]["decided_by"] == "boss"


def test_self_approval_through_the_service_is_refused_and_cancel_withdraws(prod):
    agent = make_user("agent", role="Admins")
    job_id = call(agent, "run_command", {"server": "web1", "command": "reboot"}).structured_content["job_id"]
    job = Job.objects.get(job_id=job_id)
    with pytest.raises(Exception, match="You asked for this job"):
        approve_job(job=job, user=agent)
    cancelled = call(agent, "cancel_job", {"job_id": job_id})
    assert not cancelled.is_error
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
