"""The django-q2 entry point: one job, from pending to its final status.

tasks.run_job → runners.dispatch (runners/remote_exec.py, runners/playbook/runner.py) →
log/sink.py → database → log/reader.py → consumers.py / --follow
"""

from __future__ import annotations

import asyncio
import logging

from django.db import close_old_connections

from jobs import services, slots
from jobs.log.capture import capture_into
from jobs.log.sink import JobSink, SinkWriteError
from jobs.models import Job, JobStatus
from jobs.runners import dispatch
from servers.ssh import SshError

logger = logging.getLogger("jobs.tasks")


def run_job(job_id: str) -> str:
    close_old_connections()
    job = Job.objects.select_related("server", "server__credential").filter(job_id=job_id).first()
    if job is None:
        logger.warning("run_job: no job %s", job_id)
        return "missing"
    if job.status != JobStatus.PENDING or not slots.try_claim(job=job):
        job.refresh_from_db()
        return job.status  # cancelled, already taken (never run twice) or waiting for a slot
    services.notify_status(job=job)

    sink = JobSink(job_pk=job.pk, job_id=job.job_id, start_seq=job.last_seq, line_count=job.line_count).start()
    outcome = None
    crash = None
    with capture_into(sink):
        try:
            outcome = asyncio.run(dispatch(job=job, sink=sink))
        except Exception as exc:  # noqa: BLE001 - any failure must end the job, with a reason
            crash = exc
            logger.exception("Job failed: %s", exc)
        if outcome is not None:
            _log_outcome(outcome)
    try:
        sink.close()  # every line is stored before the final status is written
    except SinkWriteError as exc:
        outcome, crash = None, exc
    job.line_count, job.last_seq = sink.line_count, sink.last_seq
    if crash is not None:
        services.finish_job(job=job, status=JobStatus.FAILED, error=_user_message(crash))
    else:
        services.finish_job(
            job=job, status=outcome.status, exit_code=outcome.exit_code, error=outcome.error, result=outcome.result
        )
    slots.release(job=job)
    services.after_finish(job=job)
    return job.status


def _log_outcome(outcome) -> None:
    if outcome.status == JobStatus.SUCCEEDED:
        logger.info("Succeeded: exit code %s", outcome.exit_code)
    elif outcome.error:
        # The status in words ("Failed: …"), never its code ("timed_out"); an error that
        # already says it ("Timed out after 5 s.") is the whole sentence.
        label = JobStatus(outcome.status).label.capitalize()
        if outcome.error.lower().startswith(label.lower()):
            logger.error("%s", outcome.error)
        else:
            logger.error("%s: %s", label, outcome.error)


def _user_message(exc: BaseException) -> str:
    if isinstance(exc, SshError):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}"
