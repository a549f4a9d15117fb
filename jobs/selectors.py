"""Selectors: reads of jobs shaped for one use, with the plain-ORM answer beside any faster one.

`job_with_servers` is what every job route starts with (jobs/api/jobs.py): the job, its
servers (for the permission rule and the answer) and its creator's name. It runs two queries
compiled once per connection (jobs/compiled.py) and builds the objects as the ORM would,
because Django's per-call SQL compiling cost more than the reads (bench/queries.py). That
relies on Django internals (`from_db`, a prefetch cache filled by hand); `job_with_servers_plain`
is the same answer in plain ORM, and tests/jobs/test_job_selectors.py asserts the two agree.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS

from jobs.compiled import CompiledValues
from jobs.models import Job
from servers.models import Server


def job_with_servers_plain(job_id: str) -> Job | None:
    """The job with its servers prefetched and its creator joined (plain ORM)."""
    return Job.objects.select_related("server", "created_by").prefetch_related("servers").filter(job_id=job_id).first()


def job_with_servers(job_id: str) -> Job | None:
    """The same answer as job_with_servers_plain, from two compiled reads."""
    found = _JOB_ROW.rows(params=(job_id,))
    return _job_from_row(found[0]) if found else None


_USER = get_user_model()
_CREATOR_NAME = f"created_by__{_USER.USERNAME_FIELD}"
_JOB_COLUMNS = tuple(f.attname for f in Job._meta.concrete_fields)
_SERVER_COLUMNS = tuple(f.attname for f in Server._meta.concrete_fields)
_JOB_ROW = CompiledValues(
    build=lambda job_id: Job.objects.filter(job_id=job_id).order_by().values(*_JOB_COLUMNS, _CREATOR_NAME)[:1],
    probes=("\x00job-id-probe",),
)
_JOB_SERVERS = CompiledValues(
    build=lambda job_pk: Server.objects.filter(all_jobs=job_pk).values(*_SERVER_COLUMNS),
    probes=(-7_391_026_553,),  # a job pk that cannot exist
)


def _job_from_row(row: dict) -> Job:
    """A Job as the ORM would build it with select_related("server", "created_by") and
    prefetch_related("servers"); the creator carries only its username (the rest loads on use)."""
    job = Job.from_db(DEFAULT_DB_ALIAS, _JOB_COLUMNS, [row[c] for c in _JOB_COLUMNS])
    servers = [
        Server.from_db(DEFAULT_DB_ALIAS, _SERVER_COLUMNS, [r[c] for c in _SERVER_COLUMNS])
        for r in _JOB_SERVERS.rows(params=(job.pk,))
    ]
    prefetched = job.servers.get_queryset()  # filled as Django's prefetch_related fills it
    prefetched._result_cache, prefetched._prefetch_done = servers, True
    job._prefetched_objects_cache = {"servers": prefetched}
    # `server` is one of `servers` (the first) on every job made since there were several; an
    # older job's loads on use.
    first = next((s for s in servers if s.pk == job.server_id), None)
    if first is not None:
        job.server = first
    if job.created_by_id is not None:
        known = {_USER._meta.pk.attname: job.created_by_id, _USER.USERNAME_FIELD: row[_CREATOR_NAME]}
        fields = [f.attname for f in _USER._meta.concrete_fields if f.attname in known]  # from_db's order
        job.created_by = _USER.from_db(DEFAULT_DB_ALIAS, fields, [known[f] for f in fields])
    return job
