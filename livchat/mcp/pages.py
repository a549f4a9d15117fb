"""Sync reads behind the MCP tools (run in worker threads): who is asking, the job and server
they name, and a job's state and lines as a budgeted page. Permission answers come from
servers.permissions, lines from jobs.log.reader; nothing here decides anything new."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone
from mcp.server.mcpserver.exceptions import ToolError

from jobs import outcome
from jobs.api.schemas import JOB_ID_PATTERN
from jobs.log import filters, reader
from jobs.log.problems import last_problems
from jobs.models import Job, JobLogMark, JobStatus, JobType
from jobs.services import approval_info, approvers_of
from livchat.mcp import budget
from servers.permissions import TOKEN_SCOPE_ATTR, Action, NotPermitted, check, usable_servers, visible_jobs

SCOPE_USER = "livchat.user"  # where the HTTP auth leaves the user in the ASGI scope
AUTH_REQUIRED = "Authentication required: send 'Authorization: Bearer <LivChat API token>'."
WINDOW_LINES = 2000  # the most lines read for one side (head or tail) of a page
PROBLEM_LINES = 10  # the last problem lines an answer carries
PROBLEM_CHARS = 200  # each cut to this many characters
PROBLEM_BYTES = 1500  # and the last that fit in this many bytes
_JOB_ID = re.compile(JOB_ID_PATTERN)


# ---- who, and what they name ------------------------------------------------------------------
def who(ctx):
    """The user a tool call acts for: from the HTTP request's bearer token, or the server's fixed
    user (stdio, `manage.py mcp --user`), read again on every call so role changes apply at once."""
    request = ctx.request_context.request
    if request is not None:
        user = request.scope.get(SCOPE_USER)
        if user is None:
            raise ToolError(AUTH_REQUIRED)
        return user
    identity = getattr(ctx.mcp_server, "livchat_identity", None)
    if identity is None:
        raise ToolError(AUTH_REQUIRED)
    pk, scope = identity
    user = get_user_model().objects.filter(pk=pk, is_active=True).first()
    if user is None:
        raise ToolError("The user this MCP server runs as no longer exists or is inactive.")
    if scope:
        setattr(user, TOKEN_SCOPE_ATTR, scope)
    return user


def allowed(user, action: Action, **target) -> None:
    try:
        check(user, action, **target)
    except NotPermitted as exc:
        raise ToolError(str(exc)) from None


def find_server(user, name: str, action: Action):
    """The server called `name` when the user may use it; one message for unknown and forbidden
    (a server limited to other groups is not revealed)."""
    allowed(user, action)
    found = usable_servers(user).select_related("credential").filter(name=name).first()
    if found is None:
        names = list(usable_servers(user).order_by("name").values_list("name", flat=True)[:30])
        known = f" Servers you may use: {', '.join(names)}." if names else " You may use no server."
        raise ToolError(f"Unknown or not permitted server {name!r}.{known} (list_servers shows them.)")
    allowed(user, action, server=found)
    return found


def find_job(user, job_id: str, action: Action = Action.VIEW) -> Job:
    allowed(user, action)
    job = None
    if isinstance(job_id, str) and _JOB_ID.fullmatch(job_id):
        jobs = Job.objects.select_related("server", "created_by").prefetch_related("servers")
        job = visible_jobs(user, jobs).filter(job_id=job_id).first()
    if job is None:
        raise ToolError(
            f"Unknown or not permitted job {job_id!r}: job ids look like 'remote_exec-1a2b3c4d'; "
            "list_jobs shows the jobs you may see."
        )
    allowed(user, action, job=job)
    return job


# ---- a job as a page ----------------------------------------------------------------------------
def summary(job: Job) -> dict:
    counts = {"error_lines": 0, "warning_lines": 0, "stderr_lines": 0}
    for row in JobLogMark.objects.filter(job=job).values("level", "stream").annotate(n=Count("seq")):
        if row["level"] in ("ERROR", "CRITICAL"):
            counts["error_lines"] += row["n"]
        elif row["level"] == "WARNING":
            counts["warning_lines"] += row["n"]
        if row["stream"] == "stderr":
            counts["stderr_lines"] += row["n"]
    duration = None
    if job.started_at:
        duration = round(((job.finished_at or timezone.now()) - job.started_at).total_seconds(), 3)
    return {"total_lines": job.line_count, **counts, "duration_s": duration}


def recap(job: Job, *, zeros: bool = False) -> dict | None:
    result = job.result if isinstance(job.result, dict) else {}
    hosts = result.get("hosts")
    if job.job_type != JobType.PLAYBOOK or not isinstance(hosts, dict):
        return None
    # Zero counts are left out (the schema's default): two hosts' zeros cost an agent 200 bytes.
    counts = {h: {k: n for k, n in c.items() if n or zeros} for h, c in hosts.items() if isinstance(c, dict)}
    return {"hosts": counts, "failed_tasks": outcome.failed_tasks(job)}


def problems(job: Job, *, after: int | None) -> dict:
    """The problem lines an answer carries: a job that failed, timed out or was cancelled always
    carries its last ones (the reason); wait_job (`after`) the new ones since its cursor. The
    last ones that fit in PROBLEM_BYTES, each cut to PROBLEM_CHARS."""
    went_wrong = job.is_final and job.status != JobStatus.SUCCEEDED
    if not went_wrong and after is None:
        return {"problems": [], "problem_count": 0}
    found = last_problems(job=job, limit=PROBLEM_LINES, cut=PROBLEM_CHARS, after=0 if went_wrong else after)
    lines = [budget.agent_line({**row, "truncated": row["cut"]}, PROBLEM_CHARS) for row in found.lines]
    kept, used = [], 0
    for line in reversed(lines):
        used += budget.cost(line)
        if kept and used > PROBLEM_BYTES:
            break
        kept.append(line)
    return {"problems": kept[::-1], "problem_count": found.total}


def _state(job: Job) -> dict:
    return {
        "job_id": job.job_id,
        "status": job.status,
        "exit_code": job.exit_code,
        "error": job.error,
        "current_step": job.current_step,
        "progress": job.progress,
        "summary": summary(job),
        "recap": recap(job),
        "failed_hosts": outcome.failed_hosts(job),
        **_approval(job),
    }


def _approval(job: Job) -> dict:
    """`approval` for a job a policy held (absent otherwise: most jobs pay one indexed read)."""
    info = approval_info(job)
    if info is None:
        return {}
    info.pop("votes")
    info["who_can_approve"] = approvers_of(job)[:20]
    return {"approval": info}


def page(*, job: Job, flt: filters.LineFilter, after: int | None, tail: int, max_bytes: int) -> dict:
    """get_job's page: the last `tail` matching lines, or the first `tail` after `after`, in
    `max_bytes` (the head and the tail kept when they do not all fit)."""
    job.refresh_from_db()
    last_seq = job.last_seq
    room, cut = budget.line_room(max_bytes), budget.line_cut(max_bytes)
    if tail == 0:
        fitted, has_more = budget.Fitted(lines=[]), last_seq > (after or 0)
    elif flt.narrows() or flt.pattern is not None:
        # Filtered: the matching lines are read (at most about 4 MiB of them) and then fitted.
        got = reader.read_page(job=job, flt=flt, tail=tail, after=after, max_bytes=reader.ANSWER_BYTES, cut=cut)
        fitted, has_more = budget.fit([budget.agent_line(r, cut) for r in got.lines], room), got.has_more
    elif after is None:  # seqs are dense: the last `tail` lines are those after last_seq - tail
        start = max(0, last_seq - tail)
        fitted, has_more = _window(job, after=start, before=None, room=room, cut=cut), start > 0
    else:
        fitted = _window(job, after=after, before=after + tail + 1, room=room, cut=cut)
        has_more = last_seq > after + tail
    shown = [line["seq"] for line in fitted.lines]
    if after is not None and has_more:  # read on after the last line this page covered
        filtered = flt.narrows() or flt.pattern is not None
        next_seq = (shown[-1] if shown else after) if filtered else after + tail
    else:
        next_seq = max(last_seq, shown[-1] if shown else 0, after or 0)
    # A page of problem lines is the reason itself: not repeated in `problems`.
    return _assemble(job, fitted, next_seq=next_seq, has_more=has_more, reason_lines=not flt.problems)


def new_lines(*, job: Job, after: int, max_bytes: int) -> dict:
    """wait_job(lines=true)'s page: every line after `after` up to the end, as the head and the
    tail that fit in `max_bytes` (the lines between are counted and named, not sent)."""
    job.refresh_from_db()
    room, cut = budget.line_room(max_bytes), budget.line_cut(max_bytes)
    fitted = _window(job, after=after, before=None, room=room, cut=cut)
    shown = fitted.lines
    next_seq = max(job.last_seq, shown[-1]["seq"] if shown else 0, after)
    return _assemble(job, fitted, next_seq=next_seq, has_more=False, problems_after=after)


def latest(*, job: Job, after: int, tail: int, max_bytes: int) -> dict:
    """wait_job's compact page: the state, the last `tail` lines after `after` and the problem
    lines since `after`; the other new lines are counted and named, not sent."""
    job.refresh_from_db()
    room, cut = budget.line_room(max_bytes), budget.line_cut(max_bytes)
    start = max(after, job.last_seq - tail)
    fitted = _window(job, after=start, before=None, room=room, cut=cut) if tail else budget.Fitted(lines=[])
    first_shown = fitted.lines[0]["seq"] if fitted.lines else job.last_seq + 1
    if first_shown - 1 > after and not fitted.omitted:  # the new lines before the last few
        fitted.omitted, fitted.omitted_from, fitted.omitted_to = first_shown - 1 - after, after + 1, first_shown - 1
    next_seq = max(job.last_seq, after)
    return _assemble(job, fitted, next_seq=next_seq, has_more=False, problems_after=after)


def _window(job: Job, *, after: int, before: int | None, room: int, cut: int) -> budget.Fitted:
    """The lines with after < seq < before (or to the end), as the head and the tail that fit in
    `room`: the head is read forward from `after`, the tail backward from `before`, and only
    when they meet are all lines read, so a million-line gap costs two small reads."""
    everything = filters.LineFilter()
    head = reader.read_page(
        job=job, flt=everything, after=after, before=before, tail=WINDOW_LINES, max_bytes=room, cut=cut
    )
    head_lines = [budget.agent_line(r, cut) for r in head.lines]
    tail_lines: list[dict] = []
    gap = 0
    if head.has_more and head_lines:
        end = reader.read_page(job=job, flt=everything, before=before, tail=WINDOW_LINES, max_bytes=room, cut=cut)
        tail_lines = [budget.agent_line(r, cut) for r in end.lines if r["seq"] > head_lines[-1]["seq"]]
        if tail_lines:  # seqs are dense: what lies between was not read
            gap = tail_lines[0]["seq"] - head_lines[-1]["seq"] - 1
    return budget.fit(head_lines, room, tail_lines=tail_lines, gap=gap)


def _assemble(
    job: Job,
    fitted: budget.Fitted,
    *,
    next_seq: int,
    has_more: bool,
    problems_after: int | None = None,
    reason_lines: bool = True,
) -> dict:
    data = _state(job)
    data.update(problems(job, after=problems_after) if reason_lines else {"problems": [], "problem_count": 0})
    hint = budget.omitted_hint(job.job_id, fitted)
    if job.status == JobStatus.AWAITING_APPROVAL:
        more = (
            f"A policy holds this job for people to approve: tell your human `approval.message`. "
            f"wait_job(job_id={job.job_id!r}) waits through the decision; cancel_job withdraws it."
        )
        hint = f"{hint} {more}" if hint else more
    elif job.status in (JobStatus.PENDING, JobStatus.RUNNING):
        more = (
            f"The job is still {job.status}: wait_job(job_id={job.job_id!r}, after_seq={next_seq}) follows it; "
            f"cancel_job(job_id={job.job_id!r}) stops it."
        )
        hint = f"{hint} {more}" if hint else more
    data.update(
        lines=fitted.lines,
        next_seq=next_seq,
        has_more=has_more,
        omitted=fitted.omitted,
        omitted_from_seq=fitted.omitted_from,
        omitted_to_seq=fitted.omitted_to,
        truncated=fitted.cut,
        hint=hint,
    )
    return data
