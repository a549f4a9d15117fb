"""MCP list_templates / launch_template through the SDK's in-memory client, a real qcluster and
the test sshd: prompt values arrive shell-quoted and literal, permissions and bad input refused."""

from __future__ import annotations

import pytest

from automation.models import TemplateRun
from automation.services import save_template
from jobs.models import Job, JobLogLine
from tests.helpers import make_user
from tests.mcp_helpers import call, text

pytestmark = pytest.mark.django_db(transaction=True)

PROMPTS = [
    {"name": "who", "type": "text", "required": True},
    {"name": "times", "type": "integer", "default": 2},
]


@pytest.fixture
def greet(server):
    return save_template(
        name="greet", kind="command", command="printf '%s|' {{ who }} {{ times }}; echo", servers=[server.name],
        prompts=PROMPTS, timeout=60,
    )  # fmt: skip


def test_list_templates_shows_prompts(greet, staff_user):
    result = call(staff_user, "list_templates")
    (shown,) = result.structured_content["templates"]
    assert shown["name"] == "greet" and shown["kind"] == "command" and shown["servers"] == ["test"]
    assert [p["name"] for p in shown["prompts"]] == ["who", "times"] and shown["prompts"][0]["required"] is True
    assert "who (text, required)" in text(result)


def test_launch_template_runs_with_quoted_literal_values(greet, qcluster, staff_user):
    hostile = "x; touch /tmp/livchat-mcp-pwned $(id)"
    result = call(staff_user, "launch_template", {"name": "greet", "values": {"who": hostile}, "wait_s": 60})
    page = result.structured_content
    assert page["status"] == "succeeded", text(result)
    job = Job.objects.get(job_id=page["job_id"])
    out = list(JobLogLine.objects.filter(job=job, stream="stdout").values_list("message", flat=True))
    assert out == [f"{hostile}|2|"]  # one literal argument, nothing ran
    assert job.created_by == staff_user and job.params["template"]["values"] == {"who": hostile, "times": 2}
    assert TemplateRun.objects.filter(job=job, template=greet).exists()


def test_launch_template_refusals(greet, staff_user):
    unknown = call(staff_user, "launch_template", {"name": "nope"})
    assert unknown.is_error and "No template named 'nope'" in text(unknown) and "list_templates" in text(unknown)
    missing = call(staff_user, "launch_template", {"name": "greet", "values": {}})
    assert missing.is_error and "who" in text(missing)
    wrong = call(staff_user, "launch_template", {"name": "greet", "values": {"who": "a", "times": "many"}})
    assert wrong.is_error and "times" in text(wrong)
    reader = call(make_user("viewer-1", role="Viewers"), "launch_template", {"name": "greet", "values": {"who": "a"}})
    assert reader.is_error
    read_scope = call(staff_user, "launch_template", {"name": "greet", "values": {"who": "a"}}, scope="read")
    assert read_scope.is_error
    assert not Job.objects.exists()  # nothing refused started a job
