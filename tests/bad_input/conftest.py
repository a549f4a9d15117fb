"""Fixtures of the bad-input table: the people who call, and a world with a finished job."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.crypto import get_random_string

from accounts.services import create_token
from jobs.models import Job, JobLogLine
from jobs.services import create_remote_exec_job
from servers.models import Server
from tests.api_helpers import Api
from tests.bad_input.helpers import JOB_LINE_COUNT, JOB_LINES, SPACED_DIR, store_lines
from tests.helpers import free_port, make_user


@dataclass
class World:
    """Who calls (tokens, sessions) and what exists (servers, one finished job with lines)."""

    job: Job
    server: Server
    closed: Server
    staff: object
    plain: object
    tokens: dict[str, str] = field(default_factory=dict)

    def fill(self, value):
        """Put the real names into a row's input: {job}, {server}, {closed}."""
        if isinstance(value, str):
            return (
                value.replace("{job}", self.job.job_id)
                .replace("{server}", self.server.name)
                .replace("{closed}", self.closed.name)
            )
        if isinstance(value, bytes):
            return self.fill(value.decode("latin-1")).encode("latin-1")
        if isinstance(value, list | tuple):
            return type(value)(self.fill(v) for v in value)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    def api(self, auth: str) -> Api:
        """An API client: token, none, bad-token, plain-token, staff-session(-csrf), plain-session."""
        if auth == "none":
            return Api()
        if auth == "bad-token":
            return Api("lc_" + "x" * 43)
        if auth in ("token", "plain-token"):
            return Api(self.tokens["staff" if auth == "token" else "plain"])
        api = Api()
        api.client.force_login(self.plain if auth == "plain-session" else self.staff)
        if auth == "staff-session-csrf":  # what the browser sends: the cookie and the header
            secret = get_random_string(32)
            api.client.cookies["csrftoken"] = secret
            api.headers = {"HTTP_X_CSRFTOKEN": secret}
        return api

    def snapshot(self) -> tuple:
        """What a refused request must leave unchanged."""
        self.job.refresh_from_db()
        return (
            Job.objects.count(),
            Server.objects.count(),
            self.job.status,
            self.job.line_count,
            self.job.lines.count(),
        )


@pytest.fixture(scope="session")
def spaced_dir(sshd) -> str:
    """A directory with spaces in its name, on the sshd host."""
    made = sshd.run_local(f"mkdir -p '{SPACED_DIR}'")
    assert made.returncode == 0, made.stderr
    return SPACED_DIR


@pytest.fixture
def world(db, make_server, spaced_dir) -> World:
    """Inside the test's transaction (rolled back, not flushed: ~50 rows stay fast). Rows that
    need other threads or processes to see the data use `committed_world`."""
    return _build_world(make_server, through_sink=False)


@pytest.fixture
def committed_world(transactional_db, make_server, spaced_dir) -> World:
    return _build_world(make_server, through_sink=True)


def _build_world(make_server, *, through_sink: bool) -> World:
    staff = make_user("table-staff", is_staff=True)
    plain = make_user("table-plain", role=None)
    server = make_server()
    closed = make_server(name="closed", port=free_port())
    job = create_remote_exec_job(server=server, command="demo", created_by=staff, enqueue=False)
    if through_sink:
        store_lines(job, JOB_LINES)  # rows and log file, from the sink's own thread
    else:
        _insert_lines(job)
    Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0, finished_at=timezone.now())
    job.refresh_from_db()
    assert job.line_count == job.last_seq == JOB_LINE_COUNT
    tokens = {"staff": create_token(user=staff)[1], "plain": create_token(user=plain)[1]}
    return World(job=job, server=server, closed=closed, staff=staff, plain=plain, tokens=tokens)


def _insert_lines(job: Job) -> None:
    now = timezone.now()
    rows = [
        JobLogLine(job=job, seq=0, ts=now, level=level, stream=stream, message=message)
        for stream, level, batch in JOB_LINES
        for message in batch
    ]
    for seq, row in enumerate(rows, start=1):
        row.seq = seq
    JobLogLine.objects.bulk_create(rows)
    Job.objects.filter(pk=job.pk).update(line_count=len(rows), last_seq=len(rows))


@pytest.fixture
def superuser_client(db) -> Client:
    user = make_user("table-root", role=None, is_staff=True, is_superuser=True)
    client = Client(raise_request_exception=False)  # a 500 is a status to assert on, not a crash
    client.force_login(user)
    return client
