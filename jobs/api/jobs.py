"""Jobs over the JSON API: exec on a server (inline or as a job), list, read, download, cancel.

Views stay thin: validation lives in the schemas (jobs/api/schemas.py) and jobs.services,
log reads in jobs.log.reader (always through the (job, seq) index), SSH in jobs.runners.inline.
Every route asks servers.permissions (NotPermitted → 403): lists hold only the jobs the
user may see, a job's routes need VIEW (CANCEL) on it, exec needs RUN on the server.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from ninja import Path as PathParam
from ninja import Query, Router, Status
from ninja.errors import HttpError
from ninja.renderers import JSONRenderer

from core.api_errors import error_responses
from jobs import services
from jobs.api.schemas import (
    HELD_NOTE,
    JOB_ID_PATTERN,
    LOGS_DESCRIPTION,
    MAX_SEQ,
    ExecIn,
    ExecOut,
    FleetExecIn,
    JobAccepted,
    JobDetailOut,
    JobFilters,
    JobOut,
    LineOut,
    LogFilters,
    LogsOut,
    job_accepted,
    logs_answer,
)
from jobs.log import logfile, pattern_guard, reader
from jobs.log.filters import parse_filter
from jobs.log.recent_json import recent_lines_json
from jobs.models import Job, JobStatus
from jobs.runners.inline import run_inline_command
from jobs.selectors import job_with_servers
from servers.api import get_server_or_404
from servers.permissions import Action, check, visible_jobs

server_exec_router = Router(tags=["exec"])
jobs_router = Router(tags=["jobs"])
fleet_router = Router(tags=["exec"])

_JOB_ID = re.compile(JOB_ID_PATTERN)
INLINE_DEFAULT_TIMEOUT = settings.INLINE_EXEC_MAX_TIMEOUT // 2


def get_job_or_404(job_id: str) -> Job:
    """The job with its servers and creator, in two queries compiled once (every job route
    starts here): the job row with its creator's name, then its servers, read once for both
    the permission check and the answer."""
    # Ids that cannot exist (path tricks, NUL, ...) are refused before any query or file access.
    job = job_with_servers(job_id) if _JOB_ID.fullmatch(job_id or "") else None
    if job is None:
        raise Http404(f"No job with id {job_id!r}.")
    return job


def permitted_job(request, job_id: str, action: Action = Action.VIEW) -> Job:
    """The job, when the caller may do `action` on it (403 without the role at all, 404 for an
    unknown id, 403 for a job on a server limited to groups the caller is not in)."""
    check(request.auth, action)
    job = get_job_or_404(job_id)
    check(request.auth, action, job=job)
    return job


def _username(request) -> str:
    user = getattr(request, "auth", None) or getattr(request, "user", None)
    return user.get_username() if user is not None and user.is_authenticated else "api"


# ---- exec ------------------------------------------------------------------------------
@server_exec_router.post(
    "{name}/exec",
    response={200: ExecOut, 202: JobAccepted, **error_responses(400, 404, 413, 422)},
    exclude_unset=True,
    summary="Run a shell command (inline or as a job)",
    description=(
        "Inline (the default) waits for the command and answers 200 with its output and exit code; a "
        "command that cannot run (server unreachable, authentication refused, timeout) is still a 200, "
        "with success false and the reason in `error`. With `use_job: true` it answers 202 at once with "
        "the new job's id and URLs. " + HELD_NOTE
    ),
)
def exec_command(request, name: str, payload: ExecIn):
    check(request.auth, Action.RUN)
    server = get_server_or_404(name, user=request.auth)
    check(request.auth, Action.RUN, server=server)
    if payload.use_job:
        return job_accepted(
            services.create_remote_exec_job(
                server=server,
                command=payload.command,
                timeout=payload.timeout,
                working_dir=payload.working_dir,
                created_by=getattr(request, "auth", None),
                via="api",
            )
        )
    if payload.timeout is not None and payload.timeout > settings.INLINE_EXEC_MAX_TIMEOUT:
        raise HttpError(
            422,
            f"Invalid input: timeout: an inline command may run at most {settings.INLINE_EXEC_MAX_TIMEOUT} s; "
            'send "use_job": true to run a longer one as a job.',
        )
    try:
        outcome = run_inline_command(
            server=server,
            command=services.validate_command(payload.command),
            working_dir=services.validate_working_dir(payload.working_dir),
            timeout=payload.timeout or INLINE_DEFAULT_TIMEOUT,
            created_by=getattr(request, "auth", None),  # an inline run is a job too: on record
            via="api",
        ).outcome
    except services.AwaitingApproval as held:  # a policy holds it: a job that waits, not a result
        return job_accepted(held.job)
    result = outcome.result
    return Status(
        200,
        {
            "stdout": result.get("stdout", ""),
            "stderr": result.get("stderr", ""),
            "exit_code": outcome.exit_code,
            "success": outcome.status == JobStatus.SUCCEEDED,
            "truncated": bool(result.get("truncated")),
            "timed_out": outcome.status == JobStatus.TIMED_OUT,
            "error": outcome.error,
        },
    )


@fleet_router.post(
    "exec",
    response={202: JobAccepted, **error_responses(400, 422)},
    exclude_unset=True,
    summary="Run one command on many servers (names and/or tags) as one job",
    description=(
        "Targets are the servers named plus every server carrying one of `tags`, de-duplicated and "
        "sorted by name; at most 1000. At most `forks` servers (1-100, default 10) run at once. Answers "
        "202 at once; every line of the job carries its `host` (filter with `host=` on the logs URL), and "
        "the finished job's `result` holds per host its status (ok, failed, unreachable, timed_out, "
        "cancelled), exit_code, duration_s and error, plus a summary. The job succeeds when every server "
        'did, or with `success: "any"` when at least one did. ' + HELD_NOTE
    ),
)
def fleet_exec(request, payload: FleetExecIn):
    user = getattr(request, "auth", None)
    servers = services.resolve_targets(user=user, servers=payload.servers, tags=payload.tags)
    return job_accepted(
        services.create_fleet_exec_job(
            servers=servers,
            command=payload.command,
            timeout=payload.timeout,
            working_dir=payload.working_dir,
            forks=payload.forks,
            success=payload.success,
            targets={"servers": list(payload.servers or []), "tags": list(payload.tags or [])},
            created_by=user,
            via="api",
        )
    )


# ---- jobs ------------------------------------------------------------------------------
@jobs_router.get("", response={200: list[JobOut], **error_responses(422)}, summary="List jobs, newest first")
def list_jobs(request, filters: Query[JobFilters]):
    check(request.auth, Action.VIEW)
    qs = visible_jobs(request.auth, Job.objects.select_related("server", "created_by").prefetch_related("servers"))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.type:
        qs = qs.filter(job_type=filters.type)
    if filters.server:
        qs = qs.filter(servers__name=filters.server)
    return list(qs[filters.offset : filters.offset + filters.limit])


@jobs_router.get(
    "{job_id}", response={200: JobDetailOut, **error_responses(404, 422)}, summary="One job with its newest lines"
)
def job_detail(request, job_id: str, recent: int = Query(50, ge=0, le=1000, description="how many recent lines")):
    job = permitted_job(request, job_id)
    # One indexed read of the newest rows, each already the JSON of a LineOut: cheap however
    # many lines the job has, and cheap per line. Bounded in bytes like /logs: long lines cut
    # (truncated: true), at most about 4 MiB. The job itself goes through the schema.
    lines = recent_lines_json(job_pk=job.pk, limit=recent, max_bytes=reader.ANSWER_BYTES, cut=reader.LINE_CUT_BYTES)
    job.recent_logs = []
    answer = JobDetailOut.model_validate(job).model_dump()
    del answer["recent_logs"]
    body = _RENDERER.render(request, answer, response_status=200)
    body = f'{body[:-1]}, "recent_logs": [{",".join(lines)}]}}'
    return HttpResponse(body, content_type=_CONTENT_TYPE)


# The API's renderer: livchat/api.py keeps NinjaAPI's default (a test compares the answers' headers).
_RENDERER = JSONRenderer()
_CONTENT_TYPE = f"{_RENDERER.media_type}; charset={_RENDERER.charset}"
# recent_logs is written last, after the rest of the answer; reader rows (reader.cut_line)
# and the database's JSON lines come in the schema's key order.
assert list(JobDetailOut.model_fields)[-1] == "recent_logs"
assert tuple(LineOut.model_fields) == (*reader.LINE_FIELDS, "truncated")


@jobs_router.get(
    "{job_id}/logs",
    response={200: LogsOut, **error_responses(400, 404, 422)},
    summary="Lines of a job: the last `tail`, or forward from `after`, filtered",
    description=LOGS_DESCRIPTION,
)
def job_logs(request, job_id: str, filters: Query[LogFilters]):
    job = permitted_job(request, job_id)
    try:
        flt = parse_filter(
            level=filters.level, stream=filters.stream, q=filters.q, problems=filters.problems, host=filters.host
        )
        page = reader.read_page(job=job, flt=flt, tail=filters.tail, after=filters.after, before=filters.before)
    except pattern_guard.LogQueryError as exc:
        raise services.JobInputError(str(exc)) from None
    return logs_answer(job, page, forward=filters.after is not None)


@jobs_router.get(
    "{job_id}/lines/{seq}",
    response={200: LineOut, **error_responses(404, 422)},
    summary="One whole line by its seq (list answers cut lines longer than 8 KiB)",
)
def job_line(request, job_id: str, seq: int = PathParam(..., ge=1, le=MAX_SEQ)):
    job = permitted_job(request, job_id)
    line = reader.line_at(job=job, seq=seq)
    if line is None:
        raise Http404(f"Job {job.job_id} has no line {seq}.")
    return line


@jobs_router.get(
    "{job_id}/logs/download",
    response={200: None, **error_responses(404)},
    summary="The whole log file (text/plain)",
    openapi_extra={
        # An int key, as ninja's own: a "200" string key would declare the response twice.
        "responses": {
            200: {
                "description": "one line per log row: [YYYY-MM-DD HH:MM:SS] LEVEL stream: message (UTC)",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        }
    },
)
def job_log_download(request, job_id: str):
    job = permitted_job(request, job_id)
    path = logfile.existing_path(job.job_id)
    if path is not None:
        response = FileResponse(open(path, "rb"), content_type="text/plain; charset=utf-8")  # noqa: SIM115
    elif job.logs_expired_at is None and job.last_seq:
        # The file lives on the worker's disk; on another web machine, rebuild it from rows.
        response = StreamingHttpResponse(logfile.iter_text(job=job), content_type="text/plain; charset=utf-8")
    else:
        raise Http404(f"The log file of {job.job_id} is gone (expired or never written).")
    response["Content-Disposition"] = f'attachment; filename="{job.job_id}.log"'
    response["X-Log-Timezone"] = "UTC"  # the file's [YYYY-MM-DD HH:MM:SS] times
    return response


@jobs_router.post(
    "{job_id}/cancel",
    response={202: JobOut, **error_responses(404, 409)},
    summary="Cancel a pending or running job (409 if it has already finished)",
)
def cancel_job(request, job_id: str):
    job = permitted_job(request, job_id, Action.CANCEL)
    if job.is_final:
        raise HttpError(409, f"Job {job.job_id} has already finished ({job.status}).")
    try:
        job = services.request_cancel(
            job=job, requested_by=_username(request), actor=getattr(request, "auth", None), via="api"
        )
    except services.JobInputError as exc:  # it finished meanwhile: the same conflict
        raise HttpError(409, str(exc)) from None
    return Status(202, job)
