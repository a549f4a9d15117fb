"""Running a playbook from the catalog (jobs/runners/playbook/catalog.py) on some servers."""

from __future__ import annotations

from django.conf import settings

from jobs.models import Job, JobType
from jobs.runners.playbook.catalog import check_servers, default_timeout, resolve_playbook, validate_extra_vars
from jobs.services.base import JobInputError, create_job, validate_timeout
from servers.models import Server


def create_playbook_job(
    *,
    playbook: str,
    servers: list[Server],
    extra_vars: dict | None = None,
    timeout: int | float | None = None,
    check: bool = False,
    created_by=None,
    via: str = "",
    enqueue: bool = True,
) -> Job:
    """A playbook job; `check` runs it in Ansible's check mode (with diffs): nothing changes."""
    info = resolve_playbook(playbook)
    if not isinstance(check, bool):
        raise JobInputError("check must be true or false.")
    params = {"playbook": info.name, "extra_vars": validate_extra_vars(extra_vars), "check": check}
    targets = check_servers(servers)
    seconds = validate_timeout(timeout, default=default_timeout(), maximum=settings.JOB_MAX_TIMEOUT)
    return create_job(
        job_type=JobType.PLAYBOOK,
        servers=targets,
        params=params,
        timeout=seconds,
        created_by=created_by,
        via=via,
        enqueue=enqueue,
    )
