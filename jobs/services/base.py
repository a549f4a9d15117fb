"""The ground every job use case stands on: the input error, the shared checks, the one
`create_job` that inserts a Job row (every create_* service calls it), and the hand-over to
the worker queue."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from accounts.services import record_event
from jobs.log import logfile
from jobs.models import Decision, Job, JobStatus, JobType
from jobs.policy.rules import PolicyDenied, decide
from jobs.services.asking import open_request
from servers.models import Server


class JobInputError(ValueError):
    """Input a person can fix; the message says how."""


def new_job_id(job_type: str) -> str:
    return f"{job_type}-{secrets.token_hex(4)}"


def validate_timeout(timeout: int | float | None, *, default: int, maximum: int) -> int:
    if timeout is None:
        return default
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout != timeout:
        raise JobInputError("timeout must be a number of seconds.")
    if not 1 <= timeout <= maximum:
        raise JobInputError(f"timeout must be between 1 and {maximum} seconds.")
    return int(timeout)


def validate_command(command: str) -> str:
    if not isinstance(command, str) or not command.strip():
        raise JobInputError("command must be a non-empty string.")
    if "\x00" in command:
        raise JobInputError("command must not contain NUL characters.")
    if len(command) > 100_000:
        raise JobInputError("command is longer than 100000 characters.")
    return command


def validate_working_dir(working_dir: str | None) -> str:
    if working_dir is None:
        return ""
    if not isinstance(working_dir, str) or "\x00" in working_dir or "\n" in working_dir:
        raise JobInputError("working_dir must be a path without NUL or newline characters.")
    return working_dir


def create_job(
    *,
    job_type: str,
    servers: list[Server],
    params: dict,
    timeout: int,
    created_by=None,
    via: str = "",
    enqueue: bool = True,
    inline: bool = False,
) -> Job:
    """A new job, once the policies allow it (jobs/policy/rules.py): a `deny` raises
    PolicyDenied (nothing is created), an `approve` creates it `awaiting_approval` with its
    request (asking.py), neither queued nor run until people approve. `via`: the surface
    that asks (web, api, cli, mcp, schedule; admin counts as web).

    `inline`: run now by the caller (jobs/runners/inline.py), so it starts `running`, never
    queued. It counts in the server's slots like any running job, but does not wait for one:
    an inline command is short (INLINE_EXEC_MAX_TIMEOUT) and someone is waiting for it."""
    verdict = decide(
        servers=servers,
        user=created_by,
        via=via,
        command=params.get("command", "") if job_type == JobType.REMOTE_EXEC else None,
        playbook=params.get("playbook", "") if job_type == JobType.PLAYBOOK else None,
    )
    if verdict.decision == Decision.DENY:
        record_event(actor=created_by, action="policy.deny", target=job_type, via=via, rule=verdict.rule_name or None)
        raise PolicyDenied(verdict)
    held = verdict.decision == Decision.APPROVE
    inline = inline and not held
    job_id = new_job_id(job_type)
    now = timezone.now() if inline else None
    status = JobStatus.AWAITING_APPROVAL if held else JobStatus.RUNNING if inline else JobStatus.PENDING
    with transaction.atomic():
        job = Job.objects.create(
            job_id=job_id,
            job_type=job_type,
            params=params,
            log_file=str(logfile.path_for(job_id)),
            server=servers[0] if servers else None,
            timeout=timeout,
            created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
            inline=inline,
            status=status,
            started_at=now,
            heartbeat_at=now,
        )
        job.servers.set(servers)
        if held:
            open_request(job=job, verdict=verdict, via=via, requested_by=created_by)
        elif enqueue and not inline:
            transaction.on_commit(lambda: enqueue_job(job_id=job_id, timeout=timeout))
    return job


def is_fleet(job: Job) -> bool:
    """A remote_exec job made by create_fleet_exec_job (per-host results, host-tagged lines)."""
    return job.job_type == JobType.REMOTE_EXEC and isinstance(job.params, dict) and "forks" in job.params


def enqueue_job(*, job_id: str, timeout: int) -> None:
    from django_q.tasks import async_task

    # q2's own timeout sits above the job's so q2 never kills a job that cleans up after
    # itself; one attempt only, so a job never runs twice.
    async_task(
        "jobs.tasks.run_job",
        job_id,
        task_name=job_id,
        group="jobs",
        timeout=timeout + 120,
        ack_failure=True,
        q_options={"max_attempts": 1},
    )
