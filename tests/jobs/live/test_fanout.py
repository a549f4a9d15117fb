"""Shared fan-out (issue 15, item 4): the websocket viewers of one job in one process share
one reader (jobs/live/fanout.py), and each still gets every line once, in order: viewers from the
start, one that joins late, one that resumes from a seq, one that never acknowledges."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.testing import WebsocketCommunicator

from jobs.live import fanout
from jobs.log.sink import JobSink
from jobs.models import Job
from tests.helpers import make_user
from tests.jobs.live.test_consumers import HOST, ORIGIN, _app, _cookie

pytestmark = pytest.mark.django_db(transaction=True)

BATCHES, PER_BATCH = 30, 500
TOTAL = BATCHES * PER_BATCH


class Writer(threading.Thread):
    """A running job's sink writing TOTAL lines in batches, then the job's final status."""

    def __init__(self, job: Job) -> None:
        super().__init__(daemon=True)
        self.job = job
        self.written = 0
        self.go = threading.Semaphore(0)  # each batch waits for the test to let it through

    def run(self) -> None:
        sink = JobSink(job_pk=self.job.pk, job_id=self.job.job_id).start()
        try:
            for b in range(BATCHES):
                self.go.acquire(timeout=30)
                sink.write_lines("stdout", [f"line {b * PER_BATCH + i + 1}" for i in range(PER_BATCH)])
                self.written += PER_BATCH
        finally:
            sink.close()
            Job.objects.filter(pk=self.job.pk).update(status="succeeded", exit_code=0)


async def _view(comm: WebsocketCommunicator, *, ack: bool = True) -> tuple[list[int], dict]:
    seqs = []
    while True:
        msg = await comm.receive_json_from(timeout=30)
        if ack and "ack" in msg:
            await comm.send_json_to({"type": "ack", "ack": msg["ack"]})
        if msg["type"] == "lines":
            seqs += [line["seq"] for line in msg["lines"]]
        elif msg["type"] in ("end", "error"):
            return seqs, msg


async def _connect(job: Job, cookie, after: int = 0) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(_app(), f"/ws/jobs/{job.job_id}/?after={after}", headers=[HOST, ORIGIN, cookie])
    assert (await comm.connect())[0]
    return comm


async def _until(predicate, message: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, message
        await asyncio.sleep(0.02)


def _running_job(job_id: str) -> Job:
    return Job.objects.create(job_id=job_id, job_type="remote_exec", status="running")


def _last_message(seqs: list[int], end: dict, first: int) -> None:
    assert end["type"] == "end", end
    assert seqs == list(range(first + 1, TOTAL + 1)), "a gap, a duplicate or a line out of order"
    assert end["last_seq"] == TOTAL


def test_twenty_viewers_share_one_reader_each_gets_every_line_once_in_order(staff_user):
    job = _running_job("remote_exec-00fa0001")
    other = make_user("watcher", is_staff=True)  # 20 sockets is one user's limit per process
    cookies = [_cookie(staff_user), _cookie(other)]
    writer = Writer(job)
    writer.start()

    async def run():
        early = [await _connect(job, cookies[i % 2]) for i in range(17)]
        # (a viewer joins the feed just after its handshake)
        await _until(lambda: (f := fanout.feed_of(job.pk)) and len(f.viewers) == 17, "the viewers share one feed")
        feed = fanout.feed_of(job.pk)
        views = [asyncio.ensure_future(_view(c)) for c in early]
        for n in range(1, 11):
            writer.go.release()
            await _until(lambda n=n: feed.head >= n * PER_BATCH, "the feed did not read the written lines")
        # One joins late from the start, one resumes from a seq inside a batch, one never acks.
        late = await _connect(job, cookies[0])
        resumer = await _connect(job, cookies[1], after=2222)
        stuck = await _connect(job, cookies[1])
        await _until(lambda: len(feed.viewers) == 20, "the later viewers join the same feed")
        assert fanout.feed_of(job.pk) is feed
        views += [asyncio.ensure_future(_view(late)), asyncio.ensure_future(_view(resumer))]
        stuck_view = asyncio.ensure_future(_view(stuck, ack=False))
        writer.go.release(BATCHES)  # the rest as fast as it can
        results = await asyncio.gather(*views)
        counts = feed.rows_read, feed.own_rows_read
        assert not stuck_view.done(), "a viewer that never acknowledges stops at its send window"
        for comm in [*early, late, resumer, stuck]:
            await comm.disconnect()
        stuck_view.cancel()
        return results, counts

    results, (rows_read, own_rows_read) = asyncio.run(run())
    writer.join(10)
    for seqs, end in results[:-1]:
        _last_message(seqs, end, first=0)
    _last_message(*results[-1], first=2222)
    # Each row was read from the database once for all twenty, not once per viewer; only the
    # resumer read the rest of the batch its cursor fell in on its own, then shared.
    assert rows_read == TOTAL
    assert 0 < own_rows_read < fanout.BATCH, "every viewer was served from the shared batches"


def test_a_viewer_behind_the_buffer_catches_up_on_its_own_then_joins_the_shared_batches(staff_user, monkeypatch):
    monkeypatch.setattr(fanout, "BUFFER_BYTES", 64 << 10)  # a few batches: a late joiner is behind them
    job = _running_job("remote_exec-00fa0002")
    cookie = _cookie(staff_user)
    writer = Writer(job)
    writer.start()

    async def run():
        first = await _connect(job, cookie)
        await _until(lambda: fanout.feed_of(job.pk), "the viewer joins a feed")
        feed = fanout.feed_of(job.pk)
        first_view = asyncio.ensure_future(_view(first))
        for n in range(1, 21):
            writer.go.release()
            await _until(lambda n=n: feed.head >= n * PER_BATCH, "the feed did not read the written lines")
        assert feed.base > 0, "the buffer dropped its oldest batches"
        late = await _connect(job, cookie)
        late_view = asyncio.ensure_future(_view(late))
        writer.go.release(BATCHES)
        results = await asyncio.gather(first_view, late_view)
        counts = feed.rows_read, feed.own_rows_read
        await first.disconnect()
        await late.disconnect()
        assert fanout.feed_of(job.pk) is None, "the last viewer to leave stops and forgets the feed"
        return results, counts

    results, (rows_read, own_rows_read) = asyncio.run(run())
    writer.join(10)
    for seqs, end in results:
        _last_message(seqs, end, first=0)
    assert rows_read == TOTAL
    assert 0 < own_rows_read < TOTAL, "the late viewer read only what the buffer no longer held"


def test_a_deleted_job_closes_every_viewer_with_a_message(staff_user):
    job = _running_job("remote_exec-00fa0003")
    cookie = _cookie(staff_user)

    async def run():
        comms = [await _connect(job, cookie) for _ in range(3)]
        for comm in comms:  # each viewer found the job (its status came) before it goes
            first = await comm.receive_json_from(timeout=30)
            assert first["type"] == "status", first
            await comm.send_json_to({"type": "ack", "ack": first["ack"]})
        await asyncio.get_running_loop().run_in_executor(None, lambda: Job.objects.filter(pk=job.pk).delete())
        outcomes = []
        for comm in comms:
            seqs, msg = await _view(comm)
            outcomes.append((msg, await comm.receive_output(timeout=10)))
        return outcomes

    for msg, closed in asyncio.run(run()):
        assert msg == {"type": "error", "error": "The job was deleted."}
        assert closed == {"type": "websocket.close", "code": 4404}
