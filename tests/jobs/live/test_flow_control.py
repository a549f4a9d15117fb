"""Websocket flow control (jobs/live/flow.py): at most ~1 MiB unacknowledged per socket, acks that
prove reading, at most 20 sockets per user; and, through a real daphne, clients that never
read cost daphne almost nothing while a normal viewer still gets every line."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time

import pytest
from channels.testing import WebsocketCommunicator

from jobs.live.flow import CLOSE_TOO_MANY_SOCKETS, MAX_SOCKETS_PER_USER, MESSAGE_BYTES, WINDOW_BYTES, open_sockets
from jobs.log.sink import JobSink
from jobs.models import Job
from jobs.services import new_job_id
from tests.api_helpers import session_cookie
from tests.daphne import running_daphne
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = [(b"host", b"localhost"), (b"origin", b"http://localhost")]


def _app():
    from livchat.asgi import application

    return application


def _finished_job(n_lines: int, *, width: int = 60, batch: int = 10_000) -> Job:
    job = Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status="running")
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    pad = "x" * max(0, width - 15)  # "line {i:>9} " is 15 characters
    for start in range(1, n_lines + 1, batch):
        sink.write_lines("stdout", [f"line {i:>9} {pad}" for i in range(start, min(start + batch, n_lines + 1))])
    sink.close()
    Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0)
    return Job.objects.get(pk=job.pk)


def _headers(user) -> list[tuple[bytes, bytes]]:
    return [*HEADERS, (b"cookie", session_cookie(user).encode())]


async def _drain(comm) -> list[str]:
    """Every message the server sends before it stops for want of acks (nothing for 1 s)."""
    texts = []
    while not await comm.receive_nothing(timeout=1.0, interval=0.02):
        out = await comm.receive_output(timeout=5)
        assert out["type"] == "websocket.send", out
        texts.append(out["text"])
    return texts


def test_a_socket_that_does_not_acknowledge_stops_at_the_window_and_acks_release_it():
    job = _finished_job(20_000, width=300)  # ~6.5 MB of JSON in all
    headers = _headers(make_user("viewer", role="Viewers"))

    async def run():
        comm = WebsocketCommunicator(_app(), f"/ws/jobs/{job.job_id}/", headers=headers)
        assert (await comm.connect())[0]
        stalled = await _drain(comm)
        in_flight = sum(len(t) for t in stalled)
        # A made-up token releases nothing, and a flood of pings gets pongs only while they
        # fit in the window (send more pings than the room left could answer).
        await comm.send_json_to({"type": "ack", "ack": "guessed-token"})
        for _ in range((WINDOW_BYTES - in_flight) // 30 + 100):
            await comm.send_json_to({"type": "ping"})
        after_guess = await _drain(comm)
        messages = [json.loads(t) for t in stalled]
        while messages[-1]["type"] != "end":  # a well-behaved viewer: ack what it handled
            await comm.send_json_to({"type": "ack", "ack": messages[-1]["ack"], "seq": 0})
            messages.append(await comm.receive_json_from(timeout=20))
        await comm.disconnect()
        return in_flight, len(stalled), after_guess, messages

    in_flight, stalled_count, after_guess, messages = asyncio.run(run())
    assert 0 < in_flight <= WINDOW_BYTES, in_flight
    assert stalled_count < 10, "the window stopped the stream after a few messages"
    assert {json.loads(t)["type"] for t in after_guess} <= {"pong"}, "an unknown ack released lines"
    assert in_flight + sum(len(t) for t in after_guess) <= WINDOW_BYTES, "pongs went past the window"
    seqs = [line["seq"] for m in messages if m["type"] == "lines" for line in m["lines"]]
    assert seqs == list(range(1, 20_001)), "a line was lost or repeated"
    assert messages[-1]["last_seq"] == 20_000
    assert all(m.get("ack") for m in messages), "every message carries a token to acknowledge"


def test_long_lines_travel_whole_in_messages_cut_by_bytes():
    width = 60 * 1024
    job = _finished_job(100, width=width, batch=10)  # 1000 such lines would be one 60 MB message
    headers = _headers(make_user("viewer", role="Viewers"))

    async def run():
        comm = WebsocketCommunicator(_app(), f"/ws/jobs/{job.job_id}/", headers=headers)
        assert (await comm.connect())[0]
        sizes, lines = [], []
        while True:
            text = await comm.receive_from(timeout=20)
            msg = json.loads(text)
            if msg["type"] == "lines":
                sizes.append(len(text))
                lines += msg["lines"]
            if msg["type"] == "end":
                break
            await comm.send_json_to({"type": "ack", "ack": msg["ack"]})
        await comm.disconnect()
        return sizes, lines

    sizes, lines = asyncio.run(run())
    assert [line["seq"] for line in lines] == list(range(1, 101))
    assert all(len(line["message"]) == width for line in lines), "a line was cut on the socket"
    assert len(sizes) > 10 and max(sizes) <= MESSAGE_BYTES + width + 1024, max(sizes)


def test_at_most_twenty_sockets_per_user_the_next_is_told_and_closed():
    pending = Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status="pending")
    alice = make_user("alice", role="Viewers")
    bob = make_user("bob", role="Viewers")
    headers = {alice: _headers(alice), bob: _headers(bob)}

    async def open_one(user, path="/ws/jobs/"):
        comm = WebsocketCommunicator(_app(), path, headers=headers[user])
        assert (await comm.connect())[0]
        return comm, await comm.receive_json_from(timeout=10)

    async def run():
        held = []
        for i in range(MAX_SOCKETS_PER_USER):  # dashboard and log sockets count alike
            comm, first = await open_one(alice, "/ws/jobs/" if i % 2 else f"/ws/jobs/{pending.job_id}/")
            assert first["type"] == "status", first
            held.append(comm)
        assert open_sockets(alice.pk) == MAX_SOCKETS_PER_USER
        extra, refusal = await open_one(alice)
        close = await extra.receive_output(timeout=10)
        other, bobs_first = await open_one(bob)
        await held.pop().disconnect()
        again, again_first = await open_one(alice)
        for comm in [*held, extra, other, again]:
            await comm.disconnect()
        return refusal, close, bobs_first, again_first

    refusal, close, bobs_first, again_first = asyncio.run(run())
    assert refusal["type"] == "error" and "at most 20" in refusal["error"]
    assert close == {"type": "websocket.close", "code": CLOSE_TOO_MANY_SOCKETS}
    assert bobs_first["type"] == "status", "another user is not limited by alice's sockets"
    assert again_first["type"] == "status", "a closed socket gives its place back"
    assert open_sockets(alice.pk) == 0 and open_sockets(bob.pk) == 0


# ---- a real daphne ----------------------------------------------------------------------
LINES = 1_000_000
STALLED = 5
RSS_GROWTH_LIMIT = 100 * 2**20


def _memory(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start) of a process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def _never_reading_socket(port: int, path: str, cookie: str) -> socket.socket:
    """A websocket handshake on a raw socket that then never reads (small receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
            f"Cookie: {cookie}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: not one byte of the stream past the headers
        assert chunk, "daphne closed the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:200]
    return sock


def _view_everything(port: int, path: str, cookie: str) -> tuple[int, bool]:
    """A normal viewer: reads, acknowledges each message; returns (lines in order, ended)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    expected = 1
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    with connect(f"ws://127.0.0.1:{port}{path}", additional_headers=headers, max_size=None) as ws:
        for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "lines":
                for line in msg["lines"]:
                    assert line["seq"] == expected, f"got seq {line['seq']}, expected {expected}"
                    expected += 1
            if msg["type"] == "end":
                return expected - 1, True
            if msg.get("ack"):
                try:
                    ws.send(json.dumps({"type": "ack", "ack": msg["ack"], "seq": expected - 1}))
                except ConnectionClosed:  # the server already sent `end` and closed: read it
                    pass
    return expected - 1, False


@pytest.mark.slow
def test_daphne_holds_little_for_sockets_that_never_read_and_a_viewer_still_gets_every_line(subprocess_env):
    job = _finished_job(LINES)
    cookie = session_cookie(make_user("watcher", role="Viewers"))
    path = f"/ws/jobs/{job.job_id}/"
    stalled: list[socket.socket] = []
    with running_daphne(subprocess_env) as daphne:
        try:
            # Warm up (imports, first DB connection, the consumer's code paths) before the baseline.
            small = _finished_job(10)
            assert _view_everything(daphne.port, f"/ws/jobs/{small.job_id}/", cookie) == (10, True)
            baseline = _memory(daphne.proc.pid)["VmRSS"]

            stalled = [_never_reading_socket(daphne.port, path, cookie) for _ in range(STALLED)]
            started = time.monotonic()
            got, ended = _view_everything(daphne.port, path, cookie)
            elapsed = time.monotonic() - started
            memory = _memory(daphne.proc.pid)
            for sock in stalled:  # still open, and the server did send to it
                sock.setblocking(False)
                assert len(sock.recv(4096, socket.MSG_PEEK)) > 0, "a stalled socket was closed or got nothing"
        finally:
            for sock in stalled:
                sock.close()

    assert (got, ended) == (LINES, True), "the viewer beside the stalled sockets missed lines"
    growth = memory["VmHWM"] - baseline
    assert growth < RSS_GROWTH_LIMIT, (
        f"daphne grew by {growth / 2**20:.0f} MB (peak) with {STALLED} sockets that never read"
    )
    print(f"\n{LINES:,} lines to one viewer in {elapsed:.1f} s; daphne peak growth {growth / 2**20:.1f} MB")
