"""Job use cases: create and enqueue, record status changes, request and read cancellation,
and the job status every viewer is shown."""

from __future__ import annotations

import logging
import secrets
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.log import logfile
from jobs.models import FINAL_STATUSES, Job, JobStatus, JobType
from servers.models import Server

logger = logging.getLogger("jobs.services")


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
    enqueue: bool = True,
    inline: bool = False,
) -> Job:
    """A new job. `inline`: run now by the caller (jobs/runners/inline.py), so it starts `running`,
    never queued. It counts in the server's slots like any running job, but does not wait for
    one: an inline command is short (INLINE_EXEC_MAX_TIMEOUT) and someone is waiting for it."""
    job_id = new_job_id(job_type)
    now = timezone.now() if inline else None
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
            status=JobStatus.RUNNING if inline else JobStatus.PENDING,
            started_at=now,
            heartbeat_at=now,
        )
        job.servers.set(servers)
        if enqueue and not inline:
            transaction.on_commit(lambda: enqueue_job(job_id=job_id, timeout=timeout))
    return job


def create_remote_exec_job(
    *,
    server: Server,
    command: str,
    timeout: int | None = None,
    working_dir: str | None = None,
    created_by=None,
    enqueue: bool = True,
    inline: bool = False,
) -> Job:
    params = {"command": validate_command(command), "working_dir": validate_working_dir(working_dir)}
    timeout = validate_timeout(timeout, default=settings.JOB_DEFAULT_TIMEOUT, maximum=settings.JOB_MAX_TIMEOUT)
    return create_job(
        job_type=JobType.REMOTE_EXEC,
        servers=[server],
        params=params,
        timeout=timeout,
        created_by=created_by,
        enqueue=enqueue,
        inline=inline,
    )


# ---- one command on many servers (jobs/runners/fleet.py runs it) -------------------------------
MAX_FLEET_TARGETS = 1000
MAX_FORKS = 100
DEFAULT_FORKS = 10
SUCCESS_MODES = ("all", "any")  # the job succeeds when every host did, or when at least one did


def resolve_targets(*, user, servers: list[str] | None = None, tags: list[str] | None = None) -> list[Server]:
    """The servers named, plus every server carrying one of `tags`: de-duplicated, sorted by
    name, only those `user` may run on (None: a management command, every server).

    A name the user may not use reads as unknown (a server limited to other groups is not
    revealed); so does a tag only such servers carry."""
    from accounts.permissions import Action, check, usable_servers

    names = list(dict.fromkeys(n.strip() for n in servers or [] if isinstance(n, str) and n.strip()))
    wanted = list(dict.fromkeys(t.strip() for t in tags or [] if isinstance(t, str) and t.strip()))
    if not names and not wanted:
        raise JobInputError("Give at least one server or tag to run on.")
    if user is not None:
        check(user, Action.RUN)
    pool = (Server.objects.all() if user is None else usable_servers(user)).select_related("credential")
    found = {s.name: s for s in pool.filter(name__in=names)} if names else {}
    missing = [n for n in names if n not in found]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:10]) + (" …" if len(missing) > 10 else "")
        raise JobInputError(f"Unknown or not permitted server{'s' if len(missing) > 1 else ''} {shown}.")
    chosen = dict(found)
    if wanted:
        # Tags are a JSON list: matched here, portable across SQLite and PostgreSQL.
        matched = {t: 0 for t in wanted}
        for server in pool:
            hit = [t for t in wanted if t in (server.tags or [])]
            for t in hit:
                matched[t] += 1
            if hit:
                chosen[server.name] = server
        empty = [t for t, n in matched.items() if not n]
        if empty:
            shown = ", ".join(repr(t) for t in empty[:10])
            raise JobInputError(
                f"No server you may use has the tag{'s' if len(empty) > 1 else ''} {shown} "
                "(tags are set on each server's page)."
            )
    if len(chosen) > MAX_FLEET_TARGETS:
        raise JobInputError(
            f"Too many targets: {len(chosen)} servers; one job runs on at most {MAX_FLEET_TARGETS}. "
            "Narrow the tags or split the run."
        )
    targets = [chosen[n] for n in sorted(chosen)]
    if user is not None:
        for server in targets:
            check(user, Action.RUN, server=server)
    return targets


def validate_forks(forks: int | None) -> int:
    if forks is None:
        return DEFAULT_FORKS
    if isinstance(forks, bool) or not isinstance(forks, int) or not 1 <= forks <= MAX_FORKS:
        raise JobInputError(f"forks must be a whole number between 1 and {MAX_FORKS}.")
    return forks


def create_fleet_exec_job(
    *,
    servers: list[Server],
    command: str,
    timeout: int | None = None,
    working_dir: str | None = None,
    forks: int | None = None,
    success: str = "all",
    targets: dict | None = None,
    created_by=None,
    enqueue: bool = True,
) -> Job:
    """One remote_exec job on many servers (`forks` at a time). `targets` records what was asked
    ({"servers": [...], "tags": [...]}) beside the servers it resolved to."""
    if not servers:
        raise JobInputError("Give at least one server or tag to run on.")
    if success not in SUCCESS_MODES:
        raise JobInputError('success must be "all" (every server) or "any" (at least one).')
    params = {
        "command": validate_command(command),
        "working_dir": validate_working_dir(working_dir),
        "forks": validate_forks(forks),
        "success": success,
        "targets": targets or {"servers": [s.name for s in servers], "tags": []},
    }
    timeout = validate_timeout(timeout, default=settings.JOB_DEFAULT_TIMEOUT, maximum=settings.JOB_MAX_TIMEOUT)
    return create_job(
        job_type=JobType.REMOTE_EXEC,
        servers=servers,
        params=params,
        timeout=timeout,
        created_by=created_by,
        enqueue=enqueue,
    )


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


def finish_job(
    *, job: Job, status: str, exit_code: int | None = None, error: str = "", result: dict | None = None
) -> None:
    """Write the final status. Callers store the job's last line before calling this."""
    assert status in FINAL_STATUSES
    job.status, job.exit_code, job.error = status, exit_code, error
    job.result = result if result is not None else job.result
    job.finished_at = timezone.now()
    if status == JobStatus.SUCCEEDED:
        job.progress = 100
    Job.objects.filter(pk=job.pk).update(
        status=status,
        exit_code=exit_code,
        error=error,
        result=job.result,
        finished_at=job.finished_at,
        progress=job.progress,
        current_step=job.current_step,
    )
    notify_status(job=job)


def request_cancel(*, job: Job, requested_by: str, actor=None, via: str = "") -> Job:
    """Pending jobs end now; running ones are stopped by their worker, which logs it.

    The one cancel service of every surface: each accepted request is an audit event
    ("job.cancel": `actor` (a user, or None for the command line), when, `via` which surface).
    """
    from accounts.services import record_event

    now = timezone.now()
    if job.is_final:
        raise JobInputError(f"Job {job.job_id} has already finished ({job.status}).")
    record_event(
        actor=actor, action="job.cancel", target=job.job_id, via=via, requested_by=requested_by, status=job.status
    )
    Job.objects.filter(pk=job.pk, cancel_requested_at__isnull=True).update(
        cancel_requested_at=now, cancel_requested_by=requested_by[:150]
    )
    pending = Job.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(
        status=JobStatus.CANCELLED, finished_at=now, error=f"Cancelled by {requested_by} before it started."
    )
    job.refresh_from_db()
    if pending:
        notify_status(job=job)
    return job


def cancel_requested_by(job_pk: int) -> str | None:
    """Who asked to stop this running job, or None while nobody has (a deleted job counts as
    a request). The one cancel check every runner polls."""
    row = Job.objects.filter(pk=job_pk).values_list("cancel_requested_at", "cancel_requested_by").first()
    if row is None:
        return "deletion of the job"
    return (row[1] or "someone") if row[0] else None


# The Job columns a viewer's status is made of (read with `.values(*STATUS_FIELDS)`).
STATUS_FIELDS = (
    "status",
    "progress",
    "current_step",
    "exit_code",
    "error",
    "line_count",
    "last_seq",
    "logs_expired_at",
    "started_at",
    "finished_at",
)
_TIME_FIELDS = ("started_at", "finished_at")


def status_payload(state: Job | dict) -> dict:
    """A job's status as every viewer gets it: the job page's boot data, the websocket
    `status` messages (job page and dashboard) and the channel-layer notification.
    From a Job or from a `.values(*STATUS_FIELDS)` row."""
    get = state.get if isinstance(state, dict) else partial(getattr, state)
    payload = {k: get(k) for k in STATUS_FIELDS if k != "logs_expired_at"}
    payload["logs_expired"] = get("logs_expired_at") is not None
    for name in _TIME_FIELDS:  # JSON everywhere it goes (socket, channel layer, boot data)
        when = payload[name]
        payload[name] = when.isoformat() if when is not None else None
    return payload


def notify_status(*, job: Job) -> None:
    """Tell dashboards a job changed; with no cross-process layer they poll instead."""
    from asgiref.sync import async_to_sync
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return
    message = {"type": "job.status", "job_id": job.job_id, **status_payload(job)}
    try:
        async_to_sync(layer.group_send)("jobs", message)
        async_to_sync(layer.group_send)(f"job.{job.job_id}", message)
    except Exception as exc:  # noqa: BLE001 - viewers fall back to reading the database
        logger.debug("status notification failed: %s", exc)
