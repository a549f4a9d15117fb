"""Run a job again with the same parameters (the admin's "re-run", the job page's "Re-run")."""

from __future__ import annotations

from django.db import transaction

from accounts.services import record_event
from jobs.models import Job, JobType
from jobs.services.base import JobInputError, is_fleet
from jobs.services.exec import create_fleet_exec_job, create_remote_exec_job
from jobs.services.playbook import create_playbook_job

RERUN_OF = "rerun_of"  # the params key naming the job a re-run repeats


def rerun_job(*, job: Job, created_by=None, via: str = "admin") -> Job:
    """A new job with the same type, servers, parameters and timeout; the old one is untouched.

    The new job's params name the original (`rerun_of`), so each page links the other. The
    parameters go through the same services (and checks) as a new job: a playbook that was
    removed since, or a server that is gone, gives a JobInputError saying so. Recorded as the
    audit event "job.rerun" (`via`: the surface that asked)."""
    servers = list(job.servers.all()) or ([job.server] if job.server_id else [])
    if not servers:
        raise JobInputError(f"{job.job_id} cannot be re-run: its server no longer exists.")
    params = job.params if isinstance(job.params, dict) else {}
    # One transaction: the worker is handed the new job (on commit) with rerun_of already set.
    with transaction.atomic():
        new = _create(job, servers, params, created_by, via)
        new.params = {**new.params, RERUN_OF: job.job_id}
        Job.objects.filter(pk=new.pk).update(params=new.params)
        record_event(actor=created_by, action="job.rerun", target=new.job_id, via=via, rerun_of=job.job_id)
    return new


def _create(job: Job, servers: list, params: dict, created_by, via: str) -> Job:
    if job.job_type == JobType.REMOTE_EXEC and is_fleet(job):
        # The same servers the original ran on (not its tags resolved again): a re-run repeats.
        return create_fleet_exec_job(
            servers=servers,
            command=params.get("command", ""),
            timeout=job.timeout,
            working_dir=params.get("working_dir") or None,
            forks=params.get("forks"),
            success=params.get("success", "all"),
            targets=params.get("targets"),
            created_by=created_by,
            via=via,
        )
    if job.job_type == JobType.REMOTE_EXEC:
        return create_remote_exec_job(
            server=servers[0],
            command=params.get("command", ""),
            timeout=job.timeout,
            working_dir=params.get("working_dir") or None,
            created_by=created_by,
            via=via,
        )
    if job.job_type == JobType.PLAYBOOK:
        return create_playbook_job(
            playbook=params.get("playbook", ""),
            servers=servers,
            extra_vars=params.get("extra_vars") or None,
            timeout=job.timeout,
            check=bool(params.get("check", False)),
            created_by=created_by,
            via=via,
        )
    raise JobInputError(f"{job.job_id} cannot be re-run: unknown job type {job.job_type!r}.")
