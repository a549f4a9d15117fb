"""One executor per job type. Each is a coroutine: (job, sink) -> Outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs.executors.remote import Outcome
    from jobs.models import Job
    from jobs.sink import JobSink


async def dispatch(*, job: Job, sink: JobSink) -> Outcome:
    from jobs.executors import remote_job

    if job.job_type == "remote_exec":
        return await remote_job.run(job=job, sink=sink)
    if job.job_type == "playbook":
        from jobs.executors import playbook

        return await playbook.run(job=job, sink=sink)
    raise ValueError(f"Unknown job type {job.job_type!r}")
