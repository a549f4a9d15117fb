"""GET /api/logs/search: every job's log at once (jobs/log/search_jobs.py), newest job first,
only the jobs the caller may see. A sync view: daphne runs it in a worker thread, so a long
search never holds the event loop; it ends within its time budget with `partial` and a cursor."""

from __future__ import annotations

from typing import Literal

from ninja import Field, Query, Router, Schema

from core.api_errors import error_responses
from jobs import services
from jobs.api.schemas import job_urls
from jobs.log import search_jobs
from jobs.models import JobStatus
from servers.permissions import Action, check

search_router = Router(tags=["search"])
JobStatusName = Literal[tuple(JobStatus.values)]  # the statuses, from their one definition


class SearchFilters(Schema):
    q: str = Field(..., min_length=1, max_length=500, description="what to find (a literal substring unless regex)")
    regex: bool = Field(False, description="q is a regular expression (the per-job search's syntax and limits)")
    server: str | None = Field(None, max_length=100, description="jobs on this server")
    tag: str | None = Field(None, max_length=100, description="jobs on a server with this tag")
    template: str | None = Field(None, max_length=100, description="runs of this template")
    type: Literal["remote_exec", "playbook"] | None = None
    status: JobStatusName | None = Field(None, description="e.g. failed")
    since: str | None = Field(None, max_length=40, description="24h, 7d, or a date such as 2026-12-01")
    until: str | None = Field(None, max_length=40, description="24h (that long ago), or a date")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = Field(
        None, description="this level or worse, e.g. ERROR"
    )
    stream: Literal["stdout", "stderr", "system"] | None = None
    host: str | None = Field(None, max_length=255, description="lines of this host (many-server and playbook jobs)")
    limit: int = Field(20, ge=1, le=search_jobs.MAX_LIMIT, description="jobs a page")
    cursor: str | None = Field(None, max_length=100, description="`cursor` of the previous page")


class HitLine(Schema):
    seq: int
    message: str = Field(description="the line as printed (escape codes out), cut at 500 characters")
    level: str
    stream: str
    host: str | None = None
    ts: str


class JobHitsOut(Schema):
    job_id: str
    job_type: str
    status: str
    created_at: str
    servers: list[str]
    match_count: int = Field(description="lines of this job that match")
    lines: list[HitLine] = Field(description="its first matching lines")
    url: str = Field(description="the job's page at the first matching line")
    urls: dict


class SearchOut(Schema):
    jobs: list[JobHitsOut]
    partial: bool = Field(description="the time budget ran out: `cursor` goes on from the last job searched")
    cursor: str | None = Field(description="pass back as `cursor` for the next page; null: nothing more")
    scanned: int = Field(description="jobs searched for this page")


def answer(page: search_jobs.SearchPage) -> dict:
    """The fixed shape of a search answer (the API, the CLI's --json and MCP share it)."""
    out = []
    for hits in page.jobs:
        job = hits.job
        first = hits.lines[0]["seq"] if hits.lines else 1
        out.append(
            {
                "job_id": job.job_id,
                "job_type": job.job_type,
                "status": job.status,
                "created_at": job.created_at.isoformat(),
                "servers": sorted({s.name for s in job.servers.all()}),
                "match_count": hits.match_count,
                "lines": hits.lines,
                "url": f"/jobs/{job.job_id}/#L{first}",
                "urls": job_urls(job.job_id),
            }
        )
    return {"jobs": out, "partial": page.partial, "cursor": page.cursor, "scanned": page.scanned}


def run_search(*, user, filters: SearchFilters) -> dict:
    """The search a caller asks for, as the fixed answer; JobInputError for input to fix."""
    try:
        jobs = search_jobs.candidate_jobs(
            user=user,
            server=filters.server,
            tag=filters.tag,
            template=filters.template,
            type=filters.type,
            status=filters.status,
            since=filters.since,
            until=filters.until,
        )
        query = search_jobs.Query(
            text=filters.q, regex=filters.regex, level=filters.level, stream=filters.stream, host=filters.host
        )
        page = search_jobs.search_jobs(jobs=jobs, query=query, limit=filters.limit, cursor=filters.cursor)
    except (search_jobs.SearchInputError, search_jobs.LogQueryError) as exc:
        raise services.JobInputError(str(exc)) from None
    return answer(page)


@search_router.get(
    "search",
    response={200: SearchOut, **error_responses(400, 422)},
    summary="Search every job's lines at once, newest job first",
    description=(
        "Matches what a person sees printed (escape codes out). Only jobs you may see are searched, "
        "running ones too. A page ends within a time budget: `partial: true` with a `cursor` to go on. "
        "Each job comes with its match count, its first matching lines and a link to the first one."
    ),
)
def search_logs(request, filters: Query[SearchFilters]):
    check(request.auth, Action.VIEW)
    return run_search(user=request.auth, filters=filters)
