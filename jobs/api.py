from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404
from ninja import Field, Query, Router, Schema

from jobs import selectors, services
from jobs.executors.remote import stream_command
from jobs.models import Job, JobStatus, JobType
from servers import ssh
from servers.api import get_server_or_404
from servers.services import pin_host_key, target_for

server_exec_router = Router(tags=["exec"])
jobs_router = Router(tags=["jobs"])
playbooks_router = Router(tags=["playbooks"])

JOB_ID_PATTERN = r"^[a-z_]+-[0-9a-f]{8}$"


# ---- schemas ---------------------------------------------------------------------------
class ExecIn(Schema):
    command: str = Field(..., min_length=1, max_length=100_000)
    timeout: int | None = Field(None, ge=1, le=settings.JOB_MAX_TIMEOUT, description="seconds")
    working_dir: str | None = Field(None, max_length=4096)
    use_job: bool = False


class ExecOut(Schema):
    stdout: str
    stderr: str
    exit_code: int | None
    success: bool
    truncated: bool
    timed_out: bool
    error: str


class JobAccepted(Schema):
    job_id: str
    status: str
    urls: dict


class LineOut(Schema):
    seq: int
    ts: datetime
    level: str
    stream: str
    message: str
    host: str = ""
    task: str = ""
    event: str = ""


class JobOut(Schema):
    job_id: str
    job_type: str
    status: str
    progress: int
    current_step: str
    exit_code: int | None
    error: str
    server: str | None
    servers: list[str]
    params: dict
    timeout: int
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    cancel_requested_at: datetime | None
    line_count: int
    last_seq: int
    logs_expired: bool
    urls: dict

    @staticmethod
    def resolve_server(obj: Job) -> str | None:
        return obj.server.name if obj.server_id else None

    @staticmethod
    def resolve_servers(obj: Job) -> list[str]:
        return [s.name for s in obj.servers.all()]

    @staticmethod
    def resolve_created_by(obj: Job) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None

    @staticmethod
    def resolve_logs_expired(obj: Job) -> bool:
        return obj.logs_expired_at is not None

    @staticmethod
    def resolve_urls(obj: Job) -> dict:
        return job_urls(obj.job_id)


class JobDetailOut(JobOut):
    result: dict
    recent_logs: list[LineOut]


class LogsOut(Schema):
    job_id: str
    status: str
    last_seq: int
    count: int
    lines: list[LineOut]


class JobFilters(Schema):
    status: JobStatus | None = None
    type: JobType | None = None
    server: str | None = Field(None, max_length=100)
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)


class LogFilters(Schema):
    tail: int = Field(100, ge=1, le=selectors.MAX_TAIL)
    level: str | None = Field(None, max_length=16, description="minimum level")
    stream: str | None = Field(None, max_length=16)
    q: str | None = Field(None, max_length=selectors.MAX_PATTERN_LENGTH, description="regular expression")
    after: int | None = Field(None, ge=0, description="read forward from this seq")


def job_urls(job_id: str) -> dict:
    return {
        "api": f"/api/jobs/{job_id}",
        "logs": f"/api/jobs/{job_id}/logs",
        "download": f"/api/jobs/{job_id}/logs/download",
        "cancel": f"/api/jobs/{job_id}/cancel",
        "page": f"/jobs/{job_id}/",
        "websocket": f"/ws/jobs/{job_id}/",
    }


def get_job_or_404(job_id: str) -> Job:
    job = Job.objects.select_related("server", "created_by").filter(job_id=job_id).first()
    if job is None:
        raise Http404(f"No job with id {job_id!r}.")
    return job


def _username(request) -> str:
    user = getattr(request, "auth", None) or getattr(request, "user", None)
    return user.get_username() if user is not None and user.is_authenticated else "api"


# ---- exec ------------------------------------------------------------------------------
@server_exec_router.post(
    "{name}/exec", response={200: ExecOut, 202: JobAccepted}, summary="Run a shell command (inline or as a job)"
)
def exec_command(request, name: str, payload: ExecIn):
    server = get_server_or_404(name)
    user = getattr(request, "auth", None)
    if payload.use_job:
        job = services.create_remote_exec_job(
            server=server,
            command=payload.command,
            timeout=payload.timeout,
            working_dir=payload.working_dir,
            created_by=user,
        )
        return 202, {"job_id": job.job_id, "status": job.status, "urls": job_urls(job.job_id)}
    command = services.validate_command(payload.command)
    working_dir = services.validate_working_dir(payload.working_dir)
    timeout = services.validate_timeout(
        payload.timeout, default=settings.INLINE_EXEC_MAX_TIMEOUT // 2, maximum=settings.INLINE_EXEC_MAX_TIMEOUT
    )
    outcome = asyncio.run(_run_inline(server, command, working_dir, timeout))
    result = outcome.result
    return 200, {
        "stdout": result.get("stdout", ""),
        "stderr": result.get("stderr", ""),
        "error": outcome.error,
        "exit_code": outcome.exit_code,
        "success": outcome.status == "succeeded",
        "truncated": bool(result.get("truncated")),
        "timed_out": outcome.status == "timed_out",
    }


async def _run_inline(server, command: str, working_dir: str, timeout: int):
    from asgiref.sync import sync_to_async

    from jobs.executors.remote import Outcome

    target = await sync_to_async(target_for, thread_sensitive=False)(server)
    try:
        conn, seen = await ssh.connect(target)
    except ssh.SshError as exc:
        return Outcome(status="failed", error=str(exc))
    if seen is not None:
        await sync_to_async(pin_host_key, thread_sensitive=False)(server_id=server.pk, seen=seen)
    async with conn:
        return await stream_command(
            conn,
            command=command,
            working_dir=working_dir,
            timeout=timeout,
            tail_bytes=settings.INLINE_EXEC_MAX_BYTES,
        )


# ---- jobs ------------------------------------------------------------------------------
@jobs_router.get("", response=list[JobOut], summary="List jobs, newest first")
def list_jobs(request, filters: Query[JobFilters]):
    qs = Job.objects.select_related("server", "created_by").prefetch_related("servers")
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.type:
        qs = qs.filter(job_type=filters.type)
    if filters.server:
        qs = qs.filter(servers__name=filters.server)
    return list(qs[filters.offset : filters.offset + filters.limit])


@jobs_router.get("{job_id}", response=JobDetailOut, summary="One job with its most recent lines")
def job_detail(request, job_id: str, recent: int = Query(50, ge=0, le=1000)):
    job = get_job_or_404(job_id)
    job.recent_logs = selectors.recent_lines(job=job, limit=recent)
    return job


@jobs_router.get("{job_id}/logs", response=LogsOut, summary="Lines of a job, filtered")
def job_logs(request, job_id: str, filters: Query[LogFilters]):
    job = get_job_or_404(job_id)
    try:
        flt = selectors.parse_filter(level=filters.level, stream=filters.stream, q=filters.q)
        lines = selectors.read_lines(job=job, flt=flt, tail=filters.tail, after=filters.after)
    except selectors.LogQueryError as exc:
        raise services.JobInputError(str(exc)) from None
    return {"job_id": job.job_id, "status": job.status, "last_seq": job.last_seq, "count": len(lines), "lines": lines}


@jobs_router.get("{job_id}/logs/download", summary="The whole log file (text/plain)", response={200: None})
def job_log_download(request, job_id: str):
    job = get_job_or_404(job_id)
    path = _log_file(job)
    if path is None:
        raise Http404(f"The log file of {job_id} is gone (expired or never written).")
    response = FileResponse(open(path, "rb"), content_type="text/plain; charset=utf-8")  # noqa: SIM115
    response["Content-Disposition"] = f'attachment; filename="{job.job_id}.log"'
    return response


def _log_file(job: Job) -> Path | None:
    root = Path(settings.JOB_LOG_DIR).resolve()
    path = (root / f"{job.job_id}.log").resolve()
    if path.parent != root or not path.is_file():
        return None
    return path


@jobs_router.post("{job_id}/cancel", response={202: JobOut}, summary="Cancel a pending or running job")
def cancel_job(request, job_id: str):
    job = get_job_or_404(job_id)
    job = services.request_cancel(job=job, requested_by=_username(request))
    return 202, job
