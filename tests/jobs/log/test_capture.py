"""The logging handler routes app records to the sink of the job in the current context."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from jobs.log.capture import JobLogHandler, capture_into, current_sink
from jobs.log.sink import JobSink
from jobs.models import Job, JobLogLine

pytestmark = pytest.mark.django_db(transaction=True)


def _job(n: int) -> Job:
    return Job.objects.create(job_id=f"remote_exec-{n:08x}", job_type="remote_exec", status="running")


def _messages(job: Job) -> list[str]:
    return list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("message", flat=True))


def test_handler_is_installed_once_through_settings():
    for name in ("jobs", "servers"):
        handlers = [h for h in logging.getLogger(name).handlers if isinstance(h, JobLogHandler)]
        assert len(handlers) == 1


def test_records_outside_a_job_are_not_captured():
    job = _job(1)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    logging.getLogger("jobs.test").info("outside any job")
    with capture_into(sink):
        logging.getLogger("jobs.test").warning("inside the job")
    logging.getLogger("servers.test").info("outside again")
    sink.close()
    assert _messages(job) == ["inside the job"]
    assert JobLogLine.objects.get(job=job).level == "WARNING"
    assert current_sink.get() is None


def test_twelve_concurrent_asyncio_jobs_never_see_each_others_records():
    jobs = [_job(100 + i) for i in range(12)]
    sinks = [JobSink(job_pk=j.pk, job_id=j.job_id).start() for j in jobs]
    log = logging.getLogger("servers.concurrency")

    async def one(i: int) -> None:
        with capture_into(sinks[i]):
            for n in range(50):
                log.info("job %d record %d", i, n)
                await asyncio.sleep(0)  # interleave with the other jobs

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(12)))

    asyncio.run(main())
    for s in sinks:
        s.close()
    for i, job in enumerate(jobs):
        assert _messages(job) == [f"job {i} record {n}" for n in range(50)]


def test_concurrent_threads_never_see_each_others_records():
    jobs = [_job(200 + i) for i in range(10)]
    sinks = [JobSink(job_pk=j.pk, job_id=j.job_id).start() for j in jobs]
    barrier = threading.Barrier(10)
    log = logging.getLogger("jobs.concurrency")

    def one(i: int) -> None:
        with capture_into(sinks[i]):
            barrier.wait()
            for n in range(100):
                log.error("thread %d record %d", i, n)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in sinks:
        s.close()
    for i, job in enumerate(jobs):
        assert _messages(job) == [f"thread {i} record {n}" for n in range(100)]


def test_a_record_logged_while_storing_does_not_recurse():
    job = _job(300)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    # The sink logs its own warnings (retries) from its writer thread: a new thread has an
    # empty context, so nothing loops back. Simulate a record raised inside emit itself.
    with capture_into(sink):
        logging.getLogger("jobs.log.sink").info("first")
    sink.close()
    assert _messages(job) == ["first"]


def test_multiline_record_becomes_one_row_per_line():
    job = _job(301)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    with capture_into(sink):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("jobs.test").exception("failed")
    sink.close()
    lines = _messages(job)
    assert lines[0] == "failed" and "Traceback (most recent call last):" in lines[1]
    assert lines[-1] == "RuntimeError: boom"
    assert set(JobLogLine.objects.filter(job=job).values_list("level", flat=True)) == {"ERROR"}
