"""A job's life after it was created: the final status, a cancel request (and the one check
every runner polls for it), and the status push to live viewers."""

from __future__ import annotations

import logging

from django.utils import timezone

from accounts.services import record_event
from jobs.live.push import send_status
from jobs.models import FINAL_STATUSES, Job, JobStatus, status_payload
from jobs.services.base import JobInputError

logger = logging.getLogger("jobs.tasks")


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
    """Pending jobs (and jobs still awaiting approval: withdrawn) end now; running ones are
    stopped by their worker, which logs it.

    The one cancel service of every surface: each accepted request is an audit event
    ("job.cancel": `actor` (a user, or None for the command line), when, `via` which surface).
    """
    now = timezone.now()
    if job.is_final:
        raise JobInputError(f"Job {job.job_id} has already finished ({job.status}).")
    record_event(
        actor=actor, action="job.cancel", target=job.job_id, via=via, requested_by=requested_by, status=job.status
    )
    Job.objects.filter(pk=job.pk, cancel_requested_at__isnull=True).update(
        cancel_requested_at=now, cancel_requested_by=requested_by[:150]
    )
    waiting = (JobStatus.PENDING, JobStatus.AWAITING_APPROVAL)
    pending = Job.objects.filter(pk=job.pk, status__in=waiting).update(
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


def after_finish(*, job: Job) -> None:
    """A template's run ended (it ran, or was rejected before it could): its notifications and
    queued runs are a separate q2 task (by dotted path: jobs never imports automation), so they
    never delay or change this job."""
    if not (isinstance(job.params, dict) and job.params.get("template")):
        return
    try:
        from django_q.tasks import async_task

        async_task("automation.tasks.job_finished", job.job_id, task_name=f"notify-{job.job_id}", group="notify")
    except Exception as exc:  # noqa: BLE001 - a notification must never fail the job
        logger.warning("Could not queue the notifications of %s: %s", job.job_id, exc)


def notify_status(*, job: Job) -> None:
    """Tell viewers and dashboards a job changed; with no cross-process layer they poll instead."""
    send_status(job_id=job.job_id, payload=status_payload(job))
