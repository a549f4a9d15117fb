"""The remote_exec job: connect (pinning the host key on first contact), stream, report.

Queued jobs (tasks.run_job) and inline ones (jobs/runners/inline.py) both run here; an inline
caller may also see the lines as they arrive (`on_lines`) and stop the command itself
(`stop_check`, e.g. Ctrl-C), besides the job's own cancel flag.
"""

from __future__ import annotations

import logging
from functools import partial

import asyncssh
from asgiref.sync import sync_to_async

from jobs.log.capture import about_host
from jobs.log.sink import JobSink
from jobs.models import Job, JobStatus
from jobs.runners import Outcome
from jobs.runners.shell import TAIL_BYTES, CancelCheck, LinesCallback, stream_command
from jobs.services import cancel_requested_by
from servers import ssh
from servers.crypto import CredentialDecryptError
from servers.services import pin_host_key, target_for

logger = logging.getLogger("jobs.remote")


async def run(
    *,
    job: Job,
    sink: JobSink,
    on_lines: LinesCallback | None = None,
    stop_check: CancelCheck | None = None,
    tail_bytes: int = TAIL_BYTES,
) -> Outcome:
    server = job.server
    if server is None:
        return Outcome(status=JobStatus.FAILED, error="The job's server was deleted.")
    try:
        target = await sync_to_async(target_for, thread_sensitive=False)(server)
    except CredentialDecryptError as exc:
        return Outcome(status=JobStatus.FAILED, error=str(exc))
    try:
        with about_host(server.name):
            conn, seen = await ssh.connect(target)
    except ssh.SshError as exc:
        return Outcome(status=JobStatus.FAILED, error=str(exc))
    if seen is not None:  # ssh.connect pinned it through the target's hook; this is idempotent
        await sync_to_async(pin_host_key, thread_sensitive=False)(server_id=server.pk, seen=seen)
    command = job.params.get("command", "")
    sink.write(f"$ {command}", level="INFO", stream="system")
    cancel = sync_to_async(partial(cancel_requested_by, job.pk), thread_sensitive=False)
    store = partial(sink.write_lines, block=False)  # room is awaited first: the loop never blocks
    try:
        async with conn:
            return await stream_command(
                conn,
                command=command,
                working_dir=job.params.get("working_dir", ""),
                timeout=job.timeout,
                on_lines=store if on_lines is None else _tee(store, on_lines),
                wait_for_room=sink.wait_for_room,
                cancel_check=cancel if stop_check is None else _first_of(stop_check, cancel),
                tail_bytes=tail_bytes,
                on_partial=sink.set_partial,
            )
    except (asyncssh.Error, OSError) as exc:
        # Connected, but the session failed (channel refused, connection dropped, ...).
        reason = getattr(exc, "reason", "") or str(exc) or exc.__class__.__name__
        logger.warning("The command could not run on %s: %s", server.name, reason)
        return Outcome(status=JobStatus.FAILED, error=f"The command could not run on {server.name}: {reason}")


def _tee(first: LinesCallback, second: LinesCallback) -> LinesCallback:
    def both(stream: str, lines: list[str]) -> None:
        first(stream, lines)  # stored first: what the caller shows is always on record
        second(stream, lines)

    return both


def _first_of(*checks: CancelCheck) -> CancelCheck:
    async def check() -> str | None:
        for one in checks:
            who = await one()
            if who is not None:
                return who
        return None

    return check
