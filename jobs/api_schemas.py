"""Request and response schemas of the jobs API (jobs/api.py)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from ninja import Field, Schema
from pydantic import ConfigDict

from jobs import selectors
from jobs.models import Job, JobStatus, JobType
from livchat.api_errors import Line, Text

# Cursors and offsets end up in SQL; both SQLite and PostgreSQL stop at a signed 64-bit int.
MAX_SEQ = 2**63 - 1
MAX_OFFSET = 1_000_000
JOB_ID_PATTERN = r"^[a-z][a-z_]*-[0-9a-f]{8,32}$"


def job_urls(job_id: str) -> dict:
    return {
        "api": f"/api/jobs/{job_id}",
        "logs": f"/api/jobs/{job_id}/logs",
        "download": f"/api/jobs/{job_id}/logs/download",
        "cancel": f"/api/jobs/{job_id}/cancel",
        "page": f"/jobs/{job_id}/",
        "websocket": f"/ws/jobs/{job_id}/",
    }


class ExecIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored

    command: Text = Field(..., min_length=1, max_length=100_000, description="run by the login shell (sh -c)")
    timeout: int | None = Field(
        None,
        ge=1,
        le=settings.JOB_MAX_TIMEOUT,
        strict=True,
        description=f"seconds; inline at most {settings.INLINE_EXEC_MAX_TIMEOUT} "
        f"(default {settings.INLINE_EXEC_MAX_TIMEOUT // 2}), as a job at most {settings.JOB_MAX_TIMEOUT} "
        f"(default {settings.JOB_DEFAULT_TIMEOUT})",
    )
    working_dir: Line | None = Field(None, max_length=4096, description="directory to run in (cd first)")
    use_job: bool = Field(False, strict=True, description="run as a background job and answer 202 at once")


class ExecOut(Schema):
    stdout: str = Field(description="the last 1 MiB of standard output")
    stderr: str = Field(description="the last 1 MiB of standard error")
    exit_code: int | None = Field(description="the remote exit code; null if the command never finished")
    success: bool = Field(description="true when the command ran and exited with 0")
    truncated: bool = Field(description="true when stdout or stderr was longer than the part returned")
    timed_out: bool = Field(description="true when the command was killed at its timeout")
    error: str = Field(description="why it did not succeed (connection, timeout, exit code); empty on success")


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
    recent_logs: list[LineOut] = Field(description="the newest lines, newest first")


class LogsOut(Schema):
    job_id: str
    status: str
    last_seq: int
    count: int
    lines: list[LineOut] = Field(description="in seq order")


class JobFilters(Schema):
    status: JobStatus | None = None
    type: JobType | None = None
    server: Line | None = Field(None, max_length=100, description="name of a server the job ran on")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class LogFilters(Schema):
    tail: int = Field(100, ge=1, le=selectors.MAX_TAIL, description="how many lines at most")
    level: str | None = Field(None, max_length=16, description="minimum level: DEBUG, INFO, WARNING, ERROR, CRITICAL")
    stream: str | None = Field(None, max_length=16, description="stdout, stderr or system")
    q: str | None = Field(None, max_length=selectors.MAX_PATTERN_LENGTH, description="regular expression")
    after: int | None = Field(
        None, ge=0, le=MAX_SEQ, description="read forward from this seq (the first `tail` lines after it)"
    )
