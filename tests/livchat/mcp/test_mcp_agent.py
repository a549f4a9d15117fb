"""An agent that follows LivChat's own MCP instructions, through the SDK's own clients (streamable
HTTP on a real daphne, and stdio), on jobs that fail in the three ways an agent meets: a huge
output with one stderr line, one host of three, one task on one host of a playbook.

For each job it learns why it failed, and every byte of tool output it received (text and
structured content: a client sends one or both to its model) is summed: ≤ 8 KB (issue 21)."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import uuid
from contextlib import contextmanager

import pytest
from django.conf import settings
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from accounts.services import create_token
from livchat.mcp.server import INSTRUCTIONS
from tests.daphne import running_daphne
from tests.helpers import copy_test_playbook, make_user
from tests.mcp_helpers import three_failures

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BUDGET = 8 * 1024


@pytest.fixture
def subprocess_env(subprocess_env, tmp_path):
    """Every process (daphne, the stdio server, qcluster) finds tests/playbooks/details.yml."""
    folder = tmp_path / "operator-playbooks"
    folder.mkdir()
    copy_test_playbook(folder, "details.yml")
    return {**subprocess_env, "LIVCHAT_PLAYBOOK_DIR": str(folder)}


def test_the_instructions_teach_the_calls_this_agent_makes():
    said = " ".join(INSTRUCTIONS.split())
    for call in ("wait_job(job_id, after_seq=next_seq)", "get_job(job_id, problems=true)"):
        assert call in said, call
    assert re.search(r"failed or timed out always says why", said)


def check_each_failure_was_learnt_in_a_few_kb(results: dict) -> None:
    print({name: (f.total, f.reading_more) for name, f in results.items()})  # the figures the closing note quotes
    page, seen, total = results["huge"].page, results["huge"].seen, results["huge"].total
    assert page["status"] == "failed" and page["exit_code"] == 3, page
    assert any(line["text"] == "E: disk /srv is full" and line["stream"] == "stderr" for line in seen)
    assert page["summary"]["total_lines"] >= 100_000
    assert total <= BUDGET, f"100,000-line failure: {total} bytes"

    page, seen, total = results["fleet"].page, results["fleet"].seen, results["fleet"].total
    assert page["status"] == "failed", page
    (bad,) = page["failed_hosts"]
    assert bad["status"] == "failed" and bad["exit_code"] == 4 and bad["reason"] == "exit code 4"
    assert any(line["text"] == "E: lock held by a dead run" and line.get("host") == bad["host"] for line in seen)
    assert total <= BUDGET, f"one host of three: {total} bytes"

    page, seen, total = results["playbook"].page, results["playbook"].seen, results["playbook"].total
    assert page["status"] == "failed", page
    (task,) = page["recap"]["failed_tasks"]
    assert (task["host"], task["task"], task["message"]) == ("web2", "failing shell", "non-zero return code")
    assert task["stderr"] == "first problem\nsecond problem"
    assert [h["host"] for h in page["failed_hosts"]] == ["web2"]
    assert "failing shell: non-zero return code" in page["failed_hosts"][0]["reason"]
    assert total <= BUDGET, f"one task on one host: {total} bytes"


@contextmanager
def _lock():
    """A folder name the test sshd's login user may create (not the test's own 0700 tmp_path)."""
    path = f"/tmp/livchat-agent-lock-{uuid.uuid4().hex}"
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _servers(make_server) -> dict:
    for name in ("a1", "a2", "a3", "web2"):
        make_server(name=name)
    make_server(name="test")
    return {"one": "a1", "three": ["a1", "a2", "a3"], "playbook": ["test", "web2"]}


def test_an_agent_over_http_learns_each_failure_in_a_few_kb(make_server, subprocess_env, qcluster):
    names = _servers(make_server)
    _, token = create_token(user=make_user("opal", role="Operators"))
    with running_daphne(subprocess_env) as daphne:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})

        async def go():
            async with Client(streamable_http_client(daphne.url + "/mcp", http_client=http)) as client:
                return await three_failures(client, names, lock=lock)

        with _lock() as lock:
            check_each_failure_was_learnt_in_a_few_kb(asyncio.run(go()))


def test_an_agent_over_stdio_learns_each_failure_in_a_few_kb(make_server, subprocess_env, qcluster):
    names = _servers(make_server)
    make_user("opal", role="Operators")
    manage = str(settings.BASE_DIR / "manage.py")
    params = StdioServerParameters(
        command=sys.executable, args=[manage, "mcp", "--user", "opal"], env=subprocess_env, cwd=settings.BASE_DIR
    )

    async def go():
        async with Client(params) as client:
            return await three_failures(client, names, lock=lock)

    with _lock() as lock:
        check_each_failure_was_learnt_in_a_few_kb(asyncio.run(go()))
