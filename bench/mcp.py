"""MCP: what an AI agent pays in context, and how fast it sees a remote line, through a real daphne
at /mcp with the SDK's own streamable-HTTP client and a real qcluster running the jobs.

1. The agent runs a command that prints 100 000 lines and fails at the end with an error on
   stderr: run_command, then wait_job until the end, then get_job(level=ERROR). Reported: the
   bytes of tool output it received (a plain "run and return the output" tool would return
   megabytes) and the wall time against the bare command over OpenSSH.
2. A line printed remotely → the progress notification the client receives: p50 and p99.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

from common import ROOT, cleanup, make_server, percentile, record, setup_django, start_sshd
from live import free_port, start_daphne

# This file is bench/mcp.py: its folder on sys.path would hide the `mcp` SDK package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.modules.pop("mcp", None)

LINES = 100_000
FAILING = f"seq 1 {LINES} | sed 's/^/output line /'; echo 'fatal: disk quota exceeded' >&2; exit 3"
STAMPS = 40
WARM_UP = 2  # the first stamps follow LivChat's own "connecting" lines within the 2-a-second limit
STAMP_CMD = (
    f"for i in $(seq 1 {STAMPS}); do date +%s.%N; sleep 0.8; done"  # well over 0.5 s apart: the rate limit stays out
)


def output_bytes(result) -> int:
    text = sum(len(c.text.encode()) for c in result.content if getattr(c, "text", None))
    return text + len(json.dumps(result.structured_content or {}).encode())


def start_qcluster() -> subprocess.Popen:
    from django.db import connection

    env = dict(os.environ, LIVCHAT_WORKERS="2")
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{connection.settings_dict['NAME']}"
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def client(port: int, token: str):
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http))


async def agent_session(port: int, token: str) -> tuple[float, int, dict]:
    async with client(port, token) as c:
        await c.call_tool("list_servers", {})  # the session is open before the clock starts
        start = time.perf_counter()
        first = await c.call_tool("run_command", {"server": "bench", "command": FAILING, "wait_s": 60})
        page = first.structured_content
        waited = await c.call_tool("wait_job", {"job_id": page["job_id"], "after_seq": page["next_seq"]})
        while waited.structured_content["status"] in ("pending", "running"):
            after = waited.structured_content["next_seq"]
            waited = await c.call_tool("wait_job", {"job_id": page["job_id"], "after_seq": after})
        errors = await c.call_tool("get_job", {"job_id": page["job_id"], "level": "ERROR"})
        elapsed = time.perf_counter() - start
        total = sum(output_bytes(r) for r in (first, waited, errors))
        return elapsed, total, {"first": page, "errors": errors.structured_content}


async def progress_latency(port: int, token: str) -> list[float]:
    delays: list[float] = []

    async def on_progress(progress, total, message):
        now = time.time()
        try:
            delays.append(now - float(message))
        except (TypeError, ValueError):
            pass  # a system line, not a stamp

    async with client(port, token) as c:
        await c.call_tool(
            "run_command", {"server": "bench", "command": STAMP_CMD, "wait_s": 120}, progress_callback=on_progress
        )
    return delays[WARM_UP:]


def bare_seconds(ssh) -> float:
    argv = ssh.ssh_command(FAILING)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    data_dir = setup_django("mcp")
    ssh = start_sshd()
    port = free_port()
    web = start_daphne(port)
    worker = start_qcluster()
    try:
        from django.contrib.auth import get_user_model

        from accounts.services import create_token

        make_server(ssh)
        user = get_user_model().objects.create_superuser("agent", password="x")
        _, token = create_token(user=user)
        bare = min(bare_seconds(ssh) for _ in range(3))
        elapsed, total, pages = asyncio.run(agent_session(port, token))
        first = pages["first"]
        assert first["exit_code"] == 3, first
        assert any("disk quota" in line["text"] for line in first["lines"]), first["lines"]
        delays = asyncio.run(progress_latency(port, token))
        p50, p99 = percentile(delays, 50) * 1000, percentile(delays, 99) * 1000
        record(
            "mcp",
            [
                ("agent: tool output for a 100 000-line failing command", f"{total / 1024:.1f} KiB", "≤ 8 KiB",
                 f"the output itself: {first['summary']['total_lines']} lines, ~{LINES * 19 / 1e6:.1f} MB"),
                ("agent: run_command + wait_job + get_job(ERROR) wall time", f"{elapsed:.2f} s", "",
                 f"bare ssh: {bare:.2f} s ({elapsed / bare:.1f}×)"),
                ("remote line → progress notification p50", f"{p50:.0f} ms", "", f"{len(delays)} lines 0.8 s apart"),
                ("remote line → progress notification p99", f"{p99:.0f} ms", "≤ 250 ms", "through daphne /mcp"),
            ],
        )  # fmt: skip
    finally:
        from tests.helpers import stop_process_group

        stop_process_group(worker, timeout=10)
        web.terminate()
        web.wait(timeout=10)
        ssh.close()
        cleanup(data_dir)


if __name__ == "__main__":
    main()
