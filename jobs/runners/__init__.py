"""One executor per job type. Each is a coroutine: (job, sink) -> Outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs.log.sink import JobSink
    from jobs.models import Job
    from jobs.runners.shell import Outcome


async def dispatch(*, job: Job, sink: JobSink) -> Outcome:
    from jobs.runners import remote_exec

    if job.job_type == "remote_exec":
        return await remote_exec.run(job=job, sink=sink)
    if job.job_type == "playbook":
        from jobs.runners.playbook import runner

        return await runner.run(job=job, sink=sink)
    raise ValueError(f"Unknown job type {job.job_type!r}")
