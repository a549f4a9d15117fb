"""Runners: one per job type, each a coroutine `run(*, job, sink) -> Outcome`.

tasks.run_job → `dispatch` → the job's runner (remote_exec.py, fleet.py, playbook/runner.py), which
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
from jobs.services.base import is_fleet

if TYPE_CHECKING:
    from jobs.log.sink import JobSink
    from jobs.models import Job


@dataclass
class Outcome:
    status: JobStatus  # a final one: succeeded, failed, timed_out or cancelled
    exit_code: int | None = None
    error: str = ""
    result: dict = field(default_factory=dict)


# Every way a job runs, and its runner module, imported when such a job runs. Named, not
# imported here: the runners import Outcome from this package.
RUNNERS: dict[str, str] = {
    "remote_exec": "jobs.runners.remote_exec",  # one command on one server
    "fleet": "jobs.runners.fleet",  # one command on many servers: a remote_exec job with forks
    "playbook": "jobs.runners.playbook.runner",
}


def runner_name(job: Job) -> str:
    """Which of RUNNERS runs `job`."""
    if job.job_type == JobType.REMOTE_EXEC and is_fleet(job):
        return "fleet"
    return str(job.job_type)


async def dispatch(*, job: Job, sink: JobSink) -> Outcome:
    module = RUNNERS.get(runner_name(job))
    if module is None:
        raise ValueError(f"Unknown job type {job.job_type!r}")
    return await import_module(module).run(job=job, sink=sink)
