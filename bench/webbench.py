"""The harness the live benches share: the bench sshd and a real daphne on a free port over a
fresh database (`web_bench`), a logged-in session cookie, and a websocket viewer that acks every
message (bench/live.py, bench/live_fanout.py, bench/live_join.py, bench/browser.py,
bench/readers.py, bench/mcp.py)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from common import ROOT, cleanup, setup_django, start_sshd

daphne_pid = 0  # web_bench's daphne: the fan-out figures read its CPU time


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _daphne_log():
    """LIVCHAT_BENCH_DAPHNE_LOG=<file> keeps daphne's own log, to see why a socket closed."""
    path = os.environ.get("LIVCHAT_BENCH_DAPHNE_LOG")
    return open(path, "ab") if path else subprocess.DEVNULL  # noqa: SIM115 - daphne's, for its lifetime


def start_daphne(port: int) -> subprocess.Popen:
    from django.db import connection

    env = dict(os.environ)
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{connection.settings_dict['NAME']}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "livchat.asgi:application"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=_daphne_log(),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("daphne did not start")


@contextlib.contextmanager
def web_bench(name: str) -> Iterator[tuple[object, int]]:
    """A fresh database `name`, the test sshd and daphne on a free port, for the `with` block;
    yields (sshd, port) and stops and removes them all afterwards."""
    data_dir = setup_django(name)
    ssh = start_sshd()
    port = free_port()
    web = start_daphne(port)
    global daphne_pid
    daphne_pid = web.pid
    try:
        yield ssh, port
    finally:
        web.terminate()
        web.wait(timeout=10)
        ssh.close()
        cleanup(data_dir)


def session_cookie() -> str:
    from django.contrib.auth import get_user_model

    from tests.api_helpers import session_cookie as cookie_for

    user = get_user_model().objects.create_superuser(f"viewer{time.monotonic_ns()}", password="x")
    return cookie_for(user)


def viewer(port: int, job_id: str, cookie: str, out: list, stamp: bool = False, batches: list | None = None) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    got: list = []
    with connect(f"ws://127.0.0.1:{port}/ws/jobs/{job_id}/", additional_headers=headers, max_size=None) as ws:
        for raw in ws:
            now = time.time()
            msg = json.loads(raw)
            if msg["type"] == "lines":
                if batches is not None:
                    batches.append(len(msg["lines"]))
                for line in msg["lines"]:
                    got.append((line["seq"], line["stream"], line["message"], now) if stamp else line["seq"])
            elif msg["type"] == "end":
                break
            if msg.get("ack"):  # flow control (jobs/live/flow.py): at most 1 MiB unacknowledged
                try:
                    ws.send(json.dumps({"type": "ack", "ack": msg["ack"]}))
                except ConnectionClosed:  # `end` and the close are already on their way
                    pass
    out.append((got, time.perf_counter()))
