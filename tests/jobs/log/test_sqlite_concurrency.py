"""50 jobs at once on SQLite while API readers hammer the same database: nothing is ever
"database is locked", every job succeeds, and every job has exactly its lines, in order.

The jobs run as task bodies (jobs.tasks.run_job) in 50 threads of this process, each with its
own database connection, its own asyncio loop and its own sink thread: 100 writers on one
SQLite file. Four reader threads use the API through Django's test client meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback

import pytest
from django.db import connection, connections
from django.test import Client

from accounts.services import create_token
from jobs.models import Job, JobLogLine
from jobs.services import create_remote_exec_job
from jobs.tasks import run_job
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = 50
LINES = 2000
READERS = 4
LOCKED = "database is locked"


class _Records(logging.Handler):
    """Every app log record, from every thread: a retried write still says "locked" here."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.seen: list[str] = []
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        with self.lock_:
            self.seen.append(f"{record.name} {record.levelname}: {text}")


@pytest.fixture
def records():
    handler = _Records()
    # The app's loggers do not propagate (settings.LOGGING): attach to each, and to the root.
    loggers = [logging.getLogger(name) for name in ("", "livchat", "servers", "jobs", "accounts", "django")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def _in_thread(errors: list[str], body) -> threading.Thread:
    def run() -> None:
        try:
            body()
        except BaseException:  # noqa: BLE001 - collected and asserted on by the test
            errors.append(traceback.format_exc())
        finally:
            connections.close_all()  # this thread's own connection

    return threading.Thread(target=run, daemon=True)


def test_fifty_jobs_and_api_readers_never_see_a_locked_database(make_server, django_user_model, records):
    assert connection.vendor == "sqlite"
    server = make_server(name="busy", max_concurrent_jobs=60)
    jobs = [
        create_remote_exec_job(server=server, command=f"seq 1 {LINES}; echo job-{i}-done >&2", enqueue=False)
        for i in range(JOBS)
    ]
    _, token = create_token(user=make_user("reader", is_staff=True))

    errors: list[str] = []
    answers: list[tuple[int, str, bytes]] = []
    done = threading.Event()
    start = threading.Barrier(JOBS + READERS)

    def reader(n: int) -> None:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        start.wait(timeout=60)
        i = n
        while not done.is_set():
            job_id = jobs[i % JOBS].job_id
            for path in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/logs?tail=100"):
                response = client.get(path)
                answers.append((response.status_code, path, response.content[:300]))
            i += 1

    def worker(job: Job) -> None:
        start.wait(timeout=60)
        run_job(job.job_id)

    readers = [_in_thread(errors, lambda n=n: reader(n)) for n in range(READERS)]
    workers = [_in_thread(errors, lambda job=job: worker(job)) for job in jobs]
    started = time.monotonic()
    for t in readers + workers:
        t.start()
    for t in workers:
        t.join(timeout=240)
    done.set()
    for t in readers:
        t.join(timeout=60)
    elapsed = time.monotonic() - started

    assert not [t for t in readers + workers if t.is_alive()], "a thread is stuck"
    assert errors == [], errors[0]
    locked = [line for line in records.seen if LOCKED in line.lower()]
    assert locked == [], locked[:5]
    assert len(answers) >= 2 * READERS, "the readers did not run alongside the jobs"
    bad = [(status, path, body) for status, path, body in answers if status != 200]
    assert bad == [], bad[:5]
    assert not any(LOCKED.encode() in body for _, _, body in answers)

    overlap = _most_at_once(jobs)
    assert overlap > 1, "the jobs never ran at the same time"

    expected_stdout = [str(i) for i in range(1, LINES + 1)]
    for i, job in enumerate(jobs):
        job.refresh_from_db()
        assert job.status == "succeeded", (job.job_id, job.status, job.error)
        rows = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("seq", "stream", "message"))
        assert [seq for seq, _, _ in rows] == list(range(1, job.last_seq + 1)), f"{job.job_id}: a hole in seq"
        assert job.line_count == len(rows)
        assert [m for _, stream, m in rows if stream == "stdout"] == expected_stdout, f"{job.job_id}: lines differ"
        assert [m for _, stream, m in rows if stream == "stderr"] == [f"job-{i}-done"]
        assert all(LOCKED not in m for _, _, m in rows)
    print(
        f"\n{JOBS} jobs x {LINES} lines, {READERS} API readers: {elapsed:.1f} s, "
        f"{overlap} jobs at once at most, {len(answers)} API answers"
    )


def _most_at_once(jobs: list[Job]) -> int:
    events = []
    for job in Job.objects.filter(pk__in=[j.pk for j in jobs]).values("started_at", "finished_at"):
        events += [(job["started_at"], 1), (job["finished_at"], -1)]
    running = most = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        most = max(most, running)
    return most
