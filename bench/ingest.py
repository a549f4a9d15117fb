"""Ingest: remote `seq 1 N` through the real pipeline (asyncssh → sink → SQLite rows + file),
next to raw sqlite3 executemany of the same rows in the same run; then GET /api/jobs/<id>
latency on that job. Prints figures; never pass/fail."""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import UTC, datetime

from common import cleanup, make_server, percentile, record, setup_django, start_sshd


def raw_executemany_rate(n: int) -> float:
    """The same rows, same schema and index, straight into sqlite3 in transactions of 1000."""
    path = tempfile.mktemp(suffix=".sqlite3")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE l (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER, seq INTEGER, ts TEXT, level TEXT,"
        " stream TEXT, message TEXT, host TEXT, task TEXT, event TEXT)"
    )
    db.execute("CREATE UNIQUE INDEX u ON l (job_id, seq)")
    ts = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    start = time.perf_counter()
    for base in range(0, n, 1000):
        rows = [(1, i, ts, "INFO", "stdout", str(i), "", "", "") for i in range(base + 1, min(base + 1000, n) + 1)]
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO l (job_id, seq, ts, level, stream, message, host, task, event) VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    data_dir = setup_django("ingest")
    ssh = start_sshd()
    try:
        from django.db import connection

        from accounts.services import create_token
        from jobs.models import JobLogLine
        from jobs.services import create_remote_exec_job
        from jobs.tasks import run_job

        server = make_server(ssh)
        # Warm-up: first contact pins the host key; not part of the figure.
        run_job(create_remote_exec_job(server=server, command="true", enqueue=False).job_id)

        job = create_remote_exec_job(server=server, command=f"seq 1 {args.lines}", enqueue=False)
        start = time.perf_counter()
        run_job(job.job_id)
        elapsed = time.perf_counter() - start
        job.refresh_from_db()
        stored = JobLogLine.objects.filter(job=job, stream="stdout").count()
        assert stored == args.lines, f"stored {stored} of {args.lines} lines"
        rate = args.lines / elapsed
        if connection.vendor == "postgresql":
            from scale import raw_copy_rate

            raw, raw_name = raw_copy_rate(args.lines), "raw COPY"
        else:
            raw, raw_name = raw_executemany_rate(args.lines), "raw executemany"

        from django.contrib.auth import get_user_model
        from django.test import Client

        user = get_user_model().objects.create_superuser("bench", password="x")
        _, token = create_token(user=user)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="localhost")
        url = f"/api/jobs/{job.job_id}"
        assert client.get(url).status_code == 200
        latencies = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            response = client.get(url)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        record(
            f"ingest-{connection.vendor}",
            [
                (
                    f"ingest {args.lines:,} remote lines ({connection.vendor})",
                    f"{rate:,.0f} lines/s ({elapsed:.2f} s)",
                    "≥ 200,000 lines/s",
                    f"{raw_name} {raw:,.0f} rows/s → ratio {rate / raw:.2f}× (target ≥ 0.5×)",
                ),
                (
                    f"GET /api/jobs/<id> on a {args.lines:,}-line job",
                    f"p50 {percentile(latencies, 50):.2f} ms, p99 {percentile(latencies, 99):.2f} ms",
                    "p99 < 10 ms",
                    f"{args.requests} requests, Django test client",
                ),
            ],
        )
    finally:
        ssh.close()
        cleanup(data_dir)


if __name__ == "__main__":
    main()
