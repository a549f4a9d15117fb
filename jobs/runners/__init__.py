"""Runners: one per job type, each a coroutine `run(*, job, sink) -> Outcome`.

tasks.run_job → `dispatch` → the job type's runner (remote_exec.py, playbook/runner.py), which
streams the job's lines into its sink (jobs/log/sink.py) and returns an Outcome;
tasks.run_job then writes the final status. shell.py streams one command over SSH (used by
the remote_exec runner); inline.py runs a remote_exec job in the caller's own process (the
API's and the CLI's inline exec).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING

from jobs.models import JobStatus, JobType

if TYPE_CHECKING:
    from jobs.log.sink import JobSink
    from jobs.models import Job


@dataclass
class Outcome:
    status: JobStatus  # a final one: succeeded, failed, timed_out or cancelled
    exit_code: int | None = None
    error: str = ""
    result: dict = field(default_factory=dict)


# The runner module of each job type, imported when a job of that type runs. Named, not
# imported here: the runners import Outcome from this package.
RUNNERS: dict[JobType, str] = {
    JobType.REMOTE_EXEC: "jobs.runners.remote_exec",
    JobType.PLAYBOOK: "jobs.runners.playbook.runner",
}


async def dispatch(*, job: Job, sink: JobSink) -> Outcome:
    module = RUNNERS.get(job.job_type)
    if module is None:
        raise ValueError(f"Unknown job type {job.job_type!r}")
    return await import_module(module).run(job=job, sink=sink)
