"""Job templates: saved commands and playbooks with prompts, launched from the API, the page,
the CLI and the admin, against the real test sshd."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from automation.launch import launch_template
from automation.models import JobTemplate, TemplateRun
from automation.services import save_template
from jobs.models import Job, JobLogLine, JobStatus
from servers.permissions import NotPermitted
from tests.api_helpers import assert_error, token_api
from tests.helpers import admin_template_form, make_user

pytestmark = pytest.mark.django_db(transaction=True)

ECHO_PROMPTS = [
    {"name": "who", "type": "text", "required": True},
    {"name": "times", "type": "integer", "default": 2},
    {"name": "color", "type": "choice", "choices": ["red", "blue"], "default": "red"},
]


@pytest.fixture
def admin_api(transactional_db):
    return token_api(make_user("tpl-admin"))


@pytest.fixture
def echo_template(server):
    return save_template(
        name="echo",
        kind="command",
        command="printf '%s|' {{ who }} {{times}} {{ color }}; echo",
        servers=[server.name],
        prompts=ECHO_PROMPTS,
        timeout=60,
    )


def stdout_of(job: Job) -> list[str]:
    return list(JobLogLine.objects.filter(job=job, stream="stdout").order_by("seq").values_list("message", flat=True))


def test_create_and_launch_over_the_api_runs_with_quoted_values(admin_api, server, run_job):
    created = admin_api.post(
        "/api/templates/",
        {
            "name": "greet",
            "command": "echo {{ who }}",
            "servers": [server.name],
            "prompts": [{"name": "who", "type": "text", "required": True}],
        },
    )
    assert created.status_code == 201, created.content
    assert created.json()["prompts"][0]["name"] == "who"
    hostile = "x; touch /tmp/livchat-pwned-$$ `id` $(id) 'quote\" && echo no"
    answer = admin_api.post("/api/templates/greet/launch", {"values": {"who": hostile}})
    assert answer.status_code == 202, answer.content
    job = Job.objects.get(job_id=answer.json()["job_id"])
    assert job.params["template"] == {"name": "greet", "id": created_json_id("greet"), "values": {"who": hostile}}
    job = run_job(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert stdout_of(job) == [hostile]  # one literal argument: nothing was expanded or run


def created_json_id(name: str) -> int:
    return JobTemplate.objects.get(name=name).pk


def test_prompt_defaults_and_types(echo_template, run_job):
    job = run_job(launch_template(template=echo_template, values={"who": "ann", "times": "7"}))
    assert stdout_of(job) == ["ann|7|red|"]
    assert TemplateRun.objects.get(job=job).values == {"who": "ann", "times": 7, "color": "red"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "who: a value is required"),
        ({"who": "a", "times": "seven"}, "times: expected a whole number"),
        ({"who": "a", "times": True}, "times: expected a whole number"),
        ({"who": "a", "times": 1.5}, "times: expected a whole number"),
        ({"who": "a", "color": "green"}, "'green' is not one of red, blue"),
        ({"who": ["a"]}, "who: expected text"),
        ({"who": "a", "nope": 1}, "Unknown prompt(s): nope"),
    ],
)
def test_wrong_prompt_values_are_400(admin_api, echo_template, values, message):
    text = assert_error(admin_api.post("/api/templates/echo/launch", {"values": values}), 400)
    assert message in text
    assert not Job.objects.exists()


def test_playbook_template_prompts_become_extra_vars(admin_api, server):
    answer = admin_api.post(
        "/api/templates/",
        {
            "name": "motd",
            "kind": "playbook",
            "playbook": "ping.yml",
            "servers": [server.name],
            "extra_vars": {"base": 1},
            "prompts": [{"name": "motd_text", "type": "text", "default": "hello"}],
        },
    )
    assert answer.status_code == 201, answer.content
    launched = admin_api.post("/api/templates/motd/launch", {"values": {"motd_text": "{{ lookup('pipe','id') }}"}})
    assert launched.status_code == 202, launched.content
    job = Job.objects.get(job_id=launched.json()["job_id"])
    assert job.job_type == "playbook"
    assert job.params["extra_vars"] == {"base": 1, "motd_text": "{{ lookup('pipe','id') }}"}


def test_permissions(server, echo_template):
    viewer = token_api(make_user("tpl-viewer", role="Viewers"))
    operator = token_api(make_user("tpl-op", role="Operators"))
    assert viewer.get("/api/templates/echo").status_code == 200
    assert "may not run" in assert_error(viewer.post("/api/templates/echo/launch", {"values": {"who": "a"}}), 403)
    text = assert_error(operator.post("/api/templates/", {"name": "x", "command": "true", "servers": ["test"]}), 403)
    assert "manage job templates" in text
    assert operator.post("/api/templates/echo/launch", {"values": {"who": "a"}}).status_code == 202
    from django.contrib.auth.models import Group

    server.allowed_groups.add(Group.objects.get(name="Admins"))
    # Aimed at a server the operator may not use: hidden, and answered like an unknown template.
    text = assert_error(operator.post("/api/templates/echo/launch", {"values": {"who": "a"}}), 404)
    assert text == "No template named 'echo'."
    assert operator.get("/api/templates/").json() == []
    with pytest.raises(NotPermitted, match="limited to groups"):  # the launch itself checks the launcher too
        launch_template(template=echo_template, values={"who": "a"}, user=User.objects.get(username="tpl-op"))


def test_unknown_template_is_404(admin_api):
    assert "No template named 'nope'" in assert_error(admin_api.post("/api/templates/nope/launch", {}), 404)


def test_template_page_launches_and_lists_runs(client, echo_template, run_job):
    client.force_login(make_user("tpl-page"))
    page = client.get("/templates/echo/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-prompt="who"' in html and "Launch" in html
    assert client.get("/templates/").content.decode().count('data-template="echo"') == 1
    bad = client.post("/templates/echo/", {"prompt_who": "a", "prompt_times": "x", "prompt_color": "red"})
    assert bad.status_code == 400 and not Job.objects.exists()
    answer = client.post("/templates/echo/", {"prompt_who": "bo b", "prompt_times": "1", "prompt_color": "blue"})
    job = Job.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/jobs/{job.job_id}/"
    run_job(job)
    html = client.get("/templates/echo/").content.decode()
    assert f'data-job-id="{job.job_id}"' in html and "succeeded" in html and "who=bo b" in html
    assert stdout_of(job) == ["bo b|1|blue|"]


def test_admin_launch_action_and_checked_form(client, echo_template):
    client.force_login(make_user("tpl-staff", is_staff=True, is_superuser=True))
    url = "/admin/automation/jobtemplate/"
    answer = client.post(url, {"action": "launch", "_selected_action": [echo_template.pk]}, follow=True)
    assert "who: a value is required" in answer.content.decode()
    echo_template.prompts = [{**p, "default": "dflt"} if p["name"] == "who" else p for p in echo_template.prompts]
    echo_template.save()
    answer = client.post(url, {"action": "launch", "_selected_action": [echo_template.pk]}, follow=True)
    job = Job.objects.get()
    assert f"started job {job.job_id}" in answer.content.decode()
    form = admin_template_form(name="bad", command="echo {{ missing }}")
    answer = client.post(url + "add/", form)
    assert answer.status_code == 200 and "uses {{ missing }} but no prompt has that name" in answer.content.decode()
    assert not JobTemplate.objects.filter(name="bad").exists()


def test_cli_run_template_follow(echo_template, subprocess_env, qcluster):
    from django.conf import settings

    result = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_template", "echo", "-e", "who=$(id)", "--follow"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "$(id)|2|red|\n"


def test_cli_refuses_bad_values(echo_template):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="times: expected a whole number"):
        call_command("run_template", "echo", "-e", "who=a", "-e", "times=many")
    with pytest.raises(CommandError, match="NAME=VALUE"):
        call_command("run_template", "echo", "-e", "who")


def test_tags_resolve_to_one_fleet_job(make_server, sshd):
    a = make_server("tag-a", tags=["web"])
    b = make_server("tag-b", tags=["web", "db"])
    make_server("tag-c", tags=["db"])
    template = save_template(name="fleet", kind="command", command="hostname", tags=["web"])
    job = launch_template(template=template, values={}, enqueue=False)
    assert sorted(s.name for s in job.servers.all()) == [a.name, b.name]
    assert Job.objects.count() == 1 and job.params["template"]["name"] == "fleet"


def test_page_launch_needs_run_on_every_target(client, server, echo_template):
    from django.contrib.auth.models import Group

    client.force_login(make_user("tpl-page-viewer", role="Viewers"))
    form = {"prompt_who": "a", "prompt_times": "1", "prompt_color": "red"}
    assert client.post("/templates/echo/", form).status_code == 403
    client.force_login(make_user("tpl-page-op", role="Operators"))
    server.allowed_groups.add(Group.objects.get(name="Admins"))
    answer = client.post("/templates/echo/", form)  # aimed where they may not run: not even shown
    assert answer.status_code == 404
    assert not Job.objects.exists()
