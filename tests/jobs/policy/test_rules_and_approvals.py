"""The policy decision and the approval services, without SSH: rules match by command,
playbook, server, tag, group, scope and surface; the first match wins per server and the
strictest over servers; a held job waits, runs after its approvals, or ends rejected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.services import TOKEN_SCOPE_ATTR
from jobs.models import ApprovalRequest, Job, JobStatus, Policy
from jobs.policy.edit import PolicyInputError, create_policy, update_policy
from jobs.policy.rules import PolicyDenied, decide
from jobs.services import (
    ApprovalConflict,
    approve_job,
    create_fleet_exec_job,
    create_playbook_job,
    create_remote_exec_job,
    expire_approvals,
    reject_job,
)
from servers.models import Server
from servers.permissions import NotPermitted
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

RISKY = r"\b(rm|reboot|shutdown|systemctl (stop|restart)|apt(-get)? (remove|purge))\b"


@pytest.fixture
def fleet():
    return {
        "web1": Server.objects.create(name="web1", host="127.0.0.1", username="u", tags=["prod", "web"]),
        "web2": Server.objects.create(name="web2", host="127.0.0.1", username="u", tags=["staging"]),
        "db1": Server.objects.create(name="db1", host="127.0.0.1", username="u", tags=["prod"]),
    }


@pytest.fixture
def house_rules():
    create_policy(values={"name": "no-mkfs", "command_regex": r"\bmkfs", "decision": "deny", "description": "never"})
    create_policy(
        values={
            "name": "prod-writes",
            "command_regex": RISKY,
            "tags": ["prod"],
            "decision": "approve",
            "approvers": "Admins",
        }
    )


def test_no_rule_allows_and_the_first_match_wins(fleet):
    operator = make_user("op", role="Operators")
    assert decide(servers=[fleet["web1"]], user=operator, via="api", command="rm -rf /tmp/x").decision == "allow"
    create_policy(values={"name": "allow-rm-tmp", "command_regex": r"^rm -rf /tmp/", "decision": "allow"})
    create_policy(values={"name": "deny-rm", "command_regex": r"\brm\b", "decision": "deny"})
    assert (
        decide(servers=[fleet["web1"]], user=operator, via="api", command="rm -rf /tmp/x").rule.name == "allow-rm-tmp"
    )
    verdict = decide(servers=[fleet["web1"]], user=operator, via="api", command="rm -rf /var")
    assert (verdict.decision, verdict.rule.name) == ("deny", "deny-rm")
    assert "deny-rm" in verdict.sentence


def test_targets_who_and_surface_narrow_a_rule(fleet, house_rules):
    operator = make_user("op", role="Operators")
    prod, staging = fleet["web1"], fleet["web2"]
    assert decide(servers=[prod], user=operator, via="mcp", command="reboot").decision == "approve"
    assert decide(servers=[staging], user=operator, via="mcp", command="reboot").decision == "allow"
    assert decide(servers=[staging], user=operator, via="mcp", command="mkfs.ext4 /dev/sdb").decision == "deny"
    # The strictest target decides a many-server job.
    assert decide(servers=[staging, prod], user=operator, via="web", command="reboot").decision == "approve"
    create_policy(values={"name": "mcp-only", "command_regex": "uptime", "via": ["mcp"], "decision": "deny"})
    assert decide(servers=[staging], user=operator, via="mcp", command="uptime").decision == "deny"
    assert decide(servers=[staging], user=operator, via="web", command="uptime").decision == "allow"
    create_policy(values={"name": "ops", "command_regex": "whoami", "groups": ["Admins"], "decision": "deny"})
    assert decide(servers=[staging], user=operator, via="web", command="whoami").decision == "allow"
    assert decide(servers=[staging], user=make_user("ad"), via="web", command="whoami").decision == "deny"
    create_policy(values={"name": "tokens", "command_regex": "hostname", "scopes": ["run"], "decision": "deny"})
    assert decide(servers=[staging], user=operator, via="web", command="hostname").decision == "allow"
    setattr(operator, TOKEN_SCOPE_ATTR, "run")
    assert decide(servers=[staging], user=operator, via="api", command="hostname").decision == "deny"


def test_playbook_rules_glob_and_never_match_commands(fleet):
    create_policy(values={"name": "deploys", "playbook": "deploy-*.yml", "decision": "deny"})
    op = make_user("op", role="Operators")
    assert decide(servers=[fleet["web1"]], user=op, via="web", playbook="deploy-web.yml").decision == "deny"
    assert decide(servers=[fleet["web1"]], user=op, via="web", playbook="ping.yml").decision == "allow"
    assert decide(servers=[fleet["web1"]], user=op, via="web", command="deploy-web.yml").decision == "allow"


def test_a_denied_job_is_never_created_and_the_refusal_is_audited(fleet, house_rules):
    op = make_user("op", role="Operators")
    with pytest.raises(PolicyDenied, match="no-mkfs"):
        create_remote_exec_job(server=fleet["web1"], command="mkfs /dev/sdb", created_by=op, via="api", enqueue=False)
    assert isinstance(PolicyDenied.__mro__[1](), NotPermitted)
    assert not Job.objects.exists()
    assert AuditEvent.objects.filter(action="policy.deny", detail__rule="no-mkfs").count() == 1


def test_approve_after_enough_approvals_the_job_is_pending(fleet, house_rules, settings):
    op, admin1, admin2 = make_user("op", role="Operators"), make_user("a1"), make_user("a2")
    update_policy(policy=Policy.objects.get(name="prod-writes"), values={"approvals": 2})
    job = create_fleet_exec_job(servers=[fleet["web1"], fleet["db1"]], command="reboot", created_by=op, via="mcp")
    assert job.status == JobStatus.AWAITING_APPROVAL
    request = ApprovalRequest.objects.get(job=job)
    assert (request.rule_name, request.approvers, request.approvals_needed, request.via) == (
        "prod-writes",
        "Admins",
        2,
        "mcp",
    )
    with pytest.raises(NotPermitted, match="You asked for this job"):
        approve_job(job=job, user=op)
    approve_job(job=job, user=admin1, comment="ok")
    assert Job.objects.get(pk=job.pk).status == JobStatus.AWAITING_APPROVAL
    with pytest.raises(ApprovalConflict):
        approve_job(job=job, user=admin1)
    approve_job(job=job, user=admin2)
    assert Job.objects.get(pk=job.pk).status == JobStatus.PENDING
    with pytest.raises(ApprovalConflict, match="not waiting"):
        reject_job(job=job, user=admin2)
    actions = list(AuditEvent.objects.filter(target=job.job_id).values_list("action", flat=True).order_by("id"))
    assert actions == ["approval.request", "approval.approve", "approval.approve"]


def test_only_approvers_with_run_on_every_target_may_decide(fleet, house_rules):
    op, other_op = make_user("op", role="Operators"), make_user("op2", role="Operators")
    job = create_remote_exec_job(server=fleet["db1"], command="apt-get purge nginx", created_by=op, via="web")
    with pytest.raises(NotPermitted, match="Only members of Admins"):
        approve_job(job=job, user=other_op)
    restricted = make_user("boss")
    from django.contrib.auth.models import Group

    fleet["db1"].allowed_groups.add(Group.objects.create(name="dba"))
    with pytest.raises(NotPermitted, match="limited to groups"):
        approve_job(job=job, user=restricted)
    assert Job.objects.get(pk=job.pk).status == JobStatus.AWAITING_APPROVAL


def test_reject_and_expire_end_rejected_with_the_reason(fleet, house_rules):
    op, admin = make_user("op", role="Operators"), make_user("ad")
    job = create_remote_exec_job(server=fleet["web1"], command="systemctl restart nginx", created_by=op, via="web")
    reject_job(job=job, user=admin, comment="not during the sale")
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.REJECTED, "Rejected by ad: not during the sale")
    late = create_remote_exec_job(server=fleet["web1"], command="reboot", created_by=op, via="web")
    assert expire_approvals() == []
    assert expire_approvals(now=timezone.now() + timedelta(days=2)) == [late.job_id]
    late.refresh_from_db()
    assert late.status == JobStatus.REJECTED and late.error.startswith(
        "Expired: nobody in Admins approved it within 1 day"
    )
    assert late.finished_at is not None


def test_a_playbook_held_by_the_default_setting(fleet, settings):
    settings.POLICY_DEFAULT_DECISION = "approve"
    create_policy(values={"name": "pings", "playbook": "ping*.yml", "decision": "allow"})
    op = make_user("op", role="Operators")
    assert (
        create_playbook_job(playbook="ping.yml", servers=[fleet["web1"]], created_by=op, enqueue=False).status
        == "pending"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "x", "decision": "deny"}, "Give command_regex"),
        ({"name": "x", "command_regex": "(a", "decision": "deny"}, "command_regex is not a valid regular expression"),
        ({"name": "x", "command_regex": "(?:a{1000}){1000}", "decision": "deny"}, "command_regex is too complex"),
        ({"name": "x", "command_regex": "a", "decision": "maybe"}, "decision must be one of"),
        ({"name": "x", "command_regex": "a", "decision": "approve"}, "approvers is required"),
        ({"name": "x", "command_regex": "a", "decision": "approve", "approvers": "Nobody"}, "no group named"),
        (
            {"name": "x", "command_regex": "a", "decision": "approve", "approvers": "Admins", "approvals": 4},
            "approvals",
        ),
        ({"name": "x", "command_regex": "a", "decision": "deny", "via": ["email"]}, "via must list"),
        ({"name": "x", "command_regex": "a", "decision": "deny", "scopes": "admin"}, "scopes must list"),
        ({"name": "", "command_regex": "a", "decision": "deny"}, "name is required"),
        ({"name": "check", "command_regex": "a", "decision": "deny"}, "may not contain"),
        ({"name": "a/b", "command_regex": "a", "decision": "deny"}, "may not contain"),
        ({"name": "x", "command_regex": "a", "decision": "deny", "colour": "red"}, "Unknown field"),
    ],
)
def test_a_bad_rule_is_refused_with_the_reason(values, message):
    make_user("someone")  # makes the role groups
    with pytest.raises(PolicyInputError, match=message):
        create_policy(values=values)
    assert not Policy.objects.exists()


def test_positions_make_room_and_changes_are_checked():
    a = create_policy(values={"name": "a", "command_regex": "a", "decision": "deny"})
    b = create_policy(values={"name": "b", "command_regex": "b", "decision": "deny"})
    c = create_policy(values={"name": "c", "command_regex": "c", "decision": "deny", "position": 0})
    assert [p.name for p in Policy.objects.all()] == ["c", "a", "b"]
    update_policy(policy=b, values={"position": 0})
    assert [p.name for p in Policy.objects.all()] == ["b", "c", "a"]
    with pytest.raises(PolicyInputError, match="already exists"):
        update_policy(policy=a, values={"name": "c"})
    assert c.pk
