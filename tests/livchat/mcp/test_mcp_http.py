"""/mcp over streamable HTTP on a real daphne serving livchat.asgi:application, through the
SDK's own streamable-HTTP client, with LivChat API tokens as bearer tokens."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request

import anyio
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from accounts.models import AuditEvent
from accounts.services import create_token
from jobs.models import Job
from tests.daphne import running_daphne
from tests.helpers import make_user, wait_for, wait_running_with_line
from tests.mcp_helpers import Progress, text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@pytest.fixture
def daphne(subprocess_env):
    with running_daphne(subprocess_env) as d:
        yield d


def _client(url: str, token: str) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(url + "/mcp", http_client=http))


def _post(url: str, headers: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url + "/mcp",
        data=json.dumps(INIT).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, {}
    except urllib.error.HTTPError as exc:
        body = exc.read().decode()
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, json.loads(body) if body[:1] == "{" else body


def test_no_or_bad_token_is_a_401_and_pages_still_work(daphne):
    status, headers, body = _post(daphne.url, {})
    assert (
        status == 401 and "Authorization: Bearer" in body["error"] and headers["www-authenticate"].startswith("Bearer")
    )
    status, _, body = _post(daphne.url, {"Authorization": "Bearer lc_not-a-token"})
    assert status == 401 and "Invalid API token" in body["error"]
    with urllib.request.urlopen(daphne.url + "/accounts/login/", timeout=20) as response:
        assert response.status == 200, "every other path still goes to Django"


def test_a_foreign_origin_is_refused(daphne, staff_user):
    _, token = create_token(user=staff_user)
    status, _, body = _post(daphne.url, {"Authorization": f"Bearer {token}", "Origin": "http://evil.example"})
    assert status == 403 and "Origin" in str(body)
    status, _, _ = _post(daphne.url, {"Authorization": f"Bearer {token}", "Origin": daphne.url})
    assert status == 200, "the app's own origin is allowed"


def test_read_token_gets_the_read_tools_only(daphne, server):
    _, token = create_token(user=make_user("opal", role="Operators"), scope="read")

    async def go():
        async with _client(daphne.url, token) as client:
            servers = await client.call_tool("list_servers", {})
            refused = await client.call_tool("run_command", {"server": server.name, "command": "true"})
            return servers, refused

    servers, refused = asyncio.run(go())
    assert [s["name"] for s in servers.structured_content["servers"]] == [server.name]
    assert refused.is_error and "'read' scope" in text(refused)
    assert not Job.objects.exists()


def test_run_token_runs_a_command_and_streams_progress(daphne, server, qcluster):
    _, token = create_token(user=make_user("opal", role="Operators"))
    progress = Progress()
    command = "for i in 1 2 3 4 5; do echo tick$i; sleep 0.5; done; echo done"

    async def go():
        async with _client(daphne.url, token) as client:
            return await client.call_tool(
                "run_command", {"server": server.name, "command": command, "wait_s": 60}, progress_callback=progress
            )

    result = asyncio.run(go())
    page = result.structured_content
    assert page["status"] == "succeeded" and page["exit_code"] == 0, text(result)
    assert [x["text"] for x in page["lines"] if x["stream"] == "stdout"][-1] == "done"
    assert len([m for m in progress.messages if m.startswith("tick")]) >= 2, progress.messages
    assert Job.objects.get(job_id=page["job_id"]).created_by.username == "opal"


def test_cancelled_wait_job_keeps_the_job_and_cancel_job_kills_the_remote_process(daphne, server, qcluster):
    _, token = create_token(user=make_user("opal", role="Operators"))
    marker = f"{time.monotonic_ns() % 100000:05d}"
    command = f"echo started; sleep 4{marker}.3"

    def remote() -> str:
        return subprocess.run(["pgrep", "-af", f"[s]leep 4{marker}.3"], capture_output=True, text=True).stdout.strip()

    async def start_and_abandon_a_wait():
        async with _client(daphne.url, token) as client:
            page = await client.call_tool("run_command", {"server": server.name, "command": command, "wait_s": 0})
            job_id = page.structured_content["job_id"]
            await anyio.to_thread.run_sync(lambda: wait_running_with_line(Job.objects.get(job_id=job_id), "started"))
            with anyio.move_on_after(1.5) as scope:
                await client.call_tool("wait_job", {"job_id": job_id, "timeout_s": 120})
            assert scope.cancelled_caught
            return job_id

    job_id = asyncio.run(start_and_abandon_a_wait())
    job = Job.objects.get(job_id=job_id)
    assert job.status == "running" and job.cancel_requested_at is None, "abandoning wait_job never stops the job"
    assert remote(), "the remote command still runs"

    async def cancel():
        async with _client(daphne.url, token) as client:
            return await client.call_tool("cancel_job", {"job_id": job_id})

    result = asyncio.run(cancel())
    assert result.structured_content["status"] == "cancelled", text(result)
    wait_for(lambda: remote() == "", timeout=10, message="the remote process to be gone")
    job.refresh_from_db()
    assert job.error == "Cancelled by opal." and job.cancel_requested_by == "opal"
    cancels = AuditEvent.objects.filter(action="job.cancel", target=job_id)
    assert [(e.actor_name, e.via) for e in cancels] == [("opal", "mcp")], "only cancel_job asked for a cancel"
