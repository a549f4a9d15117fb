"""Run a job again with the same parameters (the admin's "re-run", the job page's "Re-run"), or
only on the hosts that did not succeed (the job page's "Relaunch on failed hosts", AWX's habit)."""

from __future__ import annotations

from django.db import transaction

from accounts.services import record_event
from jobs.host_states import unsuccessful_hosts
from jobs.models import Job, JobType
from jobs.services.base import JobInputError, is_fleet
from jobs.services.exec import create_fleet_exec_job, create_remote_exec_job
from jobs.services.playbook import create_playbook_job

RERUN_OF = "rerun_of"  # the params key naming the job a re-run repeats
RERUN_HOSTS = "rerun_hosts"  # "failed": a relaunch on the hosts of RERUN_OF that did not succeed


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


def relaunch_failed_hosts(*, job: Job, created_by=None, via: str = "admin") -> Job:
    """A new job like `job` (same command or playbook, variables, timeout, forks) on only the
    hosts that did not succeed in it (jobs/host_states.py: failed, unreachable, timed out,
    cancelled, never started). For a job on many servers (a fleet command, a playbook) that
    has ended; the policies decide on it like on any job (the create_* services ask them).

    Its params name the original (`rerun_of`) and say `rerun_hosts: "failed"`. Recorded as the
    audit event "job.rerun" with `hosts` (the names it runs on)."""
    if job.job_type != JobType.PLAYBOOK and not is_fleet(job):
        raise JobInputError(f"{job.job_id} ran on one server: re-run it instead.")
    if not job.is_final:
        raise JobInputError(f"{job.job_id} has not ended yet: relaunch on its failed hosts once it has.")
    names = unsuccessful_hosts(job)
    if not names:
        raise JobInputError(f"{job.job_id} has no failed hosts: every server succeeded.")
    servers = [s for s in job.servers.all() if s.name in names]
    if not servers:
        raise JobInputError(f"{job.job_id} cannot be relaunched: its failed servers no longer exist.")
    params = job.params if isinstance(job.params, dict) else {}
    if is_fleet(job):
        # What was asked is now these servers by name (not the tags again: a relaunch repeats).
        params = {**params, "targets": {"servers": [s.name for s in servers], "tags": []}}
    with transaction.atomic():
        new = _create(job, servers, params, created_by, via)
        new.params = {**new.params, RERUN_OF: job.job_id, RERUN_HOSTS: "failed"}
        Job.objects.filter(pk=new.pk).update(params=new.params)
        hosts = [s.name for s in servers]
        record_event(actor=created_by, action="job.rerun", target=new.job_id, via=via, rerun_of=job.job_id, hosts=hosts)
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
