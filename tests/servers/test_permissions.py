"""The permission table: user × action × surface → allowed, or refused with the reason.

Every surface asks the one rule (servers.permissions); this table asks every surface.
Refused means: 403 with the reason (pages and API), 4403 (websockets), the login page for
anonymous visitors (401 on the API) and for non-staff users in the Django admin.

The world: two servers, `srv-open` (any role) and `srv-blue` (limited to the group Blue),
and three pending jobs that never run: a command on each server and a playbook on both.
Users: viewer, operator and admin are in Blue; `outsider` is an Operator who is not (and is
staff, which grants nothing but the admin); admin is NOT staff; `readtoken` is the
operator's own read-scope API token.
"""

from __future__ import annotations

import asyncio
import html
import json
from dataclasses import dataclass

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts.services import create_token
from jobs.models import Job, JobLogLine
from jobs.services import create_playbook_job, create_remote_exec_job
from servers.models import Server
from tests.api_helpers import Api, session_cookie
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

USERS = ["anon", "norole", "viewer", "operator", "admin", "staff", "superuser", "outsider"]
SEE = {"viewer", "operator", "admin", "superuser", "outsider", "readtoken"}
RUN = {"operator", "admin", "superuser", "outsider"}
SEE_BLUE, RUN_BLUE = SEE - {"outsider"}, RUN - {"outsider"}


@dataclass
class World:
    users: dict
    jobs: dict

    def fill(self, text: str) -> str:
        return text.format(**{name: job.job_id for name, job in self.jobs.items()})


def build_world() -> World:
    blue = Group.objects.create(name="Blue")
    srv_open = Server.objects.create(name="srv-open", host="127.0.0.1", port=9, username="deploy")
    srv_blue = Server.objects.create(name="srv-blue", host="127.0.0.1", port=9, username="deploy")
    srv_blue.allowed_groups.add(blue)
    users = {
        "anon": None,
        "norole": make_user("norole", role=None),
        "viewer": make_user("viewer", role="Viewers"),
        "operator": make_user("operator", role="Operators"),
        "admin": make_user("admin", role="Admins"),  # is_staff False: the admin site stays closed
        "staff": make_user("staff", role=None, is_staff=True),
        "superuser": make_user("root", role=None, is_staff=True, is_superuser=True),
        "outsider": make_user("outsider", role="Operators", is_staff=True),
    }
    for name in ("viewer", "operator", "admin"):
        users[name].groups.add(blue)
    owner = users["superuser"]
    jobs = {  # created in this order: the newest (playbook on both) comes first in lists
        "job_open": create_remote_exec_job(server=srv_open, command="true", created_by=owner, enqueue=False),
        "job_blue": create_remote_exec_job(server=srv_blue, command="true", created_by=owner, enqueue=False),
        "job_both": create_playbook_job(
            playbook="ping.yml", servers=[srv_open, srv_blue], created_by=owner, enqueue=False
        ),
    }
    return World(users=users, jobs=jobs)


@pytest.fixture
def world(db) -> World:
    return build_world()


WORDS = {"view": "see servers and jobs", "run": "run commands and playbooks", "cancel": "cancel jobs"}


def reason(who: str, action: str) -> str:
    """Why `who` may not do `action` (view, run, cancel), as the refusal says it."""
    if who == "readtoken":
        return f"this API token has the 'read' scope and may not {WORDS[action]}"
    if who == "outsider":
        return "server 'srv-blue' is limited to groups outsider is not in"
    role = "Viewers" if action == "view" else "Operators"
    return f"{who} may not {WORDS[action]} (needs the {role} role)"


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str
    allowed: frozenset
    action: str = "view"  # view, run or cancel: the action the route needs
    body: dict | None = None
    ok: int = 200
    hidden: tuple = ()  # what a list must show exactly to users who may see srv-blue
    # A server the user may not use answers like an unknown one (404), so names cannot be probed.
    unknown_to_outsider: bool = False
    marker: str | None = None  # shown only to users in `marker_to`
    marker_to: frozenset = frozenset()


def row(name, method, path, allowed, **kw) -> Row:
    return Row(name, method, path, frozenset(allowed), **kw)


def cases(rows, users):
    return [pytest.param(r, who, id=f"{r.name}:{who}") for r in rows for who in users]


# ---- pages ---------------------------------------------------------------------------------
RUN_FORM = 'id="run-form"'
PLAYBOOK_FORM = 'id="playbook-form"'
CAN_CANCEL = '"can_cancel": true'
PAGE_ROWS = [
    row("dashboard", "get", "/", SEE, hidden=("srv-blue", "{job_blue}", "{job_both}")),
    row("server-list", "get", "/servers/", SEE, hidden=("srv-blue",)),
    row(
        "server-open", "get", "/servers/srv-open/", SEE,
        hidden=("{job_both}",), marker=RUN_FORM, marker_to=frozenset(RUN),
    ),  # fmt: skip
    row("server-blue", "get", "/servers/srv-blue/", SEE_BLUE, marker=RUN_FORM, marker_to=frozenset(RUN_BLUE),
        unknown_to_outsider=True),
    row("job-list", "get", "/jobs/", SEE, hidden=("srv-blue", "{job_blue}", "{job_both}")),
    row("job-open", "get", "/jobs/{job_open}/", SEE, marker=CAN_CANCEL, marker_to=frozenset(RUN)),
    row("job-blue", "get", "/jobs/{job_blue}/", SEE_BLUE, marker=CAN_CANCEL, marker_to=frozenset(RUN_BLUE)),
    row("job-both", "get", "/jobs/{job_both}/", SEE_BLUE),
    row("playbooks", "get", "/playbooks/", SEE, hidden=("{job_both}",), marker=PLAYBOOK_FORM, marker_to=frozenset(RUN)),
    row("playbooks-choices", "get", "/playbooks/", SEE, marker='value="srv-blue"', marker_to=frozenset(RUN_BLUE)),
    row("run-command-open", "post", "/servers/srv-open/", RUN, action="run", body={"command": "true"}, ok=302),
    row("run-command-blue", "post", "/servers/srv-blue/", RUN_BLUE, action="run", body={"command": "true"}, ok=302,
        unknown_to_outsider=True),
    row("server-playbook-open", "post", "/servers/srv-open/", RUN, action="run", ok=302,
        body={"form": "playbook", "pb-playbook": "ping.yml"}),
    row("server-playbook-blue", "post", "/servers/srv-blue/", RUN_BLUE, action="run", ok=302,
        body={"form": "playbook", "pb-playbook": "ping.yml"}, unknown_to_outsider=True),
    row("playbooks-run-open", "post", "/playbooks/", RUN, action="run", ok=302,
        body={"playbook": "ping.yml", "servers": ["srv-open"]}),
    row("playbooks-run-both", "post", "/playbooks/", RUN_BLUE, action="run", ok=302,
        body={"playbook": "ping.yml", "servers": ["srv-open", "srv-blue"]}),
]  # fmt: skip


def assert_list(r: Row, who: str, text: str, world: World) -> None:
    for item in r.hidden:
        shown = world.fill(item) in text
        assert shown == (who in SEE_BLUE), f"{item} shown={shown} to {who}"
    if r.marker:
        assert (r.marker in text) == (who in r.marker_to), f"{r.marker} for {who}"


@pytest.mark.parametrize(("r", "who"), cases(PAGE_ROWS, USERS))
def test_page(r: Row, who: str, world: World, client: Client):
    if world.users[who] is not None:
        client.force_login(world.users[who])
    before = Job.objects.count()
    path = world.fill(r.path)
    response = client.post(path, r.body) if r.method == "post" else client.get(path)
    text = response.content.decode()
    if who in r.allowed:
        assert response.status_code == r.ok, (response.status_code, text[:300])
        assert_list(r, who, text, world)
        if r.method == "post":
            new = Job.objects.exclude(pk__in=[j.pk for j in world.jobs.values()]).get()
            assert response["Location"] == f"/jobs/{new.job_id}/" and new.created_by == world.users[who]
        return
    assert Job.objects.count() == before, "a refused run created a job"
    if who == "anon":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
        return
    if who == "outsider" and r.unknown_to_outsider:
        assert response.status_code == 404, (response.status_code, text[:300])
        return
    assert response.status_code == 403, (response.status_code, text[:300])
    # Every page needs VIEW first: a user without a role is told that, whatever the form.
    assert reason(who, "view" if who in ("norole", "staff") else r.action) in html.unescape(text), text


def test_the_nav_and_admin_links_follow_roles_not_staff(world: World, client: Client):
    client.force_login(world.users["admin"])  # every role, not staff
    text = client.get("/servers/srv-open/").content.decode()
    assert 'href="/jobs/"' in text and 'href="/admin/"' not in text and "Edit in admin" not in text
    client.force_login(world.users["outsider"])  # staff, Operator without the server change permission
    text = client.get("/servers/srv-open/").content.decode()
    assert 'href="/admin/"' in text and "Edit in admin" not in text


# ---- JSON API ------------------------------------------------------------------------------
EXEC_JOB = {"command": "true", "use_job": True}
API_ROWS = [
    row("jobs", "get", "/api/jobs/", SEE, hidden=("{job_blue}", "{job_both}")),
    row("job-open", "get", "/api/jobs/{job_open}", SEE),
    row("job-blue", "get", "/api/jobs/{job_blue}", SEE_BLUE),
    row("job-both", "get", "/api/jobs/{job_both}", SEE_BLUE),
    row("logs-open", "get", "/api/jobs/{job_open}/logs", SEE),
    row("logs-blue", "get", "/api/jobs/{job_blue}/logs", SEE_BLUE),
    row("download-open", "get", "/api/jobs/{job_open}/logs/download", SEE),
    row("download-blue", "get", "/api/jobs/{job_blue}/logs/download", SEE_BLUE),
    row("cancel-open", "post", "/api/jobs/{job_open}/cancel", RUN, action="cancel", ok=202),
    row("cancel-blue", "post", "/api/jobs/{job_blue}/cancel", RUN_BLUE, action="cancel", ok=202),
    row("exec-job-open", "post", "/api/servers/srv-open/exec", RUN, action="run", body=EXEC_JOB, ok=202),
    row("exec-job-blue", "post", "/api/servers/srv-blue/exec", RUN_BLUE, action="run", body=EXEC_JOB, ok=202,
        unknown_to_outsider=True),
    row("playbooks", "get", "/api/playbooks/", SEE),
    row("playbook-run-open", "post", "/api/playbooks/run", RUN, action="run", ok=202,
        body={"playbook": "ping.yml", "servers": ["srv-open"]}),
    row("playbook-run-both", "post", "/api/playbooks/run", RUN_BLUE, action="run", ok=202,
        body={"playbook": "ping.yml", "servers": ["srv-open", "srv-blue"]}, unknown_to_outsider=True),
    row("servers", "get", "/api/servers/", SEE, hidden=("srv-blue",)),
    row("server-open", "get", "/api/servers/srv-open", SEE),
    row("server-blue", "get", "/api/servers/srv-blue", SEE_BLUE, unknown_to_outsider=True),
]  # fmt: skip


def api_for(world: World, who: str) -> Api:
    if who == "anon":
        return Api()
    if who == "readtoken":
        return Api(create_token(user=world.users["operator"], scope="read")[1])
    return Api(create_token(user=world.users[who])[1])


@pytest.mark.parametrize(("r", "who"), cases(API_ROWS, [*USERS, "readtoken"]))
def test_api(r: Row, who: str, world: World):
    for job in world.jobs.values():  # one stored line each (rows only: the download rebuilds the text)
        JobLogLine.objects.create(job=job, seq=1, ts=timezone.now(), message=f"line of {job.job_id}")
        Job.objects.filter(pk=job.pk).update(last_seq=1, line_count=1)
    api = api_for(world, who)
    before = Job.objects.count()
    path = world.fill(r.path)
    response = api.post(path, r.body) if r.method == "post" else api.get(path)
    text = b"".join(response.streaming_content if response.streaming else [response.content]).decode()
    if who in r.allowed:
        assert response.status_code == r.ok, (response.status_code, text[:300])
        assert_list(r, who, text, world)
        if "download" in r.name:
            assert world.fill("line of {job_open}" if "open" in r.name else "line of {job_blue}") in text
        return
    assert Job.objects.filter(inline=False).count() == before, "a refused run created a job"
    assert Job.objects.filter(status="cancelled").count() == 0, "a refused cancel cancelled"
    if who == "anon":
        assert response.status_code == 401, (response.status_code, text[:300])
        return
    if who == "outsider" and r.unknown_to_outsider:  # the same answer as for a name that does not exist
        assert response.status_code == 404 and json.loads(text) == {"error": "No server named 'srv-blue'."}, text
        return
    assert response.status_code == 403, (response.status_code, text[:300])
    body = json.loads(text)
    assert set(body) == {"error"} and reason(who, r.action) in body["error"], body


@pytest.mark.django_db(transaction=True)  # an inline run is a job too: its sink thread writes rows
def test_inline_exec():
    world = build_world()
    for who in [*USERS, "readtoken"]:
        for server, allowed in (("srv-open", RUN), ("srv-blue", RUN_BLUE)):
            response = api_for(world, who).post(f"/api/servers/{server}/exec", {"command": "true"})
            if who in allowed:  # nothing listens on port 9: an answer at once, success false
                assert response.status_code == 200 and response.json()["success"] is False, (who, response.content)
            elif who == "anon":
                assert response.status_code == 401
            elif who == "outsider":  # srv-blue is not one of theirs: it answers like an unknown name
                assert response.status_code == 404 and response.json() == {"error": f"No server named {server!r}."}
            else:
                assert response.status_code == 403 and reason(who, "run") in response.json()["error"], who
    assert Job.objects.filter(inline=True).count() == len(RUN) + len(RUN_BLUE)  # only the allowed ones ran


# ---- Django admin --------------------------------------------------------------------------
STAFF = {"staff", "superuser", "outsider"}  # the admin is closed to everyone else (login page)
# path, body, outcome for staff / superuser / outsider: new (a job was started), 403, 200, gone
ADMIN_ROWS = [
    ("rerun-open", "/admin/jobs/job/{pk_open}/rerun/", {}, ("403", "new", "new")),
    ("rerun-blue", "/admin/jobs/job/{pk_blue}/rerun/", {}, ("403", "new", "403")),
    ("action-rerun-open", "/admin/jobs/job/", {"action": "rerun", "_selected_action": "{pk_open}"},
     ("403", "new", "new")),
    ("action-rerun-blue", "/admin/jobs/job/", {"action": "rerun", "_selected_action": "{pk_blue}"},
     ("403", "new", "gone")),
    ("changelist", "/admin/jobs/job/", None, ("403", "200", "200")),
    ("change-blue", "/admin/jobs/job/{pk_blue}/change/", None, ("403", "200", "gone")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "path", "body", "outcomes", "who"),
    [pytest.param(*r, who, id=f"{r[0]}:{who}") for r in ADMIN_ROWS for who in USERS],
)
def test_admin(name, path, body, outcomes, who, world: World, client: Client):
    if world.users[who] is not None:
        client.force_login(world.users[who])
    pks = {"pk_open": world.jobs["job_open"].pk, "pk_blue": world.jobs["job_blue"].pk}
    path = path.format(**pks)
    before = Job.objects.count()
    data = {k: v.format(**pks) for k, v in (body or {}).items()}
    response = client.get(path) if body is None else client.post(path, data)
    outcome = dict(zip(["staff", "superuser", "outsider"], outcomes, strict=True)).get(who, "login")
    if outcome != "new":
        assert Job.objects.count() == before, "a refused re-run started a job"
    if outcome == "login":
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    elif outcome == "new":
        new = Job.objects.exclude(pk__in=pks.values()).exclude(pk=world.jobs["job_both"].pk).get()
        assert response.status_code == 302 and response["Location"] == f"/jobs/{new.job_id}/"
        assert new.created_by == world.users[who]
    elif outcome == "403":
        assert response.status_code == 403
        if who == "outsider":
            assert reason(who, "run") in html.unescape(response.content.decode())
    elif outcome == "gone":  # not in the user's queryset: like a job that does not exist
        assert response.status_code == 302 and response["Location"].startswith("/admin")
    elif name == "changelist":
        text = response.content.decode()
        assert response.status_code == 200 and world.jobs["job_open"].job_id in text
        assert (world.jobs["job_blue"].job_id in text) == (who == "superuser")
        assert ("srv-blue" in text) == (who == "superuser")  # not even in the server filter
    else:  # the embedded viewer of a job the superuser may cancel
        text = response.content.decode()
        assert response.status_code == 200 and world.jobs["job_blue"].job_id in text and CAN_CANCEL in text


# ---- websockets ----------------------------------------------------------------------------
async def _socket(path: str, cookie: str | None, until_job: str | None = None) -> tuple[int | str, list[dict]]:
    """How a socket ends: its close code, or "open" with the messages received first (the
    dashboard: until the status of `until_job`, sent after those of newer jobs)."""
    from livchat.asgi import application

    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await comm.connect(timeout=20)
    if not connected:
        return code, []
    messages = []
    try:
        while True:
            out = await comm.receive_output(timeout=20)
            if out["type"] == "websocket.close":
                return out.get("code"), messages
            messages.append(json.loads(out["text"]))
            if messages[-1]["type"] == "error":
                continue  # the close that follows says how it ended
            if until_job is None or messages[-1].get("job_id") == until_job:
                return "open", messages
    finally:
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", USERS)
def test_websockets(who: str):
    world = build_world()
    user = world.users[who]
    cookie = None if user is None else session_cookie(user)
    refused = 4401 if who == "anon" else 4403

    def sees(job: str, allowed: set) -> None:
        code, messages = asyncio.run(_socket(world.fill(f"/ws/jobs/{{{job}}}/"), cookie))
        if who in allowed:
            assert code == "open" and messages[0]["type"] == "status", (code, messages)
        else:
            assert code == refused, (code, messages)
            if who == "outsider":  # refused once the job is known: the reason comes first
                assert reason(who, "view") in messages[0]["error"]

    sees("job_open", SEE)
    sees("job_blue", SEE_BLUE)
    sees("job_both", SEE_BLUE)
    code, messages = asyncio.run(_socket("/ws/jobs/", cookie, until_job=world.jobs["job_open"].job_id))
    if who not in SEE:
        assert code == refused, (code, messages)
        return
    assert code == "open", (code, messages)
    reported = {m["job_id"] for m in messages if m["type"] == "status"}
    blue = {world.jobs["job_blue"].job_id, world.jobs["job_both"].job_id}
    assert world.jobs["job_open"].job_id in reported
    assert (blue <= reported) if who in SEE_BLUE else not (blue & reported), (who, reported)
