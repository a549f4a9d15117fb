"""Live delivery: line-to-viewer latency (remote timestamp → websocket receive) and a
20-viewer fan-out on one fast job, through a real daphne process; and a quiet job's latency
alone and while another worker process floods 200,000 lines (both in this run, each job in
its own worker process as under a qcluster). Run once embedded (polling) and once with
REDIS_URL (push wake-ups) when Redis is reachable."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from common import ROOT, cleanup, make_server, percentile, record, setup_django, start_sshd

LATENCY_CMD = "for i in $(seq 1 150); do date +%s.%N; sleep 0.02; done"
QUIET_CMD = "for i in $(seq 1 {n}); do date +%s.%N; sleep 0.01; done"  # ~70 lines/s
FLOOD_LINES = 200_000
# A progress line: each redraw carries the remote time ("P <t>", a partial), then the line
# ends with one more ("L <t>", stored): both latencies come from the same run. A redraw every
# 0.3 s is slower than the ~5/s partial rate, so each one is published (not coalesced).
PROGRESS_CMD = (
    'for i in $(seq 1 60); do printf "\\rP %s" $(date +%s.%N); sleep 0.3; printf "\\rL %s\\n" $(date +%s.%N); done'
)


# A job printing about 1,000 lines a second ("T <i> <time>", 1 ms apart) for the joiner case.
JOIN_LINES = 8000
JOIN_PRINTER = "import time\nfor i in range(1, {n}):\n print('T', i, time.time(), flush=True)\n time.sleep(0.001)"
JOIN_CMD = f'python3 -c "{JOIN_PRINTER.format(n=JOIN_LINES + 1)}"'
JOIN_AFTER = 1500  # the joiner opens the job once this many lines are stored
REPLAY_PAIRS = 3
daphne_pid = 0  # web_bench's daphne: the fan-out figures read its CPU time
SEQ = re.compile(rb'"seq": (\d+)')
ACK = re.compile(rb'"ack": "([^"]+)"}$')


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


def progress_latencies(server, port: int, cookie: str) -> tuple[list[float], list[float]]:
    """`\\r` redraw → `partial` message, and stored line → `lines` message, both at a websocket
    client, in ms, for the same job (PROGRESS_CMD)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from jobs.services import create_remote_exec_job
    from jobs.tasks import run_job

    job = create_remote_exec_job(server=server, command=PROGRESS_CMD, enqueue=False)
    partial: list[float] = []
    stored: list[float] = []

    def watch() -> None:
        headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
        with connect(f"ws://127.0.0.1:{port}/ws/jobs/{job.job_id}/", additional_headers=headers) as ws:
            for raw in ws:
                now = time.time()
                msg = json.loads(raw)
                if msg["type"] == "partial" and msg["text"].startswith("P "):
                    partial.append((now - float(msg["text"][2:])) * 1000)
                elif msg["type"] == "lines":
                    stored.extend(
                        (now - float(x["message"][2:])) * 1000 for x in msg["lines"] if x["message"][:2] == "L "
                    )
                elif msg["type"] == "end":
                    return
                if msg.get("ack"):
                    try:
                        ws.send(json.dumps({"type": "ack", "ack": msg["ack"]}))
                    except ConnectionClosed:  # `end` and the close are on their way
                        pass

    follow = threading.Thread(target=watch)
    follow.start()
    time.sleep(0.5)
    run_job(job.job_id)
    follow.join(timeout=60)
    return partial, stored


def run_with_viewers(server, port, cookie, command, viewers: int, stamp: bool):
    from jobs.services import create_remote_exec_job
    from jobs.tasks import run_job

    job = create_remote_exec_job(server=server, command=command, enqueue=False)
    results: list = []
    threads = [threading.Thread(target=viewer, args=(port, job.job_id, cookie, results, stamp)) for _ in range(viewers)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # viewers connected before the first line
    start = time.perf_counter()
    run_job(job.job_id)
    for t in threads:
        t.join(timeout=300)
    job.refresh_from_db()
    return job, results, start


async def _watch_many(port: int, job_id: str, cookie: str, viewers: int, connected) -> list[tuple[int, bool, float]]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    url = f"ws://127.0.0.1:{port}/ws/jobs/{job_id}/"
    sockets = [await connect(url, additional_headers=headers, max_size=None) for _ in range(viewers)]
    connected.set()

    async def watch(ws) -> tuple[list[bytes], float]:
        # Each message is kept as the bytes that came (no decoding, no parsing) and checked
        # once every viewer is done: on a 2-core machine, a client that parses as it reads
        # takes the CPU the server under test needs.
        kept: list[bytes] = []
        async with ws:
            while True:
                try:
                    raw = await ws.recv(decode=False)
                except ConnectionClosed:
                    break
                if raw.startswith(b'{"type": "lines"'):
                    kept.append(raw)
                    ack = ACK.search(raw, max(0, len(raw) - 200)).group(1)
                else:
                    msg = json.loads(raw)
                    if msg["type"] == "end":
                        break
                    ack = msg.get("ack")
                if ack:
                    with contextlib.suppress(ConnectionClosed):  # `end` and the close may be on their way
                        await ws.send(
                            b'{"type": "ack", "ack": "' + ack + b'"}'
                            if isinstance(ack, bytes)
                            else json.dumps({"type": "ack", "ack": ack}),
                            text=True,
                        )
        return kept, time.perf_counter()

    def checked(kept: list[bytes], done: float) -> tuple[int, bool, float]:
        got = [int(seq) for raw in kept for seq in SEQ.findall(raw)]
        return len(got), got == list(range(1, len(got) + 1)), done

    received = await asyncio.gather(*(watch(ws) for ws in sockets))
    return [checked(kept, done) for kept, done in received]


def _viewers_process(port, job_id, cookie, viewers, connected, pipe) -> None:
    try:
        pipe.send(asyncio.run(_watch_many(port, job_id, cookie, viewers, connected)))
    except BaseException as exc:  # noqa: BLE001 - the parent says what went wrong, not a bare EOFError
        pipe.send(f"the viewers' process failed: {exc!r}")


def fan_viewers(port: int, job_id: str, cookie: str, viewers: int):
    """`viewers` websockets of one job in a client process of their own (one asyncio loop), so
    the clients share no interpreter with the job's producer; returns once all are connected,
    with a function that waits for their results: (lines, every line once in order, done time)."""
    context = multiprocessing.get_context("fork")
    connected = context.Event()
    receive, send = context.Pipe(duplex=False)
    proc = context.Process(target=_viewers_process, args=(port, job_id, cookie, viewers, connected, send))
    proc.start()
    if not connected.wait(30):
        proc.kill()
        raise RuntimeError("the viewers did not connect")

    def results() -> list[tuple[int, bool, float]]:
        out = receive.recv() if receive.poll(300) else "the viewers did not finish in 300 s"
        proc.join(10)
        if isinstance(out, str):
            raise RuntimeError(out)
        return out

    return results


def fanout_run(server, port: int, cookie: str, command: str, viewers: int):
    """A job run while `viewers` watch it from their first line."""
    from jobs.services import create_remote_exec_job
    from jobs.tasks import run_job

    job = create_remote_exec_job(server=server, command=command, enqueue=False)
    results = fan_viewers(port, job.job_id, cookie, viewers)
    start = time.perf_counter()
    run_job(job.job_id)
    return job, results(), start


def replay_viewers(port, job_id: str, cookie: str, viewers: int) -> tuple[list, float]:
    """`viewers` websockets opening a finished job together: each reads the whole log."""
    start = time.perf_counter()
    return fan_viewers(port, job_id, cookie, viewers)(), start


def fanout_rates(job, results: list, start: float) -> tuple[list[float], int]:
    """Each viewer's lines/s from `start`, and how many got every line once and in order."""
    job.refresh_from_db()
    rates = [count / (done - start) for count, _, done in results]
    return rates, sum(1 for count, in_order, _ in results if in_order and count == job.last_seq)


def join_latencies(server, port: int, cookie: str, *, join: bool) -> tuple[list[float], list[int]]:
    """One viewer, alone in daphne (its feed starts with it), of a job printing about 1,000 lines
    a second (JOIN_CMD): there from the start, or (`join`) opening the job once JOIN_AFTER lines
    are stored. A line's latency is its printing → its arrival; for the joiner, of the lines
    printed after it connected (the backlog before is history, not lag). Returns the latencies
    (ms) and the sizes of the `lines` messages."""
    from jobs.models import Job
    from jobs.services import create_remote_exec_job
    from jobs.tasks import run_job

    job = create_remote_exec_job(server=server, command=JOIN_CMD, enqueue=False)
    got: list = []
    batches: list[int] = []
    watch = threading.Thread(target=viewer, args=(port, job.job_id, cookie, got, True, batches))
    worker = threading.Thread(target=run_job, args=(job.job_id,))
    if not join:
        watch.start()
        time.sleep(0.5)  # connected before the first line
    worker.start()
    joined_at = 0.0
    if join:
        deadline = time.monotonic() + 60
        while Job.objects.get(pk=job.pk).last_seq < JOIN_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        joined_at = time.time()
        watch.start()
    for t in (worker, watch):
        t.join(timeout=120)
    out = []
    for _, stream, msg, recv in got[0][0]:
        parts = msg.split()
        if stream == "stdout" and len(parts) == 3 and parts[0] == "T" and float(parts[2]) >= joined_at:
            out.append((recv - float(parts[2])) * 1000)
    return out, batches


def quiet_latencies(server, port, cookie, floods: int) -> tuple[list[float], int]:
    """A quiet job in its own worker process, followed over a websocket; with `floods`, other
    worker processes print FLOOD_LINES lines each, one after another, while it runs. Returns
    the latencies (ms) of the quiet lines printed while a flood ran (all of them without one),
    and how many floods ran."""
    from scale import worker_process

    from jobs.models import Job, JobLogLine
    from jobs.services import create_remote_exec_job

    env = dict(os.environ)
    if "DATABASE_URL" not in env or env["DATABASE_URL"].startswith("sqlite"):
        from django.db import connection

        env["DATABASE_URL"] = f"sqlite:///{connection.settings_dict['NAME']}"
    quiet = create_remote_exec_job(server=server, command=QUIET_CMD.format(n=600 if floods else 300), enqueue=False)
    results: list = []
    follow = threading.Thread(target=viewer, args=(port, quiet.job_id, cookie, results, True))
    follow.start()
    time.sleep(0.5)  # the viewer is connected before the first line
    worker = worker_process(quiet.job_id, env)
    windows = []
    if floods:
        deadline = time.monotonic() + 30
        while not JobLogLine.objects.filter(job=quiet, stream="stdout").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(floods):
            if worker.poll() is not None:
                break
            flood = create_remote_exec_job(server=server, command=f"seq 1 {FLOOD_LINES}", enqueue=False)
            worker_process(flood.job_id, env).wait()
            flood = Job.objects.get(pk=flood.pk)
            windows.append((flood.started_at.timestamp(), flood.finished_at.timestamp()))
    worker.wait()
    follow.join(timeout=120)
    lines = [(float(msg), recv) for _, stream, msg, recv in results[0][0] if stream == "stdout"]
    if floods:
        lines = [(sent, recv) for sent, recv in lines if any(a <= sent <= b for a, b in windows)]
    return [(recv - sent) * 1000 for sent, recv in lines], len(windows)


def fanout_rows(server, port: int, lines: int, mode: str) -> list[tuple]:
    """20 viewers against one, on a running job and on the finished one opened at once."""
    fan = {}
    for n in (1, 20):  # same command, same run: the single viewer is the baseline
        # (a fresh user each run: sockets of the last run may still count against a user's 20)
        job, results, start = fanout_run(server, port, session_cookie(), f"seq 1 {lines}", n)
        fan[n] = fanout_rates(job, results, start)
    # Opening the finished job takes seconds, so it runs in REPLAY_PAIRS pairs (one viewer,
    # then 20) and the median pair is shown: one pair swings by ±0.1 on a loaded machine.
    pairs, cpu = [], {1: 0.0, 20: 0.0}
    for _ in range(REPLAY_PAIRS):
        pair = {}
        for n in (1, 20):
            used = cpu_seconds(daphne_pid)
            pair[n] = fanout_rates(job, *replay_viewers(port, job.job_id, session_cookie(), n))
            cpu[n] += (cpu_seconds(daphne_pid) - used) / (n * job.last_seq * REPLAY_PAIRS) * 1e9  # ns a line a viewer
        pairs.append((min(pair[20][0]) / pair[1][0][0], pair))
    pairs.sort(key=lambda p: p[0])
    ratio, replay = pairs[len(pairs) // 2]
    return [
        (f"20 viewers on one running {lines:,}-line job ({mode})",
         f"{min(fan[20][0]):,.0f}–{max(fan[20][0]):,.0f} lines/s per viewer",
         "each ≥ 0.5× a single viewer's rate; all lines in order",
         f"slowest {min(fan[20][0]) / fan[1][0][0]:.2f}× the single viewer's {fan[1][0][0]:,.0f} lines/s; "
         f"{fan[20][1]}/20 complete and in order"),
        (f"20 viewers opening the finished {lines:,}-line job at once ({mode})",
         f"{min(replay[20][0]):,.0f}–{max(replay[20][0]):,.0f} lines/s per viewer",
         "each ≥ 0.5× a single viewer's rate; all lines in order",
         f"slowest {ratio:.2f}× the single viewer's {replay[1][0][0]:,.0f} lines/s (median of {REPLAY_PAIRS} pairs: "
         f"{', '.join(f'{r:.2f}×' for r, _ in pairs)}); "
         f"{min(p[20][1] for _, p in pairs)}/20 complete and in order in every pair"),
        (f"daphne CPU a line a viewer, finished job opened by 1 / 20 viewers ({mode})",
         f"{cpu[1]:,.0f} / {cpu[20]:,.0f} ns", "shared reads: 20 viewers cost less a viewer",
         f"{cpu[20] / cpu[1]:.2f}× the single viewer's cost a viewer (one read and encode a batch for all)"),
    ]  # fmt: skip


def join_rows(server, port: int, cookie: str, mode: str) -> list[tuple]:
    early, _ = join_latencies(server, port, cookie, join=False)
    late, batches = join_latencies(server, port, cookie, join=True)
    early_p99, late_p99 = percentile(early, 99), percentile(late, 99)
    return [
        (f"viewer joining a running ~1,000 lines/s job: line → websocket ({mode})",
         f"p50 {percentile(late, 50):.0f} ms, p99 {late_p99:.0f} ms",
         "p99 ≤ 150 ms embedded and ≤ 1.2× the from-the-start viewer",
         f"{late_p99 / early_p99:.2f}× the from-the-start viewer (p50 {percentile(early, 50):.0f} ms, "
         f"p99 {early_p99:.0f} ms); joined after {JOIN_AFTER:,} lines; {len(late)} lines timed; "
         f"first batches {batches[:4]}"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fanout-lines", type=int, default=200_000)
    parser.add_argument("--fanout-only", action="store_true", help="only the 20-viewer figures")
    parser.add_argument("--join-only", action="store_true", help="only the viewer joining a running job")
    args = parser.parse_args()
    mode = "Redis push" if os.environ.get("REDIS_URL") else "embedded polling"
    name = f"live-{'redis' if 'Redis' in mode else 'embedded'}"
    with web_bench("live-redis" if os.environ.get("REDIS_URL") else "live") as (ssh, port):
        from jobs.services import create_remote_exec_job
        from jobs.tasks import run_job

        server = make_server(ssh)
        run_job(create_remote_exec_job(server=server, command="true", enqueue=False).job_id)
        if args.fanout_only:
            record(f"{name}-fanout", fanout_rows(server, port, args.fanout_lines, mode))
            return
        cookie = session_cookie()
        joining = join_rows(server, port, cookie, mode)
        if args.join_only:
            record(f"{name}-join", joining)
            return

        job, results, _ = run_with_viewers(server, port, cookie, LATENCY_CMD, 1, stamp=True)
        lines = [r for r in results[0][0] if r[1] == "stdout"]
        latencies = [(recv - float(msg)) * 1000 for _, _, msg, recv in lines]

        partial, stored = progress_latencies(server, port, cookie)
        partial_p99, stored_p99 = percentile(partial, 99), percentile(stored, 99)

        alone, _ = quiet_latencies(server, port, cookie, floods=0)
        flooded, floods = quiet_latencies(server, port, cookie, floods=3)
        alone_p99, flooded_p99 = percentile(alone, 99), percentile(flooded, 99)

        record(
            name,
            [
                (f"line → websocket viewer latency ({mode})",
                 f"p50 {percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms",
                 "p99 ≤ 150 ms embedded, ≤ 100 ms Redis", f"{len(latencies)} lines, 50/s, remote clock = local"),
                (f"quiet job's line → websocket, alone ({mode})",
                 f"p50 {percentile(alone, 50):.0f} ms, p99 {alone_p99:.0f} ms", "-",
                 f"{len(alone)} lines, ~70/s, own worker process"),
                (f"quiet job's line → websocket while another job floods {FLOOD_LINES:,} lines ({mode})",
                 f"p50 {percentile(flooded, 50):.0f} ms, p99 {flooded_p99:.0f} ms",
                 "p99 ≤ 1.5× alone and ≤ 150 ms",
                 f"ratio {flooded_p99 / alone_p99:.2f}× the p99 alone; {len(flooded)} lines during {floods} floods"),
                (f"`\\r` redraw → partial line at the websocket client ({mode})",
                 f"p50 {percentile(partial, 50):.0f} ms, p99 {partial_p99:.0f} ms",
                 "p99 ≤ 2× the stored-line p99 of the same run",
                 f"ratio {partial_p99 / stored_p99:.2f}×; stored line p50 {percentile(stored, 50):.0f} ms, "
                 f"p99 {stored_p99:.0f} ms; {len(partial)} redraws, {len(stored)} lines"),
                *joining,
                *fanout_rows(server, port, args.fanout_lines, mode),
            ],
        )  # fmt: skip


if __name__ == "__main__":
    main()
