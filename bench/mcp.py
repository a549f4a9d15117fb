"""MCP: what an AI agent pays in context, and how fast it sees a remote line, through a real daphne
at /mcp with the SDK's own streamable-HTTP client and a real qcluster running the jobs.

1. An agent follows the server's own instructions (tests/mcp_helpers.py: start the job, then
   wait_job(job_id, after_seq=next_seq) until the status is final) on three failures: a command
   that prints 100 000 lines and fails with one stderr line, one host of three failing, one
   playbook task failing on one host. Reported per job: the bytes of tool output (text and
   structured content) it received until it knew why (goal ≤ 8 KiB), then what reading every
   problem line with get_job(problems=true) adds; and the 100 000-line job's wall time against
   the bare command over OpenSSH.
2. A line printed remotely → the progress notification the client receives: p50 and p99.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time

from common import ROOT, cleanup, make_server, percentile, record, setup_django, start_sshd
from webbench import free_port, start_daphne

# This file is bench/mcp.py: its folder on sys.path would hide the `mcp` SDK package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.modules.pop("mcp", None)

LINES = 100_000
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


async def agent_session(port: int, token: str, lock: str) -> tuple[float, dict]:
    from tests.mcp_helpers import three_failures

    names = {"one": "bench", "three": ["bench", "a2", "a3"], "playbook": ["test", "web2"]}
    async with client(port, token) as c:
        await c.call_tool("list_servers", {})  # the session is open before the clock starts
        start = time.perf_counter()
        followed = await three_failures(c, names, lock=lock)
        return time.perf_counter() - start, followed


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
    from tests.mcp_helpers import HUGE_FAILURE

    argv = ssh.ssh_command(HUGE_FAILURE)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    data_dir = setup_django("mcp")
    playbooks = data_dir / "operator-playbooks"  # tests/playbooks/details.yml: a task fails on web2
    playbooks.mkdir()
    shutil.copy(ROOT / "tests" / "playbooks" / "details.yml", playbooks)
    os.environ["LIVCHAT_PLAYBOOK_DIR"] = str(playbooks)  # daphne and qcluster inherit it
    ssh = start_sshd()
    port = free_port()
    web = start_daphne(port)
    worker = start_qcluster()
    try:
        from django.contrib.auth import get_user_model

        from accounts.services import create_token

        for name in ("bench", "a2", "a3", "test", "web2"):
            make_server(ssh, name=name)
        user = get_user_model().objects.create_superuser("agent", password="x")
        _, token = create_token(user=user)
        bare = min(bare_seconds(ssh) for _ in range(3))
        lock = f"/tmp/livchat-bench-lock-{os.getpid()}"
        try:
            elapsed, followed = asyncio.run(agent_session(port, token, lock))
        finally:
            shutil.rmtree(lock, ignore_errors=True)
        huge = followed["huge"].page
        assert huge["exit_code"] == 3 and any("disk /srv" in x["text"] for x in huge["problems"]), huge
        delays = asyncio.run(progress_latency(port, token))
        p50, p99 = percentile(delays, 50) * 1000, percentile(delays, 99) * 1000
        rows = []
        for name, what in (
            ("huge", f"a {LINES:,}-line command failing with one stderr line"),
            ("fleet", "one host of three failing"),
            ("playbook", "a playbook task failing on one host"),
        ):
            f = followed[name]
            lines = f.page["summary"]["total_lines"]
            rows.append(
                (
                    f"agent learns why: {what}",
                    f"{f.total / 1024:.1f} KiB",
                    "≤ 8 KiB",
                    f"{lines:,} lines; + get_job(problems=true): {(f.total + f.reading_more) / 1024:.1f} KiB",
                )
            )
        rows += [
            (
                "agent: the three jobs, as instructed, wall time",
                f"{elapsed:.2f} s",
                "",
                f"bare ssh of the 100 000-line command: {bare:.2f} s",
            ),
            ("remote line → progress notification p50", f"{p50:.0f} ms", "", f"{len(delays)} lines 0.8 s apart"),
            ("remote line → progress notification p99", f"{p99:.0f} ms", "≤ 250 ms", "through daphne /mcp"),
        ]
        record("mcp", rows)
    finally:
        from tests.helpers import stop_process_group

        stop_process_group(worker, timeout=10)
        web.terminate()
        web.wait(timeout=10)
        ssh.close()
        cleanup(data_dir)


if __name__ == "__main__":
    main()
