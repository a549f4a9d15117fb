"""Websocket consumers through the real ASGI app (origin check, session auth, routing)."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from jobs.log.sink import JobSink
from jobs.models import Job
from jobs.services import create_remote_exec_job
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")  # a browser always sends both


def _app():
    from livchat.asgi import application

    return application


def _cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def _finished_job(n_lines: int, job_id: str = "remote_exec-0000abcd") -> Job:
    job = Job.objects.create(job_id=job_id, job_type="remote_exec", status="running")
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", [f"line {i}" for i in range(1, n_lines + 1)])
    sink.close()
    Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0)
    return Job.objects.get(pk=job.pk)


async def _collect(comm: WebsocketCommunicator, *, until_end: bool = True, max_lines: int | None = None):
    seqs, messages = [], []
    while True:
        msg = await comm.receive_json_from(timeout=20)
        messages.append(msg)
        if msg["type"] == "lines":
            assert len(msg["lines"]) <= 1000
            seqs += [line["seq"] for line in msg["lines"]]
            if max_lines is not None and len(seqs) >= max_lines:
                return seqs, messages
        if msg["type"] == "end" and until_end:
            return seqs, messages


def test_resume_after_a_seq_sends_the_rest_in_batches_then_end(staff_user):
    job = _finished_job(2500)

    cookie = _cookie(staff_user)

    async def run():
        comm = WebsocketCommunicator(_app(), f"/ws/jobs/{job.job_id}/?after=1000", headers=[HOST, ORIGIN, cookie])
        connected, _ = await comm.connect()
        assert connected
        seqs, messages = await _collect(comm)
        await comm.disconnect()
        return seqs, messages

    seqs, messages = asyncio.run(run())
    assert seqs == list(range(1001, 2501))
    types = [m["type"] for m in messages]
    assert types[-1] == "end" and messages[-1]["last_seq"] == 2500
    assert types.count("lines") == 2 and "status" in types
    first = next(m for m in messages if m["type"] == "lines")["lines"][0]
    assert first == {"seq": 1001, "ts": first["ts"], "level": "INFO", "stream": "stdout", "message": "line 1001"}


def test_reconnect_while_job_writes_gives_every_line_once(server, staff_user, run_job_in_thread):
    job = create_remote_exec_job(
        server=server, command="for i in $(seq 1 40); do seq $((i*100-99)) $((i*100)); sleep 0.05; done", enqueue=False
    )
    run_job_in_thread(job)
    cookie = _cookie(staff_user)

    async def run():
        received: list[int] = []
        after = 0
        for attempt in range(50):
            comm = WebsocketCommunicator(
                _app(), f"/ws/jobs/{job.job_id}/?after={after}", headers=[HOST, ORIGIN, cookie]
            )
            assert (await comm.connect())[0]
            seqs, messages = await _collect(comm, until_end=attempt >= 3, max_lines=None if attempt >= 3 else 300)
            await comm.disconnect()  # drop mid-stream, then resume from the last seq seen
            received += seqs
            after = received[-1] if received else 0
            if messages[-1]["type"] == "end":
                return received, messages[-1]
        raise AssertionError("never reached end")

    received, end = asyncio.run(run())
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert received == list(range(1, job.last_seq + 1)), "a gap or a duplicate across reconnects"
    assert end["last_seq"] == job.last_seq
    stdout = [int(m) for m in job.lines.filter(stream="stdout").order_by("seq").values_list("message", flat=True)]
    assert stdout == list(range(1, 4001))


def test_end_comes_only_after_the_last_line(server, staff_user, run_job_in_thread):
    job = create_remote_exec_job(server=server, command="seq 1 3000; sleep 0.5; echo last-line", enqueue=False)

    cookie = _cookie(staff_user)

    async def run():
        comm = WebsocketCommunicator(_app(), f"/ws/jobs/{job.job_id}/", headers=[HOST, ORIGIN, cookie])
        assert (await comm.connect())[0]
        await asyncio.get_running_loop().run_in_executor(None, run_job_in_thread, job)
        seqs, messages = await _collect(comm)
        await comm.disconnect()
        return seqs, messages

    seqs, messages = asyncio.run(run())
    job.refresh_from_db()
    lines = [line for m in messages if m["type"] == "lines" for line in m["lines"]]
    assert messages[-1]["type"] == "end"
    assert seqs == list(range(1, job.last_seq + 1))
    assert any(line["message"] == "last-line" for line in lines)
    statuses = [m["status"] for m in messages if m["type"] == "status"]
    assert statuses[-1] == "succeeded"


@pytest.mark.parametrize(
    "headers_kind, expected_close",
    [("foreign-origin", None), ("anonymous", 4401), ("staff-without-role", 4403)],
)
def test_refused_connections(headers_kind, expected_close):
    job = _finished_job(3)
    user = make_user("plain", role=None, is_staff=True)
    staff = make_user("boss", is_staff=True)  # has a role: a foreign origin alone must refuse it
    headers = {
        "foreign-origin": [HOST, (b"origin", b"http://evil.example"), _cookie(staff)],
        "anonymous": [HOST, ORIGIN],
        "staff-without-role": [HOST, ORIGIN, _cookie(user)],
    }[headers_kind]

    async def run():
        comm = WebsocketCommunicator(_app(), f"/ws/jobs/{job.job_id}/", headers=headers)
        connected, code = await comm.connect()
        await comm.disconnect()
        return connected, code

    connected, code = asyncio.run(run())
    assert not connected
    if expected_close is not None:
        assert code == expected_close


@pytest.mark.parametrize(
    "path, code, text",
    [
        ("/ws/jobs/remote_exec-0000abcd/?after=-5", 4400, "after must be"),
        ("/ws/jobs/remote_exec-0000abcd/?after=abc", 4400, "after must be"),
        ("/ws/jobs/remote_exec-ffffffff/", 4404, "No job"),
    ],
)
def test_bad_requests_get_a_message_and_a_close_code(staff_user, path, code, text):
    _finished_job(3)

    cookie = _cookie(staff_user)

    async def run():
        comm = WebsocketCommunicator(_app(), path, headers=[HOST, ORIGIN, cookie])
        assert (await comm.connect())[0]
        msg = await comm.receive_json_from(timeout=10)
        close = await comm.receive_output(timeout=10)
        await comm.disconnect()
        return msg, close

    msg, close = asyncio.run(run())
    assert msg["type"] == "error" and text in msg["error"]
    assert close == {"type": "websocket.close", "code": code}


def test_after_beyond_the_end_sends_no_lines_just_end(staff_user):
    job = _finished_job(5)

    cookie = _cookie(staff_user)

    async def run():
        comm = WebsocketCommunicator(_app(), f"/ws/jobs/{job.job_id}/?after=999", headers=[HOST, ORIGIN, cookie])
        assert (await comm.connect())[0]
        seqs, messages = await _collect(comm)
        await comm.disconnect()
        return seqs, messages

    seqs, messages = asyncio.run(run())
    assert seqs == [] and messages[-1]["type"] == "end"


def test_dashboard_socket_reports_status_changes(staff_user):
    job = Job.objects.create(job_id="remote_exec-00001111", job_type="remote_exec", status="pending")

    cookie = _cookie(staff_user)

    async def run():
        comm = WebsocketCommunicator(_app(), "/ws/jobs/", headers=[HOST, ORIGIN, cookie])
        assert (await comm.connect())[0]
        first = await comm.receive_json_from(timeout=10)
        from channels.db import database_sync_to_async

        await database_sync_to_async(Job.objects.filter(pk=job.pk).update)(status="running", progress=40)
        second = await comm.receive_json_from(timeout=10)
        await comm.disconnect()
        return first, second

    first, second = asyncio.run(run())
    assert first["job_id"] == job.job_id and first["status"] == "pending"
    assert second["job_id"] == job.job_id and second["status"] == "running" and second["progress"] == 40
