"""jobs/selectors.py: the compiled job read (Django internals) and its plain-ORM twin give the
same answer, field by field, for every shape of job a route can meet."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.models import Job
from jobs.selectors import job_with_servers, job_with_servers_plain
from jobs.services import create_fleet_exec_job, create_playbook_job, create_remote_exec_job
from servers.models import Server
from servers.permissions import job_servers
from tests.helpers import make_user

pytestmark = pytest.mark.django_db


def fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def answer(job: Job | None) -> dict | None:
    """Everything a route reads from the selector's job, without further queries."""
    if job is None:
        return None
    return {
        "job": fields(job),
        "servers": sorted((fields(s) for s in job_servers(job)), key=lambda s: s["id"]),
        "server": fields(job.server) if job.server_id else None,
        "creator": (job.created_by.pk, job.created_by.get_username()) if job.created_by_id else None,
    }


@pytest.fixture
def jobs():
    one = Server.objects.create(name="one", host="192.0.2.1", tags=["web"])
    two = Server.objects.create(name="two", host="192.0.2.2", tags=["web"])
    owner = make_user("owner")
    single = create_remote_exec_job(server=one, command="uptime", created_by=owner, enqueue=False)
    fleet = create_fleet_exec_job(servers=[one, two], command="id", forks=2, created_by=owner, enqueue=False)
    playbook = create_playbook_job(playbook="ping.yml", servers=[two, one], enqueue=False)  # no creator
    older = create_remote_exec_job(server=two, command="true", created_by=owner, enqueue=False)
    older.servers.clear()  # made before jobs had several servers: only the `server` column
    gone = create_remote_exec_job(server=one, command="true", created_by=make_user("leaver"), enqueue=False)
    gone.created_by.delete()  # the creator's account was deleted since
    return [single, fleet, playbook, older, gone]


def test_the_compiled_read_and_the_plain_orm_agree_on_every_shape(jobs):
    for job in jobs:
        fast, plain = job_with_servers(job.job_id), job_with_servers_plain(job.job_id)
        with CaptureQueriesContext(connection) as extra:
            fast_answer, plain_answer = answer(fast), answer(plain)
        assert fast_answer == plain_answer, job.job_id
        assert fast_answer["job"]["job_id"] == job.job_id
        if job.job_id != jobs[3].job_id:  # an older job's `server` loads on use, in both
            assert len(extra.captured_queries) == 0, [q["sql"] for q in extra.captured_queries]


def test_an_unknown_id_is_none_in_both():
    assert job_with_servers("remote_exec-00000000") is None
    assert job_with_servers_plain("remote_exec-00000000") is None


def test_the_compiled_read_takes_two_queries(jobs):
    with CaptureQueriesContext(connection) as reads:
        job_with_servers(jobs[1].job_id)
    assert len(reads.captured_queries) == 2
