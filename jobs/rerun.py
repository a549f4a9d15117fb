"""Run a job again with the same parameters (admin action "re-run")."""

from __future__ import annotations

from jobs.models import Job, JobType
from jobs.runners.playbook.catalog import create_playbook_job
from jobs.services import JobInputError, create_remote_exec_job


def rerun_job(*, job: Job, created_by=None) -> Job:
    """A new job with the same type, servers, parameters and timeout; the old one is untouched.

    The parameters go through the same services (and checks) as a new job: a playbook that
    was removed since, or a server that is gone, gives a JobInputError saying so.
    """
    servers = list(job.servers.all()) or ([job.server] if job.server_id else [])
    if not servers:
        raise JobInputError(f"{job.job_id} cannot be re-run: its server no longer exists.")
    params = job.params if isinstance(job.params, dict) else {}
    if job.job_type == JobType.REMOTE_EXEC:
        return create_remote_exec_job(
            server=servers[0],
            command=params.get("command", ""),
            timeout=job.timeout,
            working_dir=params.get("working_dir") or None,
            created_by=created_by,
        )
    if job.job_type == JobType.PLAYBOOK:
        return create_playbook_job(
            playbook=params.get("playbook", ""),
            servers=servers,
            extra_vars=params.get("extra_vars") or None,
            timeout=job.timeout,
            check=bool(params.get("check", False)),
            created_by=created_by,
        )
    raise JobInputError(f"{job.job_id} cannot be re-run: unknown job type {job.job_type!r}.")
