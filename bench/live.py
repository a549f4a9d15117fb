"""Live delivery, through a real daphne process: line-to-viewer latency (remote timestamp →
websocket receive), a `\r` redraw's partial line, and a quiet job's latency alone and while
another worker process floods 200,000 lines (each job in its own worker process as under a
qcluster); then a viewer joining a running job (bench/live_join.py) and 20 viewers against one
(bench/live_fanout.py). The shared harness is bench/webbench.py. Run once embedded (polling) and
once with REDIS_URL (push wake-ups) when Redis is reachable."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

from common import make_server, percentile, record
from live_fanout import fanout_rows
from live_join import join_rows
from webbench import session_cookie, viewer, web_bench

LATENCY_CMD = "for i in $(seq 1 150); do date +%s.%N; sleep 0.02; done"
QUIET_CMD = "for i in $(seq 1 {n}); do date +%s.%N; sleep 0.01; done"  # ~70 lines/s
FLOOD_LINES = 200_000
# A progress line: each redraw carries the remote time ("P <t>", a partial), then the line
# ends with one more ("L <t>", stored): both latencies come from the same run. A redraw every
# 0.3 s is slower than the ~5/s partial rate, so each one is published (not coalesced).
PROGRESS_CMD = (
    'for i in $(seq 1 60); do printf "\\rP %s" $(date +%s.%N); sleep 0.3; printf "\\rL %s\\n" $(date +%s.%N); done'
)


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
