"""Shared by the MCP tests: the SDK's own clients against LivChat's MCP server."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from mcp.client.client import Client

from jobs.log.sink import JobSink
from jobs.models import Job


@dataclass
class Progress:
    """What a client's progress callback received: (monotonic time, progress, message)."""

    seen: list[tuple[float, float, str | None]] = field(default_factory=list)

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((time.monotonic(), progress, message))

    @property
    def messages(self) -> list[str]:
        return [m or "" for _, _, m in self.seen]


def size(result) -> int:
    """Bytes of tool output an agent receives: the text and the structured content."""
    text = sum(len(c.text.encode()) for c in result.content if getattr(c, "text", None))
    return text + len(json.dumps(result.structured_content or {}).encode())


def text(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "text", None))


def call(user, name: str, arguments: dict | None = None, *, scope: str | None = None, progress=None):
    """One tool call through the SDK's in-memory client, acting as `user`."""
    from livchat.mcp.server import build_server

    async def go():
        async with Client(build_server(user=user, scope=scope)) as client:
            return await client.call_tool(name, arguments or {}, progress_callback=progress)

    return asyncio.run(go())


def finished_job(lines: list[tuple[str, str, str]], *, job_id: str = "remote_exec-0000abcd", server=None) -> Job:
    """A succeeded job holding `lines` (stream, level, text), written through the real sink."""
    job = Job.objects.create(job_id=job_id, job_type="remote_exec", status="running", server=server)
    if server is not None:
        job.servers.set([server])
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    for stream, level, message in lines:
        sink.write_lines(stream, [message], level=level)
    sink.close()
    Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0)
    return Job.objects.get(pk=job.pk)


# ---- an agent that follows the server's own instructions (tests/livchat/mcp/test_mcp_agent.py, bench/mcp.py)
FINAL = ("succeeded", "failed", "cancelled", "timed_out")
HUGE_FAILURE = "seq 1 100000 | sed 's/^/line /'; echo 'E: disk /srv is full' >&2; exit 3"


@dataclass
class Followed:
    page: dict  # the final answer
    seen: list[dict]  # every line the answers held (lines and problems)
    total: int  # bytes of every answer up to the final one
    reading_more: int  # bytes of the get_job(problems=true) after it


async def follow_the_instructions(client: Client, tool: str, arguments: dict) -> Followed:
    """What the instructions say: start, then wait_job(job_id, after_seq=next_seq) until the status
    is final; a failed job's answer says why. Then get_job(job_id, problems=true), the instructions'
    way to read more: every problem line (the reason among them), not repeated in `problems`."""
    answers = [await client.call_tool(tool, arguments)]
    page = answers[-1].structured_content
    assert not answers[-1].is_error, answers[-1].content
    while page["status"] not in FINAL:
        answers.append(await client.call_tool("wait_job", {"job_id": page["job_id"], "after_seq": page["next_seq"]}))
        page = answers[-1].structured_content
    seen = [line for a in answers for line in a.structured_content["problems"] + a.structured_content["lines"]]
    more = await client.call_tool("get_job", {"job_id": page["job_id"], "problems": True})
    every = more.structured_content
    assert every["problems"] == [], "a page of problem lines does not repeat them"
    assert all(x["stream"] == "stderr" or x["level"] in ("WARNING", "ERROR", "CRITICAL") for x in every["lines"])
    assert {line["seq"] for line in page["problems"]} <= {line["seq"] for line in every["lines"]}
    return Followed(page=page, seen=seen, total=sum(size(a) for a in answers), reading_more=size(more))


async def three_failures(client: Client, names: dict, *, lock: str) -> dict[str, Followed]:
    """A 100,000-line command failing with one stderr line; one host of three failing (the first to
    make `lock`, a folder, fails: one sshd serves all three); tests/playbooks/details.yml, whose
    "failing shell" task fails on web2 only."""
    one_of_three = f"if mkdir {lock} 2>/dev/null; then echo 'E: lock held by a dead run' >&2; exit 4; fi; echo fine"
    return {
        "huge": await follow_the_instructions(
            client, "run_command", {"server": names["one"], "command": HUGE_FAILURE, "wait_s": 0}
        ),
        "fleet": await follow_the_instructions(
            client, "run_command", {"servers": names["three"], "command": one_of_three, "wait_s": 1}
        ),
        "playbook": await follow_the_instructions(
            client, "run_playbook", {"playbook": "details.yml", "servers": names["playbook"], "wait_s": 1}
        ),
    }
