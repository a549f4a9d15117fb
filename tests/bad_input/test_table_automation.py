"""The table, templates/schedules/notifications: prompts of the wrong type, shell metacharacters
in prompt values (they arrive quoted and literal), an invalid cron expression, a webhook URL that
is not http(s), on the API, the page, the CLI and the admin. Each answer is a 4xx (or a command
error) with a readable message, nothing is created, no traceback leaks."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from automation.models import JobTemplate, TemplateSchedule
from automation.services import save_template
from jobs.models import Job, JobLogLine, JobStatus
from tests.api_helpers import assert_error, token_api
from tests.bad_input.helpers import XSS, Row, assert_no_traceback, table
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

METACHARACTERS = "a'b\"c; rm -rf / && $(id) `id` | tee x > y < z & $HOME \\ * ? ~ # !\n{{ n }}"
PROMPTS = [
    {"name": "n", "type": "integer", "default": 1},
    {"name": "msg", "type": "text", "required": True},
    {"name": "env", "type": "choice", "choices": ["dev", "prod"], "default": "dev"},
]


@pytest.fixture
def world(server):
    save_template(
        name="t", kind="command", command="printf '%s' {{ msg }}", servers=[server.name], prompts=PROMPTS, timeout=60
    )
    return {"api": token_api(make_user("table-admin")), "server": server}


def _launch(values) -> dict:
    return {"path": "/api/templates/t/launch", "body": {"values": values}}


def _create(**body) -> dict:
    return {"path": "/api/templates/", "body": {"name": "fresh", "command": "true", "servers": ["test"], **body}}


def _schedule(**body) -> dict:
    return {"path": "/api/templates/t/schedules", "body": {"cron": "0 3 * * *", **body}}


API_ROWS = table(
    Row("api", "integer-as-text", _launch({"msg": "x", "n": "ten"}), 400, "n: expected a whole number, got 'ten'"),
    Row("api", "integer-as-bool", _launch({"msg": "x", "n": False}), 400, "n: expected a whole number"),
    Row("api", "integer-as-float", _launch({"msg": "x", "n": 2.5}), 400, "n: expected a whole number"),
    Row("api", "integer-as-list", _launch({"msg": "x", "n": [1]}), 400, "n: expected a whole number"),
    Row("api", "text-as-object", _launch({"msg": {"a": 1}}), 400, "msg: expected text"),
    Row("api", "text-with-nul", _launch({"msg": "a\x00b"}), 400, "msg: NUL characters are not allowed"),
    Row("api", "choice-not-offered", _launch({"msg": "x", "env": "staging"}), 400, "'staging' is not one of dev, prod"),
    Row("api", "required-missing", _launch({}), 400, "msg: a value is required"),
    Row("api", "unknown-prompt", _launch({"msg": "x", "rm": 1}), 400, "Unknown prompt(s): rm"),
    Row("api", "values-not-object", {"path": "/api/templates/t/launch", "body": {"values": [1]}}, 422, "values"),
    Row("api", "unknown-template", {"path": "/api/templates/nope/launch", "body": {}}, 404, "No template named"),
    Row("api", "cron-letters", _schedule(cron="every night"), 400, "is not a cron expression"),
    Row("api", "cron-out-of-range", _schedule(cron="0 25 * * *"), 400, "is not a cron expression"),
    Row("api", "cron-too-few-fields", _schedule(cron="0 3 *"), 400, "five fields"),
    Row("api", "cron-empty", _schedule(cron=""), 400, "is not a cron expression"),
    Row("api", "timezone-unknown", _schedule(timezone="Mars/Olympus"), 400, "is not a time zone"),
    Row("api", "schedule-value-wrong-type", _schedule(values={"msg": "x", "n": "x"}), 400, "n: expected a whole"),
    Row("api", "webhook-ftp", _create(webhook_url="ftp://example.com/x"), 400, "must be an http:// or https:// URL"),
    Row("api", "webhook-javascript", _create(webhook_url="javascript:alert(1)"), 400, "http:// or https://"),
    Row("api", "webhook-file", _create(webhook_url="file:///etc/passwd"), 400, "http:// or https://"),
    Row("api", "webhook-no-host", _create(webhook_url="http://"), 400, "http:// or https://"),
    Row("api", "prompt-type-unknown", _create(prompts=[{"name": "x", "type": "float"}]), 400, "text, integer, choice"),
    Row("api", "prompt-bad-name", _create(prompts=[{"name": "1x", "type": "text"}]), 400, "the name must be"),
    Row(
        "api",
        "prompt-default-wrong-type",
        _create(prompts=[{"name": "x", "type": "integer", "default": "a"}]),
        400,
        "x: expected a whole number",
    ),
    Row("api", "placeholder-without-prompt", _create(command="echo {{ who }}"), 400, "no prompt has that name"),
    Row("api", "tag-matches-no-server", _create(servers=[], tags=["nowhere"]), 201, None),
    Row("api", "name-with-xss", _create(name=XSS), 400, "name must be lowercase letters"),
    Row("api", "name-of-a-page", _create(name="new"), 400, "'new' is reserved for a page of LivChat"),
    Row("api", "unknown-server", _create(servers=["ghost"]), 400, "No server named 'ghost'"),
    Row("api", "email-not-email", _create(notify_emails="not-an-address"), 400, "is not an email address"),
)


@pytest.mark.parametrize("row", API_ROWS)
def test_api(world, row: Row):
    jobs_before, templates_before = Job.objects.count(), JobTemplate.objects.count()
    answer = world["api"].post(row.input["path"], row.input["body"])
    assert_no_traceback(answer.content)
    if row.expect == 201:
        assert answer.status_code == 201, answer.content
        # Saved, but a tag no server carries is refused when launching, in words.
        text = assert_error(world["api"].post("/api/templates/fresh/launch", {}), 400)
        assert "No server has the tag 'nowhere'" in text
        return
    text = assert_error(answer, row.expect)
    assert row.fragment in text, text
    assert Job.objects.count() == jobs_before and JobTemplate.objects.count() == templates_before
    assert not TemplateSchedule.objects.exists()


def test_shell_metacharacters_arrive_quoted_and_literal(world, run_job):
    answer = world["api"].post("/api/templates/t/launch", {"values": {"msg": METACHARACTERS}})
    assert answer.status_code == 202, answer.content
    job = run_job(Job.objects.get(job_id=answer.json()["job_id"]))
    assert job.status == JobStatus.SUCCEEDED, job.error
    out = "\n".join(
        JobLogLine.objects.filter(job=job, stream="stdout").order_by("seq").values_list("message", flat=True)
    )
    assert out == METACHARACTERS  # `{{ n }}` inside a value is text too: values are never templated again


def test_page_wrong_type_is_a_400_form(world, client):
    client.force_login(make_user("table-page"))
    answer = client.post("/templates/t/", {"prompt_n": "ten", "prompt_msg": "x", "prompt_env": "dev"})
    assert answer.status_code == 400 and "Enter a whole number." in answer.content.decode()
    answer = client.post("/templates/t/", {"prompt_n": "1", "prompt_msg": "x", "prompt_env": "staging"})
    assert answer.status_code == 400 and "Select a valid choice" in answer.content.decode()
    assert client.get("/templates/nope/").status_code == 404
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["-e", "msg=x", "-e", "n=ten"], "n: expected a whole number"),
        (["-e", "env=staging", "-e", "msg=x"], "'staging' is not one of dev, prod"),
        (["-e", "nothing"], "-e expects NAME=VALUE"),
        ([], "msg: a value is required"),
    ],
)
def test_cli(world, argv, fragment):
    with pytest.raises(CommandError) as caught:
        call_command("run_template", "t", *argv)
    assert fragment in str(caught.value)
    assert not Job.objects.exists()


def test_admin_refuses_bad_cron_and_webhook(world, client):
    client.force_login(make_user("table-staff", is_staff=True, is_superuser=True))
    template = JobTemplate.objects.get(name="t")
    form = {
        "name": "t",
        "kind": "command",
        "command": template.command,
        "tags": "[]",
        "extra_vars": "{}",
        "prompts": '[{"name": "msg", "type": "text"}]',
        "notify_on": "failure",
        "webhook_format": "json",
        "webhook_url": "ftp://example.com/",
        "servers": [world["server"].pk],
        "schedules-TOTAL_FORMS": "1",
        "schedules-INITIAL_FORMS": "0",
        "schedules-0-cron": "not a cron",
        "schedules-0-timezone": "UTC",
        "schedules-0-overlap": "skip",
        "schedules-0-enabled": "on",
        "schedules-0-values": "{}",
    }
    answer = client.post(f"/admin/automation/jobtemplate/{template.pk}/change/", form)
    html = answer.content.decode()
    assert answer.status_code == 200 and "must be an http:// or https:// URL" in html
    assert "is not a cron expression" in html
    assert_no_traceback(html)
    template.refresh_from_db()
    assert template.webhook_url == "" and not TemplateSchedule.objects.exists()
