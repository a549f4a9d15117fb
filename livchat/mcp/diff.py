"""diff_job: what changed between two runs (jobs/log/diff.py, as GET /api/jobs/<id>/diff),
fitted into the answer's max_bytes: the summary whole, then hunks while they fit."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from jobs.log import diff
from livchat.mcp import budget, pages
from livchat.mcp.tools import db

HUNK_OVERHEAD = 120


def _diff(ctx: Context, job_id: str, against: str, cursor: str | None, max_bytes: int) -> dict:
    user = pages.who(ctx)
    job = pages.find_job(user, job_id)
    try:
        other = diff.previous_run(job) if against == "previous" else pages.find_job(user, against)
        data = diff.diff_jobs(job=job, against=other, cursor=cursor)
    except (diff.NoPrevious, diff.DiffInputError) as exc:
        raise ToolError(str(exc)) from None
    cut, room = budget.line_cut(max_bytes), budget.line_room(max_bytes)
    kept, used = [], 0
    for hunk in data["hunks"]:
        for side in ("removed", "added"):
            for line in hunk[side]["lines"]:
                line["text"] = budget.strip_ansi(line["text"])[:cut]
        size = HUNK_OVERHEAD + sum(len(x["text"]) + 20 for s in ("removed", "added") for x in hunk[s]["lines"])
        if kept and used + size > room:
            break
        used += size
        kept.append(hunk)
    left = len(data["hunks"]) - len(kept)
    data["hunks"] = kept
    data["omitted_hunks"] = left
    if left:
        data["hint"] = f"{left} more change(s) in this page did not fit in max_bytes: raise max_bytes."
    elif data["cursor"]:
        data["hint"] = f"More changes: diff_job(..., cursor={data['cursor']!r})."
    else:
        data["hint"] = None
    return data


async def diff_job(ctx: Context, job_id: str, against: str, cursor: str | None, max_bytes: int) -> dict:
    return await db(_diff, ctx, job_id, against, cursor, max_bytes)
