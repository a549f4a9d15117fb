"""Read-side latency on a 1,000,000-line job: job detail, level tail, regex search.
Rows are stored through the real sink (no SSH needed for a read benchmark)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from common import cleanup, percentile, record, setup_django, timed


def fill(job, n: int) -> None:
    from jobs.log.sink import JobSink

    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    batch = []
    for i in range(1, n + 1):
        batch.append(f"{i} GET /api/items/{i % 977} 200 {i % 13}ms user{i % 101}")
        if len(batch) == 10_000:
            sink.write_lines("stdout", batch)
            batch = []
        if i % 10_000 == 5_000:  # 0.01 % errors, spread over the log
            sink.write_lines("stderr", [f"{i} ERROR upstream timed out"], level="ERROR")
    sink.write_lines("stdout", batch)
    sink.close()


def grep_baseline(job_id: str, pattern: str, runs: int = 5) -> float:
    """Median ms of `grep -cE pattern` over the job's log file (the same lines, one per row)."""
    from jobs.log import logfile

    path = str(logfile.path_for(job_id))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["grep", "-cE", pattern, path], capture_output=True, check=False)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure(client, url: str, n: int) -> list[float]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(url)
        out.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    data_dir = setup_django("queries")
    try:
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client

        from accounts.services import create_token
        from jobs.models import Job

        job = Job.objects.create(job_id="remote_exec-0badc0de", job_type="remote_exec", status="succeeded")
        t0 = time.perf_counter()
        fill(job, args.lines)
        fill_s = time.perf_counter() - t0
        user = get_user_model().objects.create_superuser("bench", password="x")
        _, token = create_token(user=user)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="localhost")
        base = f"/api/jobs/{job.job_id}"
        detail = measure(client, base, 200)
        tail_error = measure(client, f"{base}/logs?tail=100&level=ERROR", 50)
        tail_plain = measure(client, f"{base}/logs?tail=100", 100)
        rare_url = f"{base}/logs?tail=100&q=user7[0-9]%20.*timed"
        regex_first, _ = timed(client.get, rare_url)  # the first search also indexes the log file
        regex_rare = measure(client, rare_url, 5)
        grep_ms = grep_baseline(job.job_id, "user7[0-9] .*timed")
        regex_tail = measure(client, f"{base}/logs?tail=100&q=items/9[0-9]%20", 20)
        vendor = connection.vendor

        def p(v):
            return f"p50 {percentile(v, 50):.1f} ms, p99 {percentile(v, 99):.1f} ms"

        record(
            f"queries-{vendor}",
            [
                (f"GET /api/jobs/<id> ({args.lines:,} lines, {vendor})", p(detail), "p99 < 10 ms", "200 requests"),
                ("/logs?tail=100", p(tail_plain), "-", "100 requests"),
                ("/logs?tail=100&level=ERROR", p(tail_error), "< 20 ms", "ERROR lines 0.01 %"),
                (
                    "/logs?q=<regex> matching nothing (full scan)",
                    p(regex_rare) + f"; first {regex_first * 1000:.0f} ms",
                    "≤ 3× grep -cE",
                    f"grep -cE on the job's log file {grep_ms:.1f} ms → ratio "
                    f"{percentile(regex_rare, 50) / grep_ms:.2f}× (p50), {regex_first * 1000 / grep_ms:.2f}× (first)",
                ),
                ("/logs?q=<regex> matching often (last 100)", p(regex_tail), "< 500 ms", "stops at 100 hits"),
                ("fill through the sink (no SSH)", f"{args.lines / fill_s:,.0f} lines/s", "-", "-"),
            ],
        )
    finally:
        cleanup(data_dir)


if __name__ == "__main__":
    main()
