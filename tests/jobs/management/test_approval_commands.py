"""approve_job, reject_job and check_policy, and what the job-starting commands say about a job
a policy refuses or holds. No SSH: held and refused jobs never run, approved ones are only
queued (on commit, which these tests never reach); the last test runs real processes for the
exit codes a shell sees."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from automation.services import save_template
from jobs.models import ApprovalRequest, Job, JobStatus
from jobs.policy.edit import create_policy
from jobs.services import create_playbook_job, create_remote_exec_job, finish_job
from tests.helpers import make_user
from tests.policy_helpers import house_policies, prod_and_dev_servers

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str, str]:
    """call_command with captured output: (exit code, stdout, stderr + the error's message)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code, message = 0, ""
    except CommandError as exc:  # CommandExit too
        code, message = exc.returncode, getattr(exc, "message", "") or str(exc)
    return code, out.getvalue(), err.getvalue() + message


@pytest.fixture
def fleet():
    return prod_and_dev_servers()


@pytest.fixture
def rules():
    house_policies(playbook_rule="pings")


@pytest.fixture
def boss():
    return make_user("boss", role="Admins")


@pytest.fixture
def op():
    return make_user("op", role="Operators")


def _held_job(server, *, by=None, command="reboot") -> Job:
    job = create_remote_exec_job(server=server, command=command, created_by=by, via="api", enqueue=False)
    assert job.status == JobStatus.AWAITING_APPROVAL
    return job


def _waiting_line(job: Job) -> str:
    return (
        f"Waiting for approval by Admins (policy prod-writes): approve with "
        f"`manage.py approve_job {job.job_id} --user NAME` or at http://localhost:8000/jobs/{job.job_id}/"
    )


# ---- approve_job / reject_job ------------------------------------------------------------------
@pytest.mark.usefixtures("rules")
def test_approve_as_a_person_and_as_the_command_line(fleet, boss, op):
    job = _held_job(fleet["web1"], by=op)
    code, out, _ = run("approve_job", job.job_id, "--user", "boss", "--comment", "go")
    assert code == 0
    assert out.startswith(f"Job {job.job_id} approved: now pending")
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    vote = job.approval.votes.get()
    assert (vote.username, vote.comment) == ("boss", "go")

    other = _held_job(fleet["web1"], by=op)
    code, out, _ = run("approve_job", other.job_id)  # the command line: full access
    assert code == 0 and "now pending" in out
    assert ApprovalRequest.objects.get(job=other).decided_by_name == "(command line)"


@pytest.mark.usefixtures("rules")
def test_two_approvals_needed_print_the_count(fleet, boss, op):
    job = create_playbook_job(playbook="ping.yml", servers=[fleet["web1"]], created_by=op, via="api", enqueue=False)
    code, out, _ = run("approve_job", job.job_id, "--user", "boss")
    assert code == 0
    assert out.strip() == f"Job {job.job_id} still awaiting_approval: 1 of 2 approvals (members of Admins)."
    code, _, err = run("approve_job", job.job_id, "--user", "boss")
    assert code == 1 and "already approved" in err


@pytest.mark.usefixtures("rules")
def test_reject_with_a_comment(fleet, boss, op):
    job = _held_job(fleet["web1"], by=op)
    code, out, _ = run("reject_job", job.job_id, "--user", "boss", "--comment", "not today")
    assert code == 0
    assert out.strip() == f"Job {job.job_id} rejected; it will not run. Rejected by boss: not today"
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.REJECTED, "Rejected by boss: not today")


@pytest.mark.usefixtures("rules")
def test_refusals_conflicts_and_unknowns_exit_1_with_the_reason(fleet, boss, op):
    job = _held_job(fleet["web1"], by=op)
    for args, words in [
        (("approve_job", job.job_id, "--user", "op"), "another person"),
        (("reject_job", job.job_id, "--user", "op"), "another person"),
        (("approve_job", job.job_id, "--user", "nobody"), "No active user named 'nobody'"),
        (("approve_job", "remote_exec-0123abcd"), "No job with id 'remote_exec-0123abcd'"),
        (("approve_job", job.job_id, "--comment", "x" * 2001), "longer than 2000"),
    ]:
        code, _, err = run(*args)
        assert code == 1 and words in err, (args, err)
    make_user("op2", role="Operators")
    code, _, err = run("approve_job", job.job_id, "--user", "op2")
    assert code == 1 and "Only members of Admins" in err
    assert Job.objects.get(pk=job.pk).status == JobStatus.AWAITING_APPROVAL

    done = create_remote_exec_job(server=fleet["dev1"], command="true", enqueue=False)
    finish_job(job=done, status="succeeded", exit_code=0)
    code, _, err = run("reject_job", done.job_id)
    assert code == 1 and "is not waiting for approval" in err

    # The command line may not approve what the command line asked for.
    cli_job = _held_job(fleet["web1"], by=None)
    code, _, err = run("approve_job", cli_job.job_id)
    assert code == 1 and "--user NAME" in err
    assert run("approve_job", cli_job.job_id, "--user", "boss")[0] == 0


# ---- check_policy ----------------------------------------------------------------------------
@pytest.mark.usefixtures("fleet", "rules")
def test_check_policy_answers_with_exit_codes_and_creates_nothing():
    code, out, _ = run("check_policy", "--server", "dev1", "uptime")
    assert code == 0
    assert out.splitlines()[:2] == ["decision: allow", "rule: (none matches: the default decides)"]

    code, out, _ = run("check_policy", "--tag", "dev", "mkfs.ext4 /dev/sdb")
    assert code == 1
    assert out.splitlines()[:2] == ["decision: deny", "rule: no-mkfs (never)"]
    assert "Refused by policy 'no-mkfs'" in out

    code, out, _ = run("check_policy", "--server", "dev1", "--tag", "prod", "systemctl", "reboot")
    assert code == 2
    lines = out.splitlines()
    assert lines[:3] == [
        "decision: approve",
        "rule: prod-writes (risky commands on prod)",
        "approvers: Admins (1 approval needed)",
    ]
    assert "servers: dev1, web1" in lines

    code, out, _ = run("check_policy", "--server", "web1", "--playbook", "ping.yml", "--json")
    assert code == 2
    assert json.loads(out) == {
        "decision": "approve",
        "rule": "pings",
        "description": "",
        "approvers": "Admins",
        "approvals": 2,
        "message": "Policy 'pings' needs approval by 2 people of Admins.",
        "servers": ["web1"],
    }
    assert not Job.objects.exists()


@pytest.mark.usefixtures("fleet")
def test_check_policy_counts_the_user_and_the_surface():
    create_policy(values={"name": "agents", "command_regex": ".", "via": ["mcp"], "decision": "deny"})
    create_policy(values={"name": "ops", "command_regex": "apt", "groups": ["Operators"], "decision": "deny"})
    make_user("op", role="Operators")
    assert run("check_policy", "--server", "web1", "id")[0] == 0
    assert run("check_policy", "--server", "web1", "--via", "mcp", "id")[0] == 1
    assert run("check_policy", "--server", "web1", "apt update")[0] == 0  # the command line is in no group
    code, out, _ = run("check_policy", "--server", "web1", "--user", "op", "apt update")
    assert code == 1 and "rule: ops" in out


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--server", "web1"), "Give a command or --playbook NAME"),
        (("--server", "web1", "--playbook", "ping.yml", "uptime"), "one of the two"),
        (("uptime",), "--server NAME and/or --tag TAG"),
        (("--server", "nope", "uptime"), "Unknown or not permitted server 'nope'"),
        (("--tag", "nope", "uptime"), "tag 'nope'"),
        (("--server", "web1", "--user", "nobody", "uptime"), "No active user named 'nobody'"),
    ],
)
def test_check_policy_bad_input_exits_3(args, words):
    code, _, err = run("check_policy", *args)
    assert code == 3 and words in err, err


# ---- the job-starting commands ----------------------------------------------------------------
@pytest.mark.usefixtures("rules")
@pytest.mark.parametrize("mode", [[], ["--job"], ["--follow"]], ids=["inline", "job", "follow"])
def test_remote_exec_of_a_held_command_says_who_must_approve_and_exits_0(fleet, mode):
    code, out, err = run("remote_exec", "web1", "reboot", *mode)
    assert code == 0
    job = Job.objects.get()
    assert job.status == JobStatus.AWAITING_APPROVAL and job.created_by is None
    assert job.approval.via == "cli" and job.approval.requested_by_name == "(command line)"
    assert _waiting_line(job) in err
    assert out == (f"{job.job_id}\n" if mode == ["--job"] else "")
    if mode == ["--follow"]:
        assert f"Not following: job {job.job_id} runs once approved" in err


@pytest.mark.usefixtures("rules")
def test_many_servers_playbooks_and_templates_are_held_the_same_way(fleet, boss):
    code, out, err = run("remote_exec", "--tag", "prod", "--tag", "dev", "--follow", "rm -rf /tmp/x")
    assert code == 0 and "Waiting for approval by Admins (policy prod-writes)" in err
    code, out, err = run("run_playbook", "ping.yml", "--server", "web1")
    job = Job.objects.get(job_type="playbook")
    assert code == 0 and out.strip() == job.job_id
    who = "Waiting for approval by 2 people of Admins (policy pings)"
    assert f"{who}: approve with `manage.py approve_job {job.job_id} --user NAME`" in err

    save_template(name="restart", kind="command", command="reboot", servers=["web1"], user=boss)
    code, out, err = run("run_template", "restart", "--follow")
    assert code == 0 and "(policy prod-writes)" in err and "Not following" in err
    assert Job.objects.filter(status=JobStatus.AWAITING_APPROVAL).count() == 3


@pytest.mark.usefixtures("rules")
def test_a_refused_command_exits_1_naming_the_rule(fleet, boss):
    for args in (
        ("remote_exec", "dev1", "mkfs.ext4 /dev/sdb"),
        ("remote_exec", "dev1", "mkfs.ext4 /dev/sdb", "--job"),
        ("remote_exec", "--tag", "dev", "--tag", "prod", "mkfs.ext4 /dev/sdb"),
    ):
        code, _, err = run(*args)
        assert code == 1 and "Refused by policy 'no-mkfs' (never)." in err, (args, err)
    create_policy(values={"name": "no-facts", "playbook": "facts.yml", "decision": "deny"})
    code, _, err = run("run_playbook", "facts.yml", "--server", "dev1")
    assert code == 1 and "'no-facts'" in err

    save_template(name="wipe", kind="command", command="mkfs.ext4 /dev/sdb", servers=["dev1"], user=boss)
    code, _, err = run("run_template", "wipe")
    assert code == 1 and "'no-mkfs'" in err
    assert not Job.objects.exists()


# ---- as a shell sees it --------------------------------------------------------------------
@pytest.mark.usefixtures("fleet", "rules")
def test_exit_codes_from_a_shell_without_tracebacks(subprocess_env):
    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=subprocess_env,
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip

    checks = [
        (("check_policy", "--server", "dev1", "uptime"), 0, "decision: allow"),
        (("check_policy", "--server", "dev1", "mkfs /dev/sdb"), 1, "decision: deny"),
        (("check_policy", "--server", "web1", "reboot"), 2, "decision: approve"),
        (("check_policy", "--server", "web1", "--via", "email", "reboot"), 3, "invalid choice"),
        (("check_policy", "--server", "nope", "reboot"), 3, "Unknown or not permitted server"),
        (("approve_job", "remote_exec-0123abcd"), 1, "No job with id"),
        (("remote_exec", "dev1", "mkfs /dev/sdb"), 1, "Refused by policy 'no-mkfs'"),
        (("remote_exec", "web1", "reboot"), 0, "Waiting for approval by Admins (policy prod-writes)"),
    ]
    for args, code, words in checks:
        done = manage(*args)
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        assert words in done.stdout + done.stderr, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
