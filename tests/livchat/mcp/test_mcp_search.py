"""MCP search_logs: an agent asks "did this happen before?" over the jobs its user may see,
within the answer's byte budget."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from jobs.models import Job
from servers.models import Server
from tests.helpers import make_user, stored_job
from tests.mcp_helpers import call, size, text

pytestmark = pytest.mark.django_db(transaction=True)


def _job(server, messages):
    return stored_job(server, messages, status="failed", stream="stderr", level="ERROR")


def test_an_agent_finds_earlier_failures_it_may_see_within_its_budget():
    web = Server.objects.create(name="web1", host="127.0.0.1", username="u")
    vault = Server.objects.create(name="vault", host="127.0.0.1", username="u")
    vault.allowed_groups.add(Group.objects.create(name="vault-team"))
    seen = [_job(web, [f"E: Unable to locate package foo{i} " + "x" * 300]) for i in range(30)]
    _job(vault, ["E: Unable to locate package secret"])
    agent = make_user("agent", role="Operators")
    result = call(agent, "search_logs", {"pattern": "Unable to locate package", "limit": 50, "max_bytes": 4000})
    data = result.structured_content
    assert not result.is_error and size(result) <= 4000
    shown = [j["job_id"] for j in data["jobs"]]
    assert shown and shown == [j.job_id for j in reversed(seen)][: len(shown)]  # newest first, vault never
    assert data["omitted_jobs"] == 30 - len(shown) and "did not fit" in data["hint"]
    assert data["jobs"][0]["lines"][0]["text"].startswith("E: Unable to locate package foo29")
    assert "matching line" in text(result)
    nothing = call(agent, "search_logs", {"pattern": "secret"})
    assert nothing.structured_content["jobs"] == [] and "No job you may see" in text(nothing)
    bad = call(agent, "search_logs", {"pattern": "(x", "regex": True})
    assert bad.is_error and "regular expression" in text(bad)


def test_an_agent_asks_what_changed_since_the_last_run():
    web = Server.objects.create(name="web1", host="127.0.0.1", username="u")
    old = _job(web, ["pkg a 1.0", "pkg b 2.0 took 1.5s"])
    new = _job(web, ["pkg a 1.0", "pkg b 2.1 took 3.0s"])
    Job.objects.filter(pk__in=[old.pk, new.pk]).update(params={"command": "apt list"})
    old.servers.set([web])
    agent = make_user("agent", role="Operators")
    result = call(agent, "diff_job", {"job_id": new.job_id})
    data = result.structured_content
    assert not result.is_error and data["against"] == old.job_id
    assert data["summary"] == {"added": 1, "removed": 1, "unchanged": 1}
    assert data["hunks"][0]["added"]["lines"] == [{"seq": 2, "text": "pkg b 2.1 took 3.0s"}]
    assert "1 added, 1 removed" in text(result)
    first = call(agent, "diff_job", {"job_id": old.job_id})
    assert first.is_error and "no earlier finished run" in text(first)
