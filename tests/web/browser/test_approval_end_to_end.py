"""The guardrails' whole path with real parts (issue 23): an AI agent's MCP run_command (over
HTTP, with its run token) on a `prod` server answers awaiting_approval and nothing runs on the
host (the real sshd); an Admin approves it in Chromium, and the agent's wait_job, waiting all
along with progress saying why, returns the command's output once the worker (the real
qcluster of `manage.py serve`) ran it. The reject path too: the agent learns who refused and why,
and the host is never touched."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from pathlib import Path

import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from playwright.sync_api import expect

from accounts.services import create_token
from jobs.models import Job, JobStatus
from jobs.policy.edit import create_policy
from tests.helpers import make_user, wait_for
from tests.mcp_helpers import Progress, text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _call(url: str, token: str, tool: str, arguments: dict, progress=None):
    async def go():
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with Client(streamable_http_client(url + "/mcp", http_client=http)) as client:
            return await client.call_tool(tool, arguments, progress_callback=progress)

    return asyncio.run(go())


def _call_aside(*args):
    """Playwright's sync API keeps an event loop in this thread: the agent's calls run in another."""
    out = []
    thread = threading.Thread(target=lambda: out.append(_call(*args)))
    thread.start()
    thread.join(120)
    return out[0]


class Waiting(threading.Thread):
    """The agent's wait_job, waiting in the background while a person decides."""

    def __init__(self, url: str, token: str, job_id: str) -> None:
        super().__init__(daemon=True)
        self.args = (url, token, "wait_job", {"job_id": job_id, "timeout_s": 180})
        self.progress = Progress()
        self.result = None

    def run(self) -> None:
        self.result = _call(*self.args, progress=self.progress)


def _held(url: str, token: str, server: str, command: str) -> dict:
    answer = _call_aside(url, token, "run_command", {"server": server, "command": command, "wait_s": 20})
    page = answer.structured_content
    assert not answer.is_error and page["status"] == "awaiting_approval", text(answer)
    return page


def test_an_agent_waits_for_a_person_who_approves_or_rejects_in_chromium(logged_in, app_server, make_server):
    page = logged_in  # "operator": an Admin, signed in
    server = make_server("prod-db", tags=["prod"])
    create_policy(
        values={
            "name": "prod-writes",
            "description": "changes on production need a second pair of eyes",
            "command_regex": r"\b(rm|reboot|systemctl (stop|restart))\b",
            "tags": ["prod"],
            "decision": "approve",
            "approvers": "Admins",
        }
    )
    _, token = create_token(user=make_user("agent", role="Operators"), name="the agent")
    # A folder the sshd's own (non-root) user may write in: the marker says whether it ran.
    folder = Path(tempfile.mkdtemp(prefix="livchat-approval-"))
    os.chmod(folder, 0o777)
    approved, refused = folder / "approved", folder / "refused"

    held = _held(app_server, token, server.name, f"rm -f {folder}/none; touch {approved}; echo ran-after-approval")
    assert held["approval"]["who_can_approve"] == ["operator"] and held["approval"]["rule"] == "prod-writes"
    assert "waits for approval by one person of Admins" in held["approval"]["message"]
    waiting = Waiting(app_server, token, held["job_id"])
    waiting.start()
    wait_for(lambda: waiting.progress.seen, timeout=30, message="wait_job's first progress notification")
    assert waiting.progress.messages[0].startswith("waiting for approval by Admins, rule prod-writes")
    assert not approved.exists(), "nothing runs on the host before a person approves"

    page.goto("/approvals/")
    card = page.locator(f"article[data-job-id='{held['job_id']}']")
    card.locator("textarea[name=comment]").fill("go ahead")
    card.get_by_role("button", name="Approve").click()
    expect(page.locator(".msg-success")).to_contain_text(f"Approved {held['job_id']}")

    waiting.join(180)
    answer = waiting.result.structured_content
    assert answer["status"] == "succeeded" and answer["exit_code"] == 0, text(waiting.result)
    assert "ran-after-approval" in [line["text"] for line in answer["lines"] if line["stream"] == "stdout"]
    assert answer["approval"]["outcome"] == "approved" and answer["approval"]["decided_by"] == "operator"
    assert approved.exists()

    # The reject path: the agent hears who refused and why; the host is never touched.
    second = _held(app_server, token, server.name, f"touch {refused}; reboot")
    waiting = Waiting(app_server, token, second["job_id"])
    waiting.start()
    page.goto("/approvals/")
    card = page.locator(f"article[data-job-id='{second['job_id']}']")
    card.locator("textarea[name=comment]").fill("not during business hours")
    card.get_by_role("button", name="Reject").click()
    waiting.join(180)
    answer = waiting.result.structured_content
    assert answer["status"] == "rejected" and answer["error"] == "Rejected by operator: not during business hours"
    assert "Rejected by operator" in text(waiting.result)
    assert Job.objects.get(job_id=second["job_id"]).started_at is None and not refused.exists()
    assert Job.objects.get(job_id=held["job_id"]).status == JobStatus.SUCCEEDED
    assert page.console_errors == []
