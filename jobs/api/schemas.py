"""Request and response schemas of the jobs API (jobs/api.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.conf import settings
from ninja import Field, Schema, Status
from pydantic import AfterValidator, ConfigDict

from core.api_errors import Declare, Line, Text, whole_number
from jobs.log import pattern_guard, reader
from jobs.models import LEVEL_ORDER, Job, JobStatus, JobType, Stream
from jobs.services import approval_info

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


def job_accepted(job: Job) -> Status:
    """The 202 answer for a job just queued (JobAccepted): its id, status and URLs, and for a
    job a policy holds (status awaiting_approval) its `approval`. Routes answering it set
    `exclude_unset=True`, so a job that runs at once carries no `approval` key at all."""
    answer = {"job_id": job.job_id, "status": job.status, "urls": job_urls(job.job_id)}
    if job.status == JobStatus.AWAITING_APPROVAL:
        answer["approval"] = approval_info(job)
    return Status(202, answer)


# What str.strip() removes (Python's whitespace), spelt so ECMA and Python regexes read it alike.
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
COMMAND_PATTERN = rf"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"
"""No NUL, and at least one character that is not whitespace (jobs.services.validate_command)."""


class ExecIn(Schema):
    model_config = ConfigDict(
        extra="forbid",  # a misspelt field is an error, not silently ignored
        # The inline cap, declared: either `use_job: true`, or a timeout of at most the inline maximum.
        # `examples`: what /api/docs shows and "Try it out" sends (a real body, the same on every load).
        json_schema_extra={
            "examples": [{"command": "uptime", "timeout": 30}],
            "anyOf": [
                {"properties": {"use_job": {"const": True}}, "required": ["use_job"]},
                {
                    "properties": {
                        "timeout": {
                            "anyOf": [
                                {"type": "integer", "maximum": settings.INLINE_EXEC_MAX_TIMEOUT},
                                {"type": "null"},
                            ]
                        }
                    }
                },
            ],
        },
    )

    command: Annotated[Text, Declare(pattern=COMMAND_PATTERN)] = Field(
        ..., min_length=1, max_length=100_000, description="run by the login shell (sh -c)"
    )
    timeout: whole_number(ge=1, le=settings.JOB_MAX_TIMEOUT) | None = Field(
        None,
        description=f"seconds; inline at most {settings.INLINE_EXEC_MAX_TIMEOUT} "
        f"(default {settings.INLINE_EXEC_MAX_TIMEOUT // 2}), as a job at most {settings.JOB_MAX_TIMEOUT} "
        f"(default {settings.JOB_DEFAULT_TIMEOUT})",
    )
    working_dir: Line | None = Field(None, max_length=4096, description="directory to run in (cd first)")
    use_job: bool = Field(False, strict=True, description="run as a background job and answer 202 at once")


NAME_PATTERN = rf"^[^\x00\r\n]*[^\x00{_SPACE}][^\x00\r\n]*$"
"""One line with at least one character that is not whitespace (the services strip names)."""


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


TargetName = Annotated[
    Line, AfterValidator(_not_blank), Declare(pattern=NAME_PATTERN), Field(min_length=1, max_length=100)
]


class FleetExecIn(Schema):
    model_config = ConfigDict(
        extra="forbid",  # a misspelt field is an error, not silently ignored
        # At least one target, declared: jobs.services.resolve_targets refuses a request with
        # neither (400, "Give at least one server or tag"), so the schema says so too.
        json_schema_extra={
            "examples": [{"command": "uptime", "tags": ["web"], "forks": 10, "success": "all"}],
            "anyOf": [
                {"properties": {"servers": {"type": "array", "minItems": 1}}, "required": ["servers"]},
                {"properties": {"tags": {"type": "array", "minItems": 1}}, "required": ["tags"]},
            ],
        },
    )

    command: Annotated[Text, Declare(pattern=COMMAND_PATTERN)] = Field(
        ..., min_length=1, max_length=100_000, description="run by the login shell (sh -c) on every server"
    )
    servers: list[TargetName] | None = Field(
        None, max_length=1000, description="server names (give servers, tags or both, at least one name)"
    )
    tags: list[TargetName] | None = Field(
        None, max_length=50, description="every server carrying one of these tags is a target too"
    )
    forks: whole_number(ge=1, le=100) | None = Field(None, description="servers at once (default 10)")
    timeout: whole_number(ge=1, le=settings.JOB_MAX_TIMEOUT) | None = Field(
        None, description=f"seconds for the whole run (default {settings.JOB_DEFAULT_TIMEOUT})"
    )
    working_dir: Line | None = Field(None, max_length=4096, description="directory to run in (cd first)")
    success: Literal["all", "any"] = Field(
        "all", description="the job succeeds when every server succeeded (all) or at least one did (any)"
    )


class ExecOut(Schema):
    stdout: str = Field(description="the last 1 MiB of standard output")
    stderr: str = Field(description="the last 1 MiB of standard error")
    exit_code: int | None = Field(description="the remote exit code; null if the command never finished")
    success: bool = Field(description="true when the command ran and exited with 0")
    truncated: bool = Field(description="true when stdout or stderr was longer than the part returned")
    timed_out: bool = Field(description="true when the command was killed at its timeout")
    error: str = Field(description="why it did not succeed (connection, timeout, exit code); empty on success")


HELD_NOTE = (
    "A policy may refuse the job (403, the message names the rule) or hold it for approval: then the "
    "answer is a 202 with `status: awaiting_approval` and an `approval` saying which rule holds it and "
    "who must approve it; nothing runs until they do."
)


class VoteOut(Schema):
    username: str
    approve: bool
    comment: str
    at: datetime


class ApprovalOut(Schema):
    """A held (or once held) job's approval request: jobs.services.approval_info."""

    rule: str = Field(description="the policy that asked for approval")
    description: str = Field(description="the policy's description")
    approvers: str = Field(description="the group whose members approve")
    approvals_needed: int
    approvals: int = Field(description="approvals given so far")
    votes: list[VoteOut]
    requested_by: str
    via: str = Field(description="the surface the job was asked for through: web, api, cli, mcp, schedule")
    expires_at: datetime = Field(description="unless approved by then, the job ends rejected (expired)")
    outcome: str = Field(description="approved, rejected, expired, or empty while it waits")
    decided_by: str
    reason: str
    url: str = Field(description="the job's page, where approvers approve or reject it")
    message: str = Field(description="one sentence for a person: who must approve, or how it ended")


class JobAccepted(Schema):
    job_id: str
    status: str = Field(description="pending, or awaiting_approval when a policy holds the job for people")
    urls: dict
    approval: ApprovalOut | None = Field(
        None,
        description="only when status is awaiting_approval: the rule that holds the job and who must approve it "
        "(POST /api/jobs/{job_id}/approve); the job runs once approved",
    )


LevelName = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
StreamName = Literal["stdout", "stderr", "system"]
assert list(LevelName.__args__) == [str(lv) for lv in LEVEL_ORDER]
assert set(StreamName.__args__) == set(Stream.values)


def _level_filter(value: str) -> str:
    if value.upper() not in LevelName.__args__:
        raise ValueError(f"level must be one of {', '.join(LevelName.__args__)} (either case)")
    return value


def _stream_filter(value: str) -> str:
    if value not in StreamName.__args__:
        raise ValueError(f"stream must be one of {', '.join(StreamName.__args__)}")
    return value


# Filters take either case of a level name (the CLI does too).
LevelFilter = Annotated[
    str, AfterValidator(_level_filter), Declare(enum=[*LevelName.__args__, *(v.lower() for v in LevelName.__args__)])
]
StreamFilter = Annotated[str, AfterValidator(_stream_filter), Declare(enum=list(StreamName.__args__))]


class LineOut(Schema):
    seq: int
    ts: datetime
    level: LevelName
    stream: StreamName
    message: str = Field(description="the whole line, or its first 8 KiB in a list answer when `truncated`")
    host: str = ""
    task: str = ""
    event: str = ""
    truncated: bool = Field(
        False, description="the line is longer than the part in `message`: GET /api/jobs/<id>/lines/<seq> has it whole"
    )


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
    has_more: bool = Field(
        description="more matching lines may exist past this answer in its direction: it stopped at `tail` "
        "lines or at the byte budget (about 4 MiB of text)"
    )
    next_after: int | None = Field(description="forward reads with has_more: send as `after` to read on")
    next_before: int | None = Field(description="tail reads with has_more: send as `before` to read older lines")


LOGS_DESCRIPTION = (
    "Without `after`: the last `tail` matching lines (before `before` when given). With `after`: the first "
    "`tail` matching lines after it (and before `before` when given). Every answer is bounded in bytes too: "
    "it stops at about 4 MiB of line text, and then `has_more` is true with the cursor to go on from "
    "(`next_after` or `next_before`). A line longer than 8 KiB is cut to its first 8 KiB and marked "
    "`truncated: true`; GET /api/jobs/{job_id}/lines/{seq} answers it whole."
)


def logs_answer(job: Job, page, *, forward: bool) -> dict:
    lines = page.lines
    more = page.has_more and bool(lines)
    return {
        "job_id": job.job_id,
        "status": job.status,
        "last_seq": job.last_seq,
        "count": len(lines),
        "lines": lines,
        "has_more": more,
        "next_after": lines[-1]["seq"] if more and forward else None,
        "next_before": lines[0]["seq"] if more and not forward else None,
    }


class JobFilters(Schema):
    status: JobStatus | None = None
    type: JobType | None = None
    server: Line | None = Field(None, max_length=100, description="name of a server the job ran on")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class LogFilters(Schema):
    tail: int = Field(100, ge=1, le=reader.MAX_TAIL, description="how many lines at most")
    level: LevelFilter | None = Field(None, description="minimum level")
    stream: StreamFilter | None = Field(None, description="stdout, stderr or system")
    q: Annotated[str, Declare(format="regex")] | None = Field(
        None,
        max_length=pattern_guard.MAX_PATTERN_LENGTH,
        description="regular expression (Python `regex` syntax); one that does not compile is a 400",
    )
    after: int | None = Field(
        None, ge=0, le=MAX_SEQ, description="read forward from this seq (the first `tail` lines after it)"
    )
    before: int | None = Field(
        None, ge=1, le=MAX_SEQ, description="only lines with a smaller seq (tail reads: read older lines)"
    )
    problems: bool = Field(
        False, description="only problems: lines at WARNING or above, or on stderr (with level/stream: both apply)"
    )
    host: Line | None = Field(None, max_length=255, description="only the lines of this host (server name)")
