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
