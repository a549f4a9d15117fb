"""A viewer who opens a running job (issue 22): its latency beside a viewer there from the start
(bench/live.py runs it; `--join-only` runs it alone)."""

from __future__ import annotations

import threading
import time

from common import percentile
from webbench import viewer

# A job printing about 1,000 lines a second ("T <i> <time>", 1 ms apart).
JOIN_LINES = 8000
JOIN_PRINTER = "import time\nfor i in range(1, {n}):\n print('T', i, time.time(), flush=True)\n time.sleep(0.001)"
JOIN_CMD = f'python3 -c "{JOIN_PRINTER.format(n=JOIN_LINES + 1)}"'
JOIN_AFTER = 1500  # the joiner opens the job once this many lines are stored


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
