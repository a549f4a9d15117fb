"""Inline exec: run one command on one server now and wait for it, as a Job marked `inline`.

The one inline path of the API (`POST /api/servers/<name>/exec` without use_job) and the CLI
(`remote_exec` without --job). The run is audited like any other: the job is created with its
author, starts `running` in the caller's process (never queued), stores every line through the
sink (which also heartbeats, so the reaper leaves it alone while it runs), and ends with a final
status, exit code and error. It shows in /jobs/ and the admin, and can be cancelled there.

The caller gets the job and the Outcome, whose result keeps up to `tail_bytes` of each stream
in memory (the API answers with it); the stored result keeps the usual 64 KiB tails.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings

from jobs import services, slots
from jobs.log.capture import capture_into
from jobs.log.sink import JobSink, SinkWriteError
from jobs.models import Job, JobStatus
from jobs.runners import Outcome, remote_exec
from jobs.runners.shell import TAIL_BYTES, LinesCallback
from servers.models import Server

logger = logging.getLogger("jobs.runners.inline")
server_log = logging.getLogger("livchat_server_log.inline_exec")  # outside the job-captured loggers


@dataclass
class InlineRun:
    job: Job
    outcome: Outcome
    pinned_fingerprint: str = ""  # the host key pinned by this run (first contact), if any


def run_inline_command(
    *,
    server: Server,
    command: str,
    working_dir: str | None = "",
    timeout: int,
    created_by=None,
    via: str = "",
    on_lines: LinesCallback | None = None,
    stop_reason=None,
    interrupt_by: str = "",
    tail_bytes: int | None = None,
) -> InlineRun:
    """Create the inline job and run it here; blocks for at most `timeout` s plus connecting.

    `on_lines(stream, lines)` sees the output as it arrives; `stop_reason()` (sync, cheap) may
    return a reason to stop the command. `interrupt_by` (main thread only, the CLI) makes a
    first Ctrl-C a cancel recorded for that name, and a second one (or one before the command
    started) give up at once with KeyboardInterrupt, the job ending `cancelled`.
    JobInputError for invalid input, before any job exists; PolicyDenied when a policy
    refuses it; AwaitingApproval (with the job, created waiting) when a policy holds it.
    """
    was_pinned = bool(server.host_key)
    job = services.create_remote_exec_job(
        server=server,
        command=command,
        timeout=timeout,
        working_dir=working_dir,
        created_by=created_by,
        via=via,
        inline=True,
    )
    if job.status == JobStatus.AWAITING_APPROVAL:
        raise services.AwaitingApproval(job)
    services.notify_status(job=job)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    outcome: Outcome | None = None
    crash: BaseException | None = None
    limit = tail_bytes or settings.INLINE_EXEC_MAX_BYTES
    try:
        with capture_into(sink):
            try:
                outcome = asyncio.run(
                    _run(job, sink, on_lines=on_lines, stop_reason=stop_reason, interrupt_by=interrupt_by, limit=limit)
                )
            except KeyboardInterrupt:
                crash = KeyboardInterrupt()
                logger.warning("Interrupted by %s before the command ended", interrupt_by or "the caller")
            except Exception as exc:  # noqa: BLE001 - any failure must end the job, with a reason
                crash = exc
                # The traceback to the server log only; the job's log gets one readable line.
                server_log.error("Inline job %s failed", job.job_id, exc_info=exc)
                logger.error("Failed: %s: %s", exc.__class__.__name__, exc)
    finally:
        outcome = _finish(job, sink, outcome, crash, interrupt_by)
    if isinstance(crash, KeyboardInterrupt):
        raise crash
    pinned = ""
    if not was_pinned:
        # exclude: a fingerprint without a key is the operator's expectation, not yet a pin
        pinned = (
            Server.objects.filter(pk=server.pk)
            .exclude(host_key="")
            .values_list("host_key_fingerprint", flat=True)
            .first()
            or ""
        )
    return InlineRun(job=job, outcome=outcome, pinned_fingerprint=pinned)


def _finish(job: Job, sink: JobSink, outcome: Outcome | None, crash, interrupt_by: str) -> Outcome:
    """Every line stored, then the final status (as tasks.run_job does), then the slot freed."""
    try:
        sink.close()
    except SinkWriteError as exc:
        outcome, crash = None, exc
    job.line_count, job.last_seq = sink.line_count, sink.last_seq
    if outcome is None:
        if isinstance(crash, KeyboardInterrupt):
            outcome = Outcome(status=JobStatus.CANCELLED, error=f"Interrupted by {interrupt_by or 'the caller'}.")
        else:
            outcome = Outcome(status=JobStatus.FAILED, error=f"{crash.__class__.__name__}: {crash}")
    stored = dict(outcome.result)
    for stream in ("stdout", "stderr"):
        if isinstance(stored.get(stream), str) and len(stored[stream]) > TAIL_BYTES:
            stored[stream] = stored[stream][-TAIL_BYTES:]  # the rows hold every line
    services.finish_job(job=job, status=outcome.status, exit_code=outcome.exit_code, error=outcome.error, result=stored)
    slots.release(job=job)  # jobs waiting for this server's slot may start now
    return outcome


async def _run(job: Job, sink: JobSink, *, on_lines, stop_reason, interrupt_by: str, limit: int) -> Outcome:
    state: dict = {"stop": None, "running": False}

    async def stop_check() -> str | None:
        state["running"] = True  # first asked once the command runs
        if state["stop"] is None and stop_reason is not None:
            state["stop"] = stop_reason()
        return state["stop"]

    with _CtrlC(job, state, interrupt_by):
        return await remote_exec.run(job=job, sink=sink, on_lines=on_lines, stop_check=stop_check, tail_bytes=limit)


class _CtrlC:
    """While the loop runs: Ctrl-C → cancel through the cancel service (recorded), a second
    one, or one before the command started → cancel the main task (KeyboardInterrupt)."""

    def __init__(self, job: Job, state: dict, who: str) -> None:
        self.job, self.state, self.who = job, state, who
        self.installed = False
        self.pending: set[asyncio.Task] = set()

    def __enter__(self):
        if not self.who:
            return self
        self.loop = asyncio.get_running_loop()
        self.main = asyncio.current_task()
        self.previous = signal.getsignal(signal.SIGINT)
        try:
            self.loop.add_signal_handler(signal.SIGINT, self._on_sigint)
            self.installed = True
        except (ValueError, RuntimeError, NotImplementedError):
            pass  # not the main thread: Ctrl-C keeps its default behaviour
        return self

    def _on_sigint(self) -> None:
        if not self.state["running"] or self.state["stop"] is not None:
            self.main.cancel()
            return
        self.state["stop"] = f"{self.who} (Ctrl-C)"
        task = self.loop.create_task(sync_to_async(self._record, thread_sensitive=False)())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    def _record(self) -> None:
        try:
            services.request_cancel(job=self.job, requested_by=self.state["stop"], via="cli")
        except services.JobInputError:
            pass  # it ended meanwhile

    def __exit__(self, exc_type, exc, tb):
        if self.installed:
            self.loop.remove_signal_handler(signal.SIGINT)
            signal.signal(signal.SIGINT, self.previous)
        if exc_type is asyncio.CancelledError:
            raise KeyboardInterrupt from None
        return False
