"""`manage.py mcp --user NAME` started as a subprocess by the SDK's own stdio client."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from django.conf import settings
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

from tests.helpers import make_user
from tests.mcp_helpers import finished_job, text

pytestmark = pytest.mark.django_db(transaction=True)


def _params(env: dict, *args: str) -> StdioServerParameters:
    manage = str(settings.BASE_DIR / "manage.py")
    return StdioServerParameters(command=sys.executable, args=[manage, "mcp", *args], env=env, cwd=settings.BASE_DIR)


def test_stdio_serves_the_tools_as_that_user(server, subprocess_env):
    viewer = make_user("vera", role="Viewers")
    job = finished_job([("stdout", "INFO", "hello from the log"), ("stderr", "ERROR", "bad thing")], server=server)

    async def go():
        async with Client(_params(subprocess_env, "--user", viewer.username)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            servers = await client.call_tool("list_servers", {})
            page = await client.call_tool("get_job", {"job_id": job.job_id, "level": "ERROR"})
            refused = await client.call_tool("run_command", {"server": server.name, "command": "true"})
            return names, servers, page, refused

    names, servers, page, refused = asyncio.run(go())
    assert {"run_command", "wait_job", "remote-bash", "get-job-status"} <= names
    assert [s["name"] for s in servers.structured_content["servers"]] == [server.name]
    assert [line["text"] for line in page.structured_content["lines"]] == ["bad thing"]
    assert refused.is_error and "vera may not run commands" in text(refused)


def test_stdio_read_only_refuses_run_tools(server, subprocess_env):
    make_user("opal", role="Operators")

    async def go():
        async with Client(_params(subprocess_env, "--user", "opal", "--read-only")) as client:
            return await client.call_tool("run_command", {"server": server.name, "command": "true"})

    refused = asyncio.run(go())
    assert refused.is_error and "'read' scope" in text(refused)


def test_unknown_user_exits_non_zero_with_a_message(subprocess_env):
    done = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "mcp", "--user", "nobody"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "No active user named 'nobody'" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
