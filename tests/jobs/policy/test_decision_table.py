"""The guardrails' table: rule × surface × user → decision, every cell asserted on what really
happened (a job queued, held for approval, refused by a rule, or refused by the permission
rule before any policy is asked). Surfaces: web (the server page's form), API (a job exec),
CLI (`remote_exec --job`), MCP (run_command), schedule (saved and run), re-run (the job page's
button), many-server (POST /api/exec on a staging and a prod server). Users: Viewer, Operator,
Admin (signed in), and an Operator's read and run tokens. Nothing here reaches SSH: jobs are
queued for a worker that is not running."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from accounts.services import create_token
from automation import schedules
from automation.models import ScheduledRun
from automation.services import save_template
from jobs.models import Job, JobStatus
from jobs.policy.edit import create_policy
from jobs.services import create_remote_exec_job
from servers.models import Server
from tests.api_helpers import Api
from tests.helpers import make_user
from tests.mcp_helpers import call

pytestmark = pytest.mark.django_db(transaction=True)

RAN, HELD, DENIED, FORBIDDEN = "queued", "held", "denied", "forbidden"
USERS = ("viewer", "operator", "admin", "read_token", "run_token")
COMMANDS = {
    "mkfs /dev/sdb": "no-mkfs: denied everywhere",
    "reboot": "prod-writes: approve on prod",
    "curl -s example.com": "no-curl-by-agents: denied via mcp only",
    "whoami": "operators-not-whoami: denied for the Operators group",
    "uptime": "no rule: the default allows",
}


def expected(*, user: str, command: str, surface: str, prod: bool = True) -> str:
    if user in ("viewer", "read_token"):
        return FORBIDDEN  # the permission rule answers first: no policy is asked
    if command.startswith("mkfs"):
        return DENIED
    if command.startswith("curl") and surface == "mcp":
        return DENIED
    if command == "whoami" and user != "admin":
        return DENIED
    if command == "reboot" and prod:
        return HELD
    return RAN


@pytest.fixture
def house():
    for name in ("viewer", "operator", "admin"):
        make_user(name, role={"viewer": "Viewers", "operator": "Operators", "admin": "Admins"}[name])
    make_user("agent", role="Operators")
    create_policy(values={"name": "no-mkfs", "command_regex": r"\bmkfs", "decision": "deny"})
    create_policy(
        values={"name": "prod-writes", "command_regex": r"\breboot\b", "tags": ["prod"], "decision": "approve",
                "approvers": "Admins"}
    )  # fmt: skip
    create_policy(values={"name": "no-curl-by-agents", "command_regex": "^curl", "via": ["mcp"], "decision": "deny"})
    create_policy(
        values={
            "name": "operators-not-whoami",
            "command_regex": "^whoami$",
            "groups": ["Operators"],
            "decision": "deny",
        }
    )
    return {
        "prod": Server.objects.create(name="prod1", host="127.0.0.1", username="u", tags=["prod"]),
        "staging": Server.objects.create(name="stage1", host="127.0.0.1", username="u", tags=["staging"]),
    }


def _person(user: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="agent" if user.endswith("token") else user)


def _outcome(before: set[int], response_ok: bool) -> str:
    new = list(Job.objects.exclude(pk__in=before))
    if not new:
        return DENIED if response_ok else FORBIDDEN
    (job,) = new
    return {JobStatus.PENDING: RAN, JobStatus.AWAITING_APPROVAL: HELD}[job.status]


def _classify(status: int, text: str, before: set[int]) -> str:
    """An HTTP answer: a refusal naming a policy is DENIED, another 403/404 is FORBIDDEN."""
    if Job.objects.exclude(pk__in=before).exists():
        return _outcome(before, True)
    assert status in (400, 403, 404), (status, text[:300])
    return DENIED if "policy" in text.lower() else FORBIDDEN


def _api(user: str) -> Api:
    if user.endswith("token"):
        _, token = create_token(user=_person(user), scope="read" if user == "read_token" else "run")
        return Api(token)
    api = Api()
    api.client.force_login(_person(user))
    api.client.get("/")  # a CSRF cookie for the session
    return api


def via_web(user: str, command: str, servers) -> str:
    client = Client()
    client.force_login(_person(user))
    before = set(Job.objects.values_list("pk", flat=True))
    response = client.post(f"/servers/{servers['prod'].name}/", {"command": command, "timeout": 60})
    return _classify(response.status_code, response.content.decode(), before)


def via_api(user: str, command: str, servers) -> str:
    before = set(Job.objects.values_list("pk", flat=True))
    api = _api(user)
    if not user.endswith("token"):
        api.headers["HTTP_X_CSRFTOKEN"] = api.client.cookies["csrftoken"].value
    response = api.post(f"/api/servers/{servers['prod'].name}/exec", {"command": command, "use_job": True})
    return _classify(response.status_code, response.content.decode(), before)


def via_mcp(user: str, command: str, servers) -> str:
    before = set(Job.objects.values_list("pk", flat=True))
    scope = {"read_token": "read", "run_token": "run"}.get(user)
    result = call(
        _person(user), "run_command", {"server": servers["prod"].name, "command": command, "wait_s": 0}, scope=scope
    )
    if result.is_error:
        message = result.content[0].text
        assert not Job.objects.exclude(pk__in=before).exists()
        return DENIED if "policy" in message else FORBIDDEN
    return _outcome(before, True)


def via_many(user: str, command: str, servers) -> str:
    before = set(Job.objects.values_list("pk", flat=True))
    api = _api(user)
    if not user.endswith("token"):
        api.headers["HTTP_X_CSRFTOKEN"] = api.client.cookies["csrftoken"].value
    response = api.post("/api/exec", {"command": command, "servers": ["stage1", "prod1"]})
    return _classify(response.status_code, response.content.decode(), before)


SURFACES = {"web": via_web, "api": via_api, "mcp": via_mcp, "many-server": via_many}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("surface", list(SURFACES))
def test_the_table(house, surface, user, command):
    if surface == "web" and user.endswith("token"):
        return  # pages take a session; tokens are the API's and MCP's
    got = SURFACES[surface](user, command, house)
    assert got == expected(user=user, command=command, surface=surface), (surface, user, command, COMMANDS[command])


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_cli(house, command, capsys):
    """The command line runs as no user: group rules do not apply to it, surface rules do."""
    before = set(Job.objects.values_list("pk", flat=True))
    try:
        call_command("remote_exec", "prod1", command, "--job")
        refused = None
    except CommandError as exc:
        refused = str(exc)
    new = list(Job.objects.exclude(pk__in=before))
    if command.startswith("mkfs"):
        assert refused and "no-mkfs" in refused and not new
    elif command == "reboot":
        assert [j.status for j in new] == [JobStatus.AWAITING_APPROVAL] and new[0].approval.via == "cli"
        assert "approve_job" in capsys.readouterr().err
    else:  # curl is an agents' rule (via mcp), whoami a group's: neither stops the command line
        assert refused is None and [j.status for j in new] == [JobStatus.PENDING]


@pytest.mark.parametrize("user", ["operator", "admin"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_rerun_is_asked_again(house, user, command):
    """A re-run goes through the policies as a new job: a rule added since applies to it."""
    old = Job.objects.create(job_id="remote_exec-0000beef", job_type="remote_exec", status="succeeded",
                             params={"command": command, "working_dir": ""}, server=house["prod"])  # fmt: skip
    old.servers.set([house["prod"]])
    client = Client()
    client.force_login(_person(user))
    before = set(Job.objects.values_list("pk", flat=True))
    response = client.post(f"/jobs/{old.job_id}/rerun/", follow=True)
    got = _classify(response.status_code if response.status_code != 200 else 403, response.content.decode(), before)
    assert got == expected(user=user, command=command, surface="web"), (user, command)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_schedule_is_asked_when_saved_and_at_each_run(house, command):
    admin = _person("admin")
    template = save_template(name="t1", kind="command", command=command, servers=["prod1"])
    if command.startswith("mkfs"):
        with pytest.raises(Exception, match="no-mkfs"):
            schedules.save_schedule(template=template, cron="0 3 * * *", user=admin)
        return
    schedule = schedules.save_schedule(template=template, cron="0 3 * * *", user=admin)
    run = ScheduledRun.objects.create(schedule=schedule, scheduled_for=timezone.now())
    job = Job.objects.get(job_id=schedules.start_scheduled_run(run=run))
    want = expected(user="admin", command=command, surface="schedule")
    assert {JobStatus.PENDING: RAN, JobStatus.AWAITING_APPROVAL: HELD}[job.status] == want, command
    # A rule added after the schedule was saved applies at its next run.
    create_policy(values={"name": "late", "command_regex": ".", "via": ["schedule"], "decision": "deny", "position": 0})
    job.status = JobStatus.SUCCEEDED
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    later = ScheduledRun.objects.create(schedule=schedule, scheduled_for=timezone.now() + timezone.timedelta(days=1))
    schedules.start_scheduled_run(run=later)
    later.refresh_from_db()
    assert "late" in later.note and later.job_id is None


def test_the_service_is_the_one_place(house):
    """Every surface above ends in create_job: a direct call is decided the same way."""
    with pytest.raises(Exception, match="no-mkfs"):
        create_remote_exec_job(server=house["staging"], command="mkfs x", created_by=_person("admin"), via="web")
