"""Follow a job's lines like `tail -f`, from any process that can read the database.

Used by the terminal commands (remote_exec --follow, job_logs --follow, run_playbook
--follow). Like the websocket consumer it reads rows after its own cursor, so nothing is
missed or repeated, and it reads the job's status *before* the rows: a final status is
written only after the last line is stored, so once it is seen the rows read next are
complete and following can stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from jobs.log.reader import REGEX_BUDGET_SECONDS, LineFilter, LogQueryError, rows_after
from jobs.models import FINAL_STATUSES, Job, JobStatus

FOLLOW_TICK = 0.2
FETCH_ROWS = 5000
FETCH_BYTES = 8 << 20  # and no more text than this at once (lines may be 64 KiB each)
PENDING_NOTICE_SECONDS = 5.0

RowsCallback = Callable[[list[dict]], None]


class JobGone(LookupError):
    """The job was deleted while it was followed."""


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
    on_rows: RowsCallback,
    after: int = 0,
    flt: LineFilter | None = None,
    wait: bool = True,
    tick: float = FOLLOW_TICK,
    on_pending: Callable[[], None] | None = None,
    pending_notice: float = PENDING_NOTICE_SECONDS,
) -> FollowEnd:
    """Hand every line after seq `after` that passes `flt` to `on_rows`, in seq order.

    With `wait`, keep reading on a short tick until the job is final and all its lines were
    read; without, stop at the current end. `on_pending` is called once when the job has
    waited `pending_notice` seconds for a worker. Raises LogQueryError (a regular
    expression too slow for the log) and JobGone.
    """
    cursor = after
    keep = _matcher(flt)
    started = time.monotonic()
    noticed = False
    while True:
        state = (
            Job.objects.filter(pk=job.pk).values("status", "exit_code", "error", "last_seq", "logs_expired_at").first()
        )
        if state is None:
            raise JobGone(f"Job {job.job_id} was deleted.")
        while True:
            rows = rows_after(job_pk=job.pk, cursor=cursor, limit=FETCH_ROWS, max_bytes=FETCH_BYTES)
            if not rows:
                break
            cursor = rows[-1]["seq"]  # past non-matching rows too: they are never read twice
            kept = keep(rows)
            if kept:
                on_rows(kept)
            if len(rows) < FETCH_ROWS and cursor >= state["last_seq"]:
                break
        final = state["status"] in FINAL_STATUSES
        expired = state["logs_expired_at"] is not None
        if not wait or (final and (cursor >= state["last_seq"] or expired)):
            return FollowEnd(
                job_id=job.job_id,
                status=state["status"],
                exit_code=state["exit_code"],
                error=state["error"],
                cursor=cursor,
                final=final,
                logs_expired=expired,
            )
        if (
            on_pending is not None
            and not noticed
            and state["status"] == JobStatus.PENDING
            and time.monotonic() - started >= pending_notice
        ):
            noticed = True
            on_pending()
        time.sleep(tick)


def _matcher(flt: LineFilter | None) -> Callable[[list[dict]], list[dict]]:
    if flt is None or not (flt.level or flt.stream or flt.pattern):
        return lambda rows: rows
    levels = set(flt.levels() or ())
    stream = flt.stream
    pattern = flt.pattern

    def keep(rows: list[dict]) -> list[dict]:
        out = [r for r in rows if (not levels or r["level"] in levels) and (not stream or r["stream"] == stream)]
        if pattern is None:
            return out
        # The same time budget as the API's search, per batch: a pathological expression
        # ends with a clear error instead of pinning a CPU.
        deadline = time.monotonic() + REGEX_BUDGET_SECONDS
        matched = []
        for r in out:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                if pattern.search(r["message"], timeout=remaining):
                    matched.append(r)
            except TimeoutError:
                raise LogQueryError(
                    f"The expression took longer than {REGEX_BUDGET_SECONDS:g} s on this log; use a simpler one."
                ) from None
        return matched

    return keep
