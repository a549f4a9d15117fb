"""The MCP tool bodies. Each one finds who is asking and what they name (livchat.mcp.pages), asks
servers.permissions, and calls jobs.services / jobs.log.reader exactly as the JSON API does.

The ORM is sync: every read or write runs in a worker thread (`db`), never on the event loop.
Waiting (run_*, wait_job, cancel_job) follows the job with reader.follow_rows, the one "status,
then rows after my cursor" loop, and sends each new latest line as a progress notification, at
most PROGRESS_EVERY apart, so clients that reset their timeout on progress keep waiting.
Cancelling a waiting call stops the waiting only: the job runs on.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import partial

from asgiref.sync import sync_to_async
from django.db.models import Q
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from jobs import services
from jobs.log import filters, reader
from jobs.log.partial import PartialReader
from jobs.log.pattern_guard import LogQueryError
from jobs.models import FINAL_STATUSES, Job, JobStatus, JobType
from jobs.runners.playbook.catalog import list_playbooks
from jobs.services import create_playbook_job
from livchat.mcp import budget, pages
from servers.models import Server
from servers.permissions import Action, NotPermitted, usable_servers, visible_jobs

TICK = 0.1  # seconds between two looks at a followed job
PROGRESS_EVERY = 0.5  # at most 2 progress notifications a second
PROGRESS_TEXT = 300  # a progress message is the latest line, cut to this many characters
FOLLOW_BATCH = 1000
WAIT_TAIL = 5  # wait_job's compact answer: the last few lines
CANCEL_WAIT_S = 30


async def db(fn, /, *args, **kwargs):
    """Run ORM work in a worker thread. Not thread-sensitive: under daphne the one shared sync
    thread serves every page and handshake, and a long log read must not hold it."""
    try:
        return await sync_to_async(partial(fn, *args, **kwargs), thread_sensitive=False)()
    except (services.JobInputError, LogQueryError, NotPermitted, services.ApprovalConflict) as exc:
        # A policy's refusal is a NotPermitted naming the rule and why: the agent reads it.
        raise ToolError(str(exc)) from None


# ---- following a job ---------------------------------------------------------------------------
class Follower:
    """Follows one job from a cursor and sends its newest line as progress; so is a line the job
    is redrawing with `\r` (a progress bar) when it follows the last line read
    (jobs/log/partial.py). Waiting for the end needs only a glance a tick: the job's state and
    its newest line, two indexed reads however many lines came. With `counting`, it reads every
    new row (follow_rows), to stop once `max_bytes` of them came (wait_job(lines=true))."""

    def __init__(self, ctx: Context, job: Job, after: int, *, counting: bool = False) -> None:
        self.ctx = ctx
        self.job = job
        self.counting = counting
        if counting:
            self.rows = reader.follow_rows(job_pk=job.pk, after=after, limit=FOLLOW_BATCH, max_bytes=4 << 20)
        self.cursor = after
        self.new_bytes = 0
        self.latest: str | None = None
        self.sent_at = 0.0
        self.done = False
        self.partials = PartialReader(job.job_id)
        self.held = job.status == JobStatus.AWAITING_APPROVAL

    def _round(self) -> None:
        """One look (sync, in a thread)."""
        if self.held and self._still_held():
            return
        if self.counting:
            self._read_rows()
        else:
            self._glance()

    def _still_held(self) -> bool:
        """While people decide, the progress says who and which rule; the job has no lines yet."""
        status = Job.objects.filter(pk=self.job.pk).values_list("status", flat=True).first()
        if status == JobStatus.AWAITING_APPROVAL:
            if time.monotonic() - self.sent_at < PROGRESS_EVERY:
                return True
            info = services.approval_info(self.job) or {}
            self.latest = (
                f"waiting for approval by {info.get('approvers', '?')}, rule {info.get('rule', '?')} "
                f"({info.get('approvals', 0)} of {info.get('approvals_needed', 1)})"
            )
            return True
        self.held = False
        return False

    def _glance(self) -> None:
        state = Job.objects.filter(pk=self.job.pk).values("status", "last_seq").first()
        if state is None:
            raise ToolError("The job was deleted while it was followed.")
        if state["last_seq"] > self.cursor:
            newest = reader.recent_lines(job=self.job, limit=1)
            if newest:
                self.latest = newest[0]["message"]
            self.cursor = state["last_seq"]
        # A final status is written after the last line: once seen, last_seq is the end.
        self.done = state["status"] in FINAL_STATUSES
        if not self.done:
            self._take_partial()

    def _read_rows(self) -> None:
        """One round of follow_rows: every row after the cursor, then the state."""
        try:
            for item in self.rows:
                if isinstance(item, reader.Round):
                    self.cursor = item.cursor
                    self.done = item.done
                    if not item.final:
                        self._take_partial()
                    return
                self.new_bytes += sum(len(r["message"]) + budget.LINE_OVERHEAD for r in item)
                self.latest = item[-1]["message"]
                self.cursor = item[-1]["seq"]
        except reader.JobGone:
            raise ToolError("The job was deleted while it was followed.") from None
        self.done = True  # the generator ended: its last round was done

    def _take_partial(self) -> None:
        for part in self.partials.poll(upto=self.cursor):
            if part["text"] and part["after"] >= self.cursor:  # newer than the last line read
                self.latest = part["text"]

    async def _progress(self) -> None:
        if self.latest is None or time.monotonic() - self.sent_at < PROGRESS_EVERY:
            return
        message = budget.strip_ansi(self.latest)[:PROGRESS_TEXT]
        self.latest = None
        self.sent_at = time.monotonic()
        await self.ctx.report_progress(self.cursor, None, message)

    async def until(self, seconds: float, *, max_bytes: int | None = None) -> None:
        """Follow until the job is over and read, `seconds` pass, or `max_bytes` of new lines came."""
        deadline = time.monotonic() + seconds
        while True:
            await db(self._round)
            await self._progress()
            if self.done or (max_bytes is not None and self.new_bytes >= max_bytes):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(TICK, left))


# ---- the tools -----------------------------------------------------------------------------------
def _list_servers(ctx: Context) -> dict:
    user = pages.who(ctx)
    pages.allowed(user, Action.VIEW)
    return {
        "servers": [
            {
                "name": s.name,
                "host": s.host,
                "port": s.port,
                "username": s.username,
                "tags": [str(t) for t in s.tags or []],
                "description": s.description,
                "host_key_pinned": bool(s.host_key_fingerprint),
            }
            for s in usable_servers(user).order_by("name")
        ]
    }


async def list_servers(ctx: Context) -> dict:
    return await db(_list_servers, ctx)


def _list_playbooks(ctx: Context) -> dict:
    pages.allowed(pages.who(ctx), Action.VIEW)
    return {"playbooks": [{"name": p.name, "source": p.source, "description": p.description} for p in list_playbooks()]}


async def list_playbooks_tool(ctx: Context) -> dict:
    return await db(_list_playbooks, ctx)


def _job_info(job: Job) -> dict:
    params = job.params or {}
    what = params.get("command") if job.job_type == JobType.REMOTE_EXEC else params.get("playbook")
    what = str(what or "")
    return {
        "job_id": job.job_id,
        "type": job.job_type,
        "status": job.status,
        "servers": sorted({s.name for s in job.servers.all()} | ({job.server.name} if job.server else set())),
        "what": what if len(what) <= 200 else what[:200] + "…",
        "exit_code": job.exit_code,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "created_by": job.created_by.get_username() if job.created_by else None,
    }


def _list_jobs(ctx: Context, server: str | None, status: str | None, limit: int) -> dict:
    user = pages.who(ctx)
    pages.allowed(user, Action.VIEW)
    qs = visible_jobs(user, Job.objects.select_related("server", "created_by").prefetch_related("servers"))
    if server:
        found = pages.find_server(user, server, Action.VIEW)
        qs = qs.filter(Q(servers=found) | Q(server=found)).distinct()
    if status:
        qs = qs.filter(status=status)
    return {"jobs": [_job_info(job) for job in qs.order_by("-created_at", "-pk")[:limit]]}


async def list_jobs(ctx: Context, server: str | None, status: str | None, limit: int) -> dict:
    return await db(_list_jobs, ctx, server, status, limit)


@dataclass(frozen=True)
class Fleet:
    """run_command's several-servers arguments (servers and/or tags: one job on all of them)."""

    servers: list[str] | None = None
    tags: list[str] | None = None
    forks: int | None = None
    success: str = "all"

    def wanted(self) -> bool:
        return bool(self.servers or self.tags)


def _start_command(
    ctx: Context, server: str | None, command: str, timeout_s: int, working_dir: str | None, fleet: Fleet
) -> Job:
    user = pages.who(ctx)
    if not fleet.wanted():
        if not server:
            raise ToolError("Give server (one name), or servers and/or tags (list_servers shows them).")
        target = pages.find_server(user, server, Action.RUN)
        return services.create_remote_exec_job(
            server=target, command=command, timeout=timeout_s, working_dir=working_dir, created_by=user, via="mcp"
        )
    pages.allowed(user, Action.RUN)
    names = ([server] if server else []) + list(fleet.servers or [])
    targets = services.resolve_targets(user=user, servers=names, tags=fleet.tags)
    return services.create_fleet_exec_job(
        servers=targets,
        command=command,
        timeout=timeout_s,
        working_dir=working_dir,
        forks=fleet.forks,
        success=fleet.success,
        targets={"servers": names, "tags": list(fleet.tags or [])},
        created_by=user,
        via="mcp",
    )


def _start_playbook(ctx: Context, playbook: str, servers: list[str], extra_vars: dict | None, check: bool) -> Job:
    user = pages.who(ctx)
    pages.allowed(user, Action.RUN)
    if not servers:
        raise ToolError("servers must name at least one server (list_servers shows them).")
    targets: list[Server] = [pages.find_server(user, name, Action.RUN) for name in dict.fromkeys(servers)]
    return create_playbook_job(
        playbook=playbook, servers=targets, extra_vars=extra_vars, check=check, created_by=user, via="mcp"
    )


async def started(ctx: Context, job: Job, *, wait_s: float, tail: int, max_bytes: int) -> dict:
    """After starting a job: follow it up to `wait_s`, then its page (finished, or still running).
    A job a policy holds answers at once: people decide, and the agent tells its human."""
    if wait_s > 0 and job.status != JobStatus.AWAITING_APPROVAL:
        await Follower(ctx, job, 0).until(wait_s)
    return await db(pages.page, job=job, flt=filters.LineFilter(), after=None, tail=tail, max_bytes=max_bytes)


async def run_command(
    ctx: Context, server, command, timeout_s, working_dir, wait_s, tail, max_bytes, *, fleet: Fleet = Fleet()
) -> dict:
    job = await db(_start_command, ctx, server, command, timeout_s, working_dir, fleet)
    return await started(ctx, job, wait_s=wait_s, tail=tail, max_bytes=max_bytes)


async def run_playbook(ctx: Context, playbook, servers, extra_vars, check, wait_s, tail, max_bytes) -> dict:
    job = await db(_start_playbook, ctx, playbook, servers, extra_vars, check)
    return await started(ctx, job, wait_s=wait_s, tail=tail, max_bytes=max_bytes)


def _get_job(ctx: Context, job_id, after_seq, tail, level, stream, grep, max_bytes, host, problems) -> dict:
    job = pages.find_job(pages.who(ctx), job_id)
    flt = filters.parse_filter(level=level, stream=stream, q=grep, host=host, problems=problems)
    return pages.page(job=job, flt=flt, after=after_seq, tail=tail, max_bytes=max_bytes)


async def get_job(
    ctx: Context, job_id, after_seq, tail, level, stream, grep, max_bytes, *, host=None, problems=False
) -> dict:
    return await db(_get_job, ctx, job_id, after_seq, tail, level, stream, grep, max_bytes, host, problems)


async def wait_job(
    ctx: Context, job_id: str, after_seq: int, timeout_s: float, max_bytes: int, *, lines=False, tail=None
) -> dict:
    """Compact by default: wait for the end (or timeout_s), then the state, the last few lines
    and the problem lines since after_seq. With `lines`, every new line (head and tail within
    max_bytes), answering as soon as max_bytes of them arrived."""
    job = await db(lambda: pages.find_job(pages.who(ctx), job_id))
    follower = Follower(ctx, job, after_seq, counting=lines)
    if lines:
        await follower.until(timeout_s, max_bytes=budget.line_room(max_bytes))
        return await db(pages.new_lines, job=job, after=after_seq, max_bytes=max_bytes)
    await follower.until(timeout_s)
    shown = WAIT_TAIL if tail is None else tail
    return await db(pages.latest, job=job, after=after_seq, tail=shown, max_bytes=max_bytes)


def _search(ctx: Context, job_id, pattern, context_lines, max_matches, after_seq, max_bytes) -> dict:
    job = pages.find_job(pages.who(ctx), job_id)
    flt = filters.parse_filter(q=pattern)
    room, cut = budget.line_room(max_bytes) * 2, budget.line_cut(max_bytes)
    found = reader.read_page(
        job=job, flt=flt, tail=max_matches, after=after_seq, max_bytes=reader.ANSWER_BYTES, cut=cut
    )
    matches, used, truncated = [], 0, False
    for row in found.lines:
        match = {"seq": row["seq"], "line": budget.agent_line(row, cut), "before": [], "after": []}
        if context_lines:
            near = reader.read_page(
                job=job,
                flt=filters.LineFilter(),
                after=max(0, row["seq"] - context_lines - 1),
                tail=2 * context_lines + 1,
                max_bytes=None,
                cut=cut,
            ).lines
            match["before"] = [budget.agent_line(r, cut) for r in near if r["seq"] < row["seq"]]
            match["after"] = [budget.agent_line(r, cut) for r in near if r["seq"] > row["seq"]]
        size = sum(budget.cost(x) for x in [match["line"], *match["before"], *match["after"]])
        if matches and used + size > room:
            truncated = True
            break
        matches.append(match)
        used += size
    has_more = found.has_more or truncated
    return {
        "job_id": job.job_id,
        "pattern": pattern,
        "matches": matches,
        "has_more": has_more,
        "next_seq": matches[-1]["seq"] if has_more and matches else None,
        "truncated": truncated,
    }


async def search_job_log(ctx: Context, job_id, pattern, context_lines, max_matches, after_seq, max_bytes) -> dict:
    return await db(_search, ctx, job_id, pattern, context_lines, max_matches, after_seq, max_bytes)


def _cancel(ctx: Context, job_id: str) -> Job:
    user = pages.who(ctx)
    job = pages.find_job(user, job_id, Action.CANCEL)
    return services.request_cancel(job=job, requested_by=user.get_username(), actor=user, via="mcp")


async def cancel_job(ctx: Context, job_id: str) -> dict:
    job = await db(_cancel, ctx, job_id)
    if not job.is_final:  # a running job is stopped by its worker, which kills the remote tree
        await Follower(ctx, job, job.last_seq).until(CANCEL_WAIT_S)
    return await db(pages.page, job=job, flt=filters.LineFilter(), after=None, tail=10, max_bytes=8000)


def _recap(ctx: Context, job_id: str) -> dict:
    job = pages.find_job(pages.who(ctx), job_id)
    if job.job_type != JobType.PLAYBOOK:
        raise ToolError(f"Job {job.job_id} is a {job.job_type} job; only playbook jobs have a recap.")
    return {
        "job_id": job.job_id,
        "status": job.status,
        "playbook": str((job.params or {}).get("playbook", "")),
        "recap": pages.recap(job, zeros=True),
        "error": job.error,
    }


async def get_playbook_recap(ctx: Context, job_id: str) -> dict:
    return await db(_recap, ctx, job_id)
