"""MCP run_command on several servers (servers and/or tags, one job) and get_job(host=...),
through the SDK's in-memory client, a real qcluster and the test sshd."""

from __future__ import annotations

import pytest

from jobs.models import Job
from tests.mcp_helpers import call, text

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_command_on_a_tag_is_one_job_with_host_tagged_lines(make_server, qcluster, staff_user):
    make_server(name="web-a", tags=["web"])
    make_server(name="web-b", tags=["web"])
    make_server(name="db-a", tags=["db"])
    command = 'echo "hello from $SSH_CONNECTION"'
    result = call(staff_user, "run_command", {"command": command, "tags": ["web"], "forks": 2, "wait_s": 60})
    page = result.structured_content
    assert page["status"] == "succeeded", text(result)
    job = Job.objects.get(job_id=page["job_id"])
    assert sorted(s.name for s in job.servers.all()) == ["web-a", "web-b"]  # db-a is not tagged web
    assert job.params["forks"] == 2 and job.params["targets"] == {"servers": [], "tags": ["web"]}
    assert {h: r["status"] for h, r in job.result["hosts"].items()} == {"web-a": "ok", "web-b": "ok"}

    only_b = call(staff_user, "get_job", {"job_id": job.job_id, "host": "web-b", "stream": "stdout"})
    lines = only_b.structured_content["lines"]
    assert lines and all(line["host"] == "web-b" for line in lines)
    assert [line["text"].split(" from ")[0] for line in lines] == ["hello"]


def test_run_command_refuses_no_target_and_unknown_tags(make_server, staff_user):
    make_server(name="web-a", tags=["web"])
    nothing = call(staff_user, "run_command", {"command": "true"})
    assert nothing.is_error and "Give server" in text(nothing)
    unknown = call(staff_user, "run_command", {"command": "true", "tags": ["nope"]})
    assert unknown.is_error and "nope" in text(unknown)
    too_wide = call(staff_user, "run_command", {"command": "true", "tags": ["web"], "forks": 0})
    assert too_wide.is_error and "forks" in text(too_wide)
    assert not Job.objects.exists()  # a refused call starts nothing
