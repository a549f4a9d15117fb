"""Nothing stays "running" forever: jobs whose worker stopped heartbeating end `failed`, and no
playbook run folder (with its key files) outlives its job.

Inline jobs (jobs/runners/inline.py) heartbeat through their sink like any job, so one that runs
is left alone; one whose web or CLI process died is reaped like a lost worker's.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jobs import slots
from jobs.log import logfile
from jobs.log.sink import append_system_line
from jobs.models import Job, JobStatus
from jobs.runners.playbook.rundir import sweep_stale_dirs
from jobs.services import expire_approvals, notify_status
from servers.models import Server

logger = logging.getLogger("jobs.reaper")

WORKER_LOST = "worker lost"
PENDING_KICK_AFTER = timedelta(seconds=30)


def reap_lost_jobs(*, stale_after: float | None = None) -> list[str]:
    """Fail running jobs with a heartbeat older than `stale_after` seconds (default 60)."""
    stale_after = settings.HEARTBEAT_STALE_SECONDS if stale_after is None else stale_after
    now = timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    lost = Job.objects.filter(status=JobStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    reaped = []
    for job in lost:
        last = job.heartbeat_at or job.started_at
        repaired = logfile.repair(job=job)  # rows are the truth: bring the file up to them
        if repaired:
            logger.warning("Reaped %s: appended %d stored line(s) its log file was missing", job.job_id, repaired)
        # The line first, then the status: a final status always follows the last line.
        append_system_line(
            job_pk=job.pk,
            job_id=job.job_id,
            message=f"Worker lost: no heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC (over {stale_after:g} s). "
            "The job is marked failed; the lines stored before the loss are kept.",
        )
        updated = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, error=WORKER_LOST, finished_at=timezone.now()
        )
        if updated:
            job.refresh_from_db()
            notify_status(job=job)
            slots.release(job=job)
            reaped.append(job.job_id)
            logger.warning("Reaped %s: worker lost", job.job_id)
    return reaped


def kick_waiting_jobs(*, older_than: timedelta = PENDING_KICK_AFTER) -> int:
    """Re-enqueue pending jobs that have waited a while (their q2 task may be gone with a
    killed worker). A job enqueued twice still runs once: the claim is atomic."""
    old = timezone.now() - older_than
    servers = Server.objects.filter(
        all_jobs__status=JobStatus.PENDING, all_jobs__created_at__lt=old, all_jobs__cancel_requested_at__isnull=True
    ).distinct()
    return sum(slots.start_waiting(server=s) for s in servers)


def sweep_run_folders() -> list[str]:
    """Delete the private folders (SSH keys) of playbook runs that no longer run, and stop what
    they left running: a worker killed mid-playbook cannot clean up after itself."""
    try:
        return sweep_stale_dirs()
    except Exception as exc:  # noqa: BLE001 - the reaper's other work must go on
        logger.exception("Sweeping playbook run folders failed: %s", exc)
        return []


def startup_cleanup() -> str:
    """At start-up (`serve`): reap what died with the previous run, sweep its folders."""
    reaped = reap_lost_jobs()
    swept = sweep_run_folders()
    return f"reaped {len(reaped)} lost job(s), swept {len(swept)} playbook run folder(s)"


def reap_scheduled() -> str:
    reaped = reap_lost_jobs()  # first: the folders of the jobs reaped now are swept below
    kicked = kick_waiting_jobs()
    swept = sweep_run_folders()
    expired = expire_approvals()
    return (
        f"reaped {len(reaped)} lost job(s), re-enqueued {kicked} waiting job(s), "
        f"swept {len(swept)} playbook run folder(s), expired {len(expired)} approval request(s)"
    )
