"""LivChat's own template pages (issue 14, "on every surface: pages"): create and edit a template
with prompts and notifications, add/pause/resume/delete its schedules, delete it. Bad input is a
400 with the message next to its field; only the "manage templates" role may change anything."""

from __future__ import annotations

import re

import pytest
from django_q.models import Schedule

from accounts.models import AuditEvent
from automation.launch import launch_template
from automation.models import JobTemplate, TemplateRun, TemplateSchedule
from automation.services import save_template
from jobs.models import Job
from servers import crypto
from servers.services import create_or_update_server
from tests.helpers import make_user

pytestmark = pytest.mark.django_db
FIRE = Schedule.objects.filter(func="automation.schedules.fire")  # the wake-ups of template schedules


@pytest.fixture
def servers(db):
    return [
        create_or_update_server(name=n, host="127.0.0.1", port=2, tags=tags)[0]
        for n, tags in (("web1", ["web"]), ("db1", ["db"]))
    ]


@pytest.fixture
def admin_client(client, db):
    client.force_login(make_user("tpl-page-admin"))
    return client


def _form(**overrides) -> dict:
    """The POST of the template form: two prompts and a webhook, then blank rows like the page's."""
    data = {
        "name": "upgrade",
        "description": "Upgrade one package",
        "kind": "command",
        "command": "apt-get install -y {{ pkg }} && echo {{ times }}",
        "playbook": "",
        "extra_vars": "",
        "servers": ["web1"],
        "tags": "web, db",
        "timeout": "120",
        "working_dir": "/tmp",
        "notify_on": "failure",
        "webhook_url": "https://hooks.example.com/livchat",
        "webhook_format": "slack",
        "webhook_secret": "s3cret",
        "notify_emails": "ops@example.com, oncall@example.com",
        "prompt_rows": "4",
        "p0_name": "pkg",
        "p0_label": "Package",
        "p0_type": "text",
        "p0_required": "on",
        "p1_name": "times",
        "p1_type": "integer",
        "p1_default": "3",
        "p2_type": "text",
        "p3_type": "text",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _errors(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", m) for m in re.findall(r'<p class="field-error"[^>]*>(.*?)</p>', html, re.S)]


def _field_error(html: str, field: str) -> str:
    found = re.findall(rf'<p class="field-error" data-field="{field}">(.*?)</p>', html, re.S)
    assert found, f"no error shown next to {field!r}: {_errors(html)}"
    return found[0]


def test_create_a_command_template_with_two_prompts_and_a_webhook(admin_client, servers):
    page = admin_client.get("/templates/")
    assert 'href="/templates/new/"' in page.content.decode()
    form = admin_client.get("/templates/new/")
    assert form.status_code == 200 and 'name="p2_name"' in form.content.decode()  # blank rows without JS
    answer = admin_client.post("/templates/new/", _form())
    assert answer.status_code == 302 and answer["Location"] == "/templates/upgrade/"
    t = JobTemplate.objects.get(name="upgrade")
    assert t.kind == "command" and t.command.startswith("apt-get install -y {{ pkg }}")
    assert [p["name"] for p in t.prompts] == ["pkg", "times"]
    assert t.prompts[0]["required"] is True and t.prompts[0]["label"] == "Package"
    assert t.prompts[1]["type"] == "integer" and t.prompts[1]["default"] == 3
    assert [s.name for s in t.servers.all()] == ["web1"] and t.tags == ["web", "db"]
    assert (t.timeout, t.working_dir, t.notify_on) == (120, "/tmp", "failure")
    assert (t.webhook_url, t.webhook_format) == ("https://hooks.example.com/livchat", "slack")
    assert crypto.decrypt(t.webhook_secret_enc) == "s3cret"
    assert t.notify_emails == "ops@example.com, oncall@example.com"
    event = AuditEvent.objects.get(action="template.create")
    assert (event.target, event.via, event.actor_name) == ("upgrade", "web", "tpl-page-admin")
    detail = admin_client.get("/templates/upgrade/").content.decode()
    assert 'href="/templates/upgrade/edit/"' in detail and 'action="/templates/upgrade/delete/"' in detail
    assert "s3cret" not in detail


def test_edit_keeps_the_secret_when_blank_and_can_remove_it(admin_client, servers):
    admin_client.post("/templates/new/", _form())
    edit = admin_client.get("/templates/upgrade/edit/").content.decode()
    assert "s3cret" not in edit and 'value="pkg"' in edit and "a secret is stored" in edit
    answer = admin_client.post(
        "/templates/upgrade/edit/",
        _form(webhook_secret="", command="apt-get install -y {{ pkg }}", p1_name="", p1_default="", notify_on="always"),
    )
    assert answer.status_code == 302, _errors(answer.content.decode())
    t = JobTemplate.objects.get(name="upgrade")
    assert crypto.decrypt(t.webhook_secret_enc) == "s3cret"  # blank kept it
    assert [p["name"] for p in t.prompts] == ["pkg"] and t.notify_on == "always"
    assert AuditEvent.objects.filter(action="template.update", target="upgrade", via="web").count() == 1
    # Renaming moves the page; removing the secret is its own box.
    answer = admin_client.post(
        "/templates/upgrade/edit/",
        _form(
            name="upgrade-pkg",
            webhook_secret="",
            clear_webhook_secret="on",
            command="echo {{ pkg }}",
            p1_name="",
            p1_default="",
        ),
    )
    assert answer["Location"] == "/templates/upgrade-pkg/"
    t.refresh_from_db()
    assert t.name == "upgrade-pkg" and t.webhook_secret_enc == ""


def test_a_playbook_template_from_the_catalog(admin_client, servers):
    answer = admin_client.post(
        "/templates/new/",
        _form(name="pinger", kind="playbook", command="", playbook="ping.yml", extra_vars='{"greeting": "hi"}'),
    )
    assert answer.status_code == 302, _errors(answer.content.decode())
    t = JobTemplate.objects.get(name="pinger")
    assert (t.kind, t.playbook, t.command, t.extra_vars) == ("playbook", "ping.yml", "", {"greeting": "hi"})


BAD_ROWS = [
    ("duplicate-name", {"name": "taken"}, "name", "A template named 'taken' already exists."),
    ("bad-name", {"name": "Not A Slug"}, "name", "The name must be lowercase letters"),
    ("unknown-placeholder", {"command": "echo {{ who }}"}, "command", "{{ who }} but no prompt has that name"),
    ("placeholder-in-quotes", {"command": 'echo "{{ pkg }}"'}, "command", "write it outside the quotes, as echo"),
    ("empty-command", {"command": "  "}, "command", "Give the command to run."),
    ("webhook-ftp", {"webhook_url": "ftp://example.com/x"}, "webhook_url", "The webhook URL must be an http://"),
    ("webhook-js", {"webhook_url": "javascript:alert(1)"}, "webhook_url", "http:// or https://"),
    ("bad-email", {"notify_emails": "ops@example.com, nobody"}, "notify_emails", "'nobody' is not an email address"),
    ("bad-tag", {"tags": "web, a/b"}, "tags", "'a/b' is not a tag name"),
    ("timeout-zero", {"timeout": "0"}, "timeout", "The timeout must be between 1 and"),
    ("timeout-text", {"timeout": "soon"}, "timeout", "Enter a whole number."),
    ("workdir-newline", {"working_dir": "/tmp\n/etc"}, "working_dir", "The working folder must be a path"),
    ("unknown-server", {"servers": ["ghost"]}, "servers", "Select a valid choice. ghost"),
    ("no-playbook", {"kind": "playbook", "playbook": ""}, "playbook", "Choose a playbook."),
    (
        "extra-vars-not-json",
        {"kind": "playbook", "playbook": "ping.yml", "extra_vars": "{x"},
        "extra_vars",
        "Extra vars must be a JSON object",
    ),
    (
        "extra-vars-ansible",
        {"kind": "playbook", "playbook": "ping.yml", "extra_vars": '{"ansible_host": "x"}'},
        "extra_vars",
        "connection settings",
    ),
    (
        "choice-without-choices",
        {"p2_name": "env", "p2_type": "choice"},
        "prompts",
        "Prompt 'env': a choice prompt needs a list",
    ),
    ("duplicate-prompt", {"p2_name": "pkg"}, "prompts", "Prompt 'pkg' is defined twice."),
    ("bad-prompt-name", {"p2_name": "1x"}, "prompts", "Prompt 3: the name must be letters"),
    ("integer-default-text", {"p1_default": "many"}, "prompts", "times: expected a whole number, got 'many'"),
    ("secret-and-remove", {"clear_webhook_secret": "on"}, "webhook_secret", "Either give a new secret or remove"),
]


@pytest.mark.parametrize(("case", "overrides", "field", "fragment"), BAD_ROWS, ids=[r[0] for r in BAD_ROWS])
def test_bad_input_is_a_400_with_the_message_next_to_its_field(admin_client, servers, case, overrides, field, fragment):
    save_template(name="taken", kind="command", command="true", servers=["db1"])
    answer = admin_client.post("/templates/new/", _form(**overrides))
    html = answer.content.decode()
    assert answer.status_code == 400, case
    shown = _field_error(html, field)
    assert fragment in shown.replace("&#x27;", "'").replace("&quot;", '"'), shown
    for raw in ("webhook_url", "working_dir", "extra_vars", "notify_emails", "notify_on"):
        assert raw not in shown  # words, not field names
    assert 'value="upgrade"' in html or case in ("duplicate-name", "bad-name")  # what was typed stays
    assert JobTemplate.objects.count() == 1 and not AuditEvent.objects.filter(action="template.create").exists()


def test_viewers_and_operators_get_403(client, servers):
    template = save_template(name="t", kind="command", command="true", servers=["web1"])
    schedule_add = "/templates/t/schedules/"
    for role in ("Viewers", "Operators"):
        client.force_login(make_user(f"tpl-{role}", role=role))
        assert client.get("/templates/new/").status_code == 403
        assert client.post("/templates/new/", _form()).status_code == 403
        assert client.get("/templates/t/edit/").status_code == 403
        assert client.post("/templates/t/edit/", _form(name="t")).status_code == 403
        assert client.post("/templates/t/delete/", {"confirm": "yes"}).status_code == 403
        assert client.post(schedule_add, {"schedule-cron": "0 3 * * *", "schedule-timezone": "UTC"}).status_code == 403
        page = client.get("/templates/t/").content.decode()
        assert "/templates/t/edit/" not in page and 'id="schedule-form"' not in page
        assert 'href="/templates/new/"' not in client.get("/templates/").content.decode()
    assert JobTemplate.objects.get().pk == template.pk and not TemplateSchedule.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="template.").exists()


def _schedule(**overrides) -> dict:
    data = {
        "schedule-cron": "30 2 * * 1-5",
        "schedule-timezone": "Europe/Paris",
        "schedule-overlap": "queue",
        "schedule-prompt_pkg": "nginx",
    }
    data.update(overrides)
    return data


def test_add_pause_resume_and_delete_a_schedule(admin_client, servers):
    admin_client.post("/templates/new/", _form())
    admin_client.cookies["livchat_tz"] = "Asia/Kathmandu"
    page = admin_client.get("/templates/upgrade/").content.decode()
    # The viewer's zone (from clock.js's cookie) is offered and chosen; a bogus cookie is ignored.
    assert '<option value="Asia/Kathmandu" selected>' in page
    admin_client.cookies["livchat_tz"] = "Not/AZone"
    page = admin_client.get("/templates/upgrade/").content.decode()
    assert "Not/AZone" not in page and '<option value="UTC" selected>' in page

    answer = admin_client.post("/templates/upgrade/schedules/", _schedule())
    assert answer.status_code == 302 and answer["Location"] == "/templates/upgrade/#schedules"
    schedule = TemplateSchedule.objects.get()
    assert (schedule.cron, schedule.timezone, schedule.overlap) == ("30 2 * * 1-5", "Europe/Paris", "queue")
    assert schedule.values == {"pkg": "nginx", "times": 3} and schedule.enabled and schedule.next_run_at
    assert FIRE.count() == 1
    page = admin_client.get("/templates/upgrade/").content.decode()
    # {% clock %}: clock.js shows it in the viewer's zone.
    assert f'<time datetime="{schedule.next_run_at:%Y-%m-%dT%H:%M:%SZ}" data-clock="datetime"' in page

    answer = admin_client.post(f"/templates/upgrade/schedules/{schedule.pk}/enabled/", {"enabled": "no"})
    assert answer.status_code == 302
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None and not FIRE.exists()
    assert 'data-enabled="no"' in admin_client.get("/templates/upgrade/").content.decode()
    admin_client.post(f"/templates/upgrade/schedules/{schedule.pk}/enabled/", {"enabled": "yes"})
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_run_at and FIRE.count() == 1

    # Deleting asks first: without confirm=yes the answer is the confirmation page.
    asked = admin_client.post(f"/templates/upgrade/schedules/{schedule.pk}/delete/", {"confirm": ""})
    assert asked.status_code == 200 and 'name="confirm" value="yes"' in asked.content.decode()
    assert TemplateSchedule.objects.exists()
    done = admin_client.post(f"/templates/upgrade/schedules/{schedule.pk}/delete/", {"confirm": "yes"})
    assert done.status_code == 302 and not TemplateSchedule.objects.exists() and not FIRE.exists()
    actions = list(AuditEvent.objects.filter(target="upgrade", via="web").values_list("action", flat=True))
    for action in ("schedule.create", "schedule.pause", "schedule.resume", "schedule.delete"):
        assert actions.count(action) == 1, actions


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"schedule-cron": "every night"}, "cron", "is not a cron expression"),
        ({"schedule-cron": "0 25 * * *"}, "cron", "is not a cron expression"),
        (
            {"schedule-timezone": "other", "schedule-timezone_other": "Mars/Olympus"},
            "timezone_other",
            "is not a time zone",
        ),
        ({"schedule-timezone": "other", "schedule-timezone_other": ""}, "timezone_other", "Type the time zone"),
        ({"schedule-timezone": "Mars/Olympus"}, "timezone", "Select a valid choice"),
        ({"schedule-prompt_pkg": ""}, "prompt_pkg", "This field is required."),
        ({"schedule-prompt_times": "x"}, "prompt_times", "Enter a whole number."),
    ],
)
def test_bad_schedules_are_400s_next_to_their_field(admin_client, servers, overrides, field, fragment):
    admin_client.post("/templates/new/", _form())
    answer = admin_client.post("/templates/upgrade/schedules/", _schedule(**overrides))
    assert answer.status_code == 400
    assert fragment in _field_error(answer.content.decode(), field).replace("&#x27;", "'")
    assert not TemplateSchedule.objects.exists() and not FIRE.exists()


def test_a_free_text_zone_is_accepted(admin_client, servers):
    admin_client.post("/templates/new/", _form())
    answer = admin_client.post(
        "/templates/upgrade/schedules/",
        _schedule(**{"schedule-timezone": "other", "schedule-timezone_other": "Pacific/Auckland"}),
    )
    assert answer.status_code == 302
    assert TemplateSchedule.objects.get().timezone == "Pacific/Auckland"


def test_delete_a_template_keeps_its_jobs(admin_client, servers):
    admin_client.post("/templates/new/", _form())
    template = JobTemplate.objects.get(name="upgrade")
    job = launch_template(template=template, values={"pkg": "nginx"}, user=None, enqueue=False)
    admin_client.post("/templates/upgrade/schedules/", _schedule())
    asked = admin_client.get("/templates/upgrade/delete/")
    assert asked.status_code == 200 and "1 past job stays" in asked.content.decode()
    assert admin_client.post("/templates/upgrade/delete/", {"confirm": ""}).status_code == 200
    assert JobTemplate.objects.filter(name="upgrade").exists()  # not without the confirmation
    answer = admin_client.post("/templates/upgrade/delete/", {"confirm": "yes"})
    assert answer.status_code == 302 and answer["Location"] == "/templates/"
    assert not JobTemplate.objects.exists() and not TemplateSchedule.objects.exists() and not FIRE.exists()
    job = Job.objects.get(pk=job.pk)
    assert job.params["template"]["name"] == "upgrade"
    run = TemplateRun.objects.get(job=job)
    assert run.template is None and run.values["pkg"] == "nginx"
    assert AuditEvent.objects.filter(action="template.delete", target="upgrade", via="web").count() == 1
    assert admin_client.get("/templates/upgrade/").status_code == 404
    assert admin_client.get(f"/jobs/{job.job_id}/").status_code == 200
