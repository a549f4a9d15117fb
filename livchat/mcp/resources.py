"""Resources: `job://{job_id}` (the job page as JSON) and `job://{job_id}/log` (the text tail)."""

from __future__ import annotations

import json

from mcp.server.mcpserver import Context, MCPServer

from jobs.log import filters
from livchat.mcp import pages, render
from livchat.mcp.tools import db

LOG_TAIL = 200
RESOURCE_BYTES = 32000


def _job_page(ctx: Context, job_id: str) -> dict:
    job = pages.find_job(pages.who(ctx), job_id)
    return pages.page(job=job, flt=filters.LineFilter(), after=None, tail=20, max_bytes=RESOURCE_BYTES)


def _log_tail(ctx: Context, job_id: str) -> str:
    job = pages.find_job(pages.who(ctx), job_id)
    data = pages.page(job=job, flt=filters.LineFilter(), after=None, tail=LOG_TAIL, max_bytes=RESOURCE_BYTES)
    head = [render.status_words(data)]
    if data.get("hint"):
        head.append(data["hint"])
    return "\n".join(head + [render.render_lines(data["lines"])]) + "\n"


def register(mcp: MCPServer) -> None:
    @mcp.resource("job://{job_id}", name="job", mime_type="application/json", description="A job's status page")
    async def job_resource(job_id: str, ctx: Context) -> str:
        return json.dumps(await db(_job_page, ctx, job_id))

    @mcp.resource("job://{job_id}/log", name="job-log", mime_type="text/plain", description="A job's last lines")
    async def job_log_resource(job_id: str, ctx: Context) -> str:
        return await db(_log_tail, ctx, job_id)
