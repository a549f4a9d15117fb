"""search_logs: "did this happen before?" over every job an agent's user may see, newest job
first (jobs/log/search_jobs.py, as GET /api/logs/search), fitted into the answer's max_bytes:
each job with its match count and first lines (cut like every agent line), the jobs that do
not fit counted, and a cursor to read on."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from jobs.log import search_jobs
from livchat.mcp import budget, pages
from livchat.mcp.tools import db
from servers.permissions import Action

JOB_OVERHEAD = 160  # a job's fields besides its lines in the answer (id, status, url, counts)


def _search(ctx: Context, pattern, regex, since, server, tag, status, level, limit, cursor, max_bytes) -> dict:
    user = pages.who(ctx)
    pages.allowed(user, Action.VIEW)
    try:
        jobs = search_jobs.candidate_jobs(user=user, server=server, tag=tag, status=status, since=since)
        query = search_jobs.Query(text=pattern, regex=regex, level=level)
        page = search_jobs.search_jobs(jobs=jobs, query=query, limit=limit, cursor=cursor)
    except (search_jobs.SearchInputError, search_jobs.LogQueryError) as exc:
        raise ToolError(str(exc)) from None
    cut, room = budget.line_cut(max_bytes), budget.line_room(max_bytes)
    found, used, left_out = [], 0, 0
    for hits in page.jobs:
        lines = [budget.agent_line({**line, "message": line["message"]}, cut) for line in hits.lines]
        size = JOB_OVERHEAD + sum(budget.cost(line) for line in lines)
        if found and used + size > room:
            left_out += 1
            continue
        used += size
        job = hits.job
        found.append(
            {
                "job_id": job.job_id,
                "status": job.status,
                "created_at": job.created_at.isoformat(),
                "servers": sorted({s.name for s in job.servers.all()}),
                "match_count": hits.match_count,
                "lines": lines,
                "url": f"/jobs/{job.job_id}/#L{lines[0]['seq'] if lines else 1}",
            }
        )
    hint = None
    if left_out:
        hint = f"{left_out} more matching job(s) did not fit in max_bytes: narrow the search or raise max_bytes."
    elif page.cursor:
        hint = f"More jobs may match: search_logs(..., cursor={page.cursor!r}) reads on."
    return {"jobs": found, "partial": page.partial, "cursor": page.cursor, "omitted_jobs": left_out, "hint": hint}


async def search_logs(ctx: Context, pattern, regex, since, server, tag, status, level, limit, cursor, max_bytes):
    return await db(_search, ctx, pattern, regex, since, server, tag, status, level, limit, cursor, max_bytes)
