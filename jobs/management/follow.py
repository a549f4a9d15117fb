"""`--follow` for the management commands: every line of a job after a cursor, like `tail -f`
(remote_exec, run_playbook, run_template, job_logs). Printing is jobs/management/helpers.py's."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.management.base import CommandError

from jobs.log.filters import LineFilter
from jobs.log.pacing import Pacer
from jobs.log.partial import PartialReader
from jobs.log.reader import JobGone, follow_rows
from jobs.models import Job, JobStatus

FOLLOW_TICK = 0.2
FETCH_ROWS = 5000
FETCH_BYTES = 8 << 20  # and no more text than this at once (lines may be 64 KiB each)
PENDING_NOTICE_SECONDS = 5.0


@dataclass(frozen=True)
class FollowEnd:
    job_id: str
    status: str
    exit_code: int | None
    error: str
    cursor: int  # the last seq read
    final: bool
    logs_expired: bool


def follow_job(
    *,
    job: Job,
    on_rows: Callable[[list[dict]], None],
    after: int = 0,
    flt: LineFilter | None = None,
    wait: bool = True,
    tick: float = FOLLOW_TICK,
    on_pending: Callable[[], None] | None = None,
    pending_notice: float = PENDING_NOTICE_SECONDS,
    on_partial: Callable[[dict], None] | None = None,
) -> FollowEnd:
    """Hand every line after seq `after` that passes `flt` to `on_rows`, in seq order, like
    `tail -f` (remote_exec --follow, job_logs --follow, run_playbook --follow).

    The reading is jobs.log.reader.follow_rows, the loop the websocket uses too. With `wait`,
    keep reading on a short tick until the job is final and all its lines were read; without,
    stop at the current end. `on_pending` is called once when the job has waited
    `pending_notice` seconds for a worker. `on_partial(part)` gets each change of a line the
    running job redraws with `\\r` (jobs/log/partial.py: stream, host, text, after). Raises
    LogQueryError (a regular expression too slow for the log) and CommandError (the job was
    deleted).
    """
    started = time.monotonic()
    noticed = False
    partials = PartialReader(job.job_id) if on_partial is not None and wait else None
    pacer, running = Pacer(), False  # rest truly behind a running job's flood (jobs/log/pacing.py)
    began = time.thread_time()  # CPU this reader spent since its last pause: reading and printing
    try:
        for item in follow_rows(job_pk=job.pk, after=after, limit=FETCH_ROWS, max_bytes=FETCH_BYTES):
            if isinstance(item, list):
                kept = item if flt is None else flt.select(item)
                if kept:
                    on_rows(kept)
                full = len(item) >= FETCH_ROWS or sum(len(r["message"]) for r in item) >= FETCH_BYTES * 0.9
                rest = pacer.rest_after(full=full, work=time.thread_time() - began)
                if wait and running and rest:  # a one-off read, or a finished job's log, runs flat out
                    time.sleep(rest)
                began = time.thread_time()
                continue
            state = item.state
            if not wait or item.done:
                return FollowEnd(
                    job_id=job.job_id,
                    status=state["status"],
                    exit_code=state["exit_code"],
                    error=state["error"],
                    cursor=item.cursor,
                    final=item.final,
                    logs_expired=item.expired,
                )
            if (
                on_pending is not None
                and not noticed
                and state["status"] == JobStatus.PENDING
                and time.monotonic() - started >= pending_notice
            ):
                noticed = True
                on_pending()
            if partials is not None and not item.final:
                for part in partials.poll(upto=item.cursor):
                    on_partial(part)
            running = not item.final
            time.sleep(tick)
            pacer.restart()
            began = time.thread_time()
    except JobGone:
        raise CommandError(f"Job {job.job_id} was deleted.") from None
    raise AssertionError("follow_rows ends only after a final round")  # pragma: no cover
