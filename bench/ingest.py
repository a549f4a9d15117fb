"""Ingest: remote `seq 1 N` through the real pipeline (asyncssh → sink → rows + file), next to
the raw store of the same rows in the same run (sqlite3 executemany on SQLite; on PostgreSQL
COPY into the same table, its text built per 1000-row transaction the cheapest way Python
can); then
GET /api/jobs/<id> latency on that job. On PostgreSQL also one worker process against four
at once (each job's started_at → finished_at, so process start-up is not counted).
Prints figures; never pass/fail."""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from itertools import chain, repeat

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


def raw_copy_rate(n: int) -> float:
    """The same rows straight into the same table (JobLogLine: its id, its unique (job, seq)
    and its foreign key to the job, checked at commit) by COPY, 1000 rows a transaction, each
    batch's text joined in C loops and written in one call, under a job of their own: the
    most a plain Python client gets out of PostgreSQL here."""
    from django.db import connection

    from jobs.models import Job, JobLogLine

    job = Job.objects.create(job_id="remote_exec-00c0ffee", job_type="remote_exec", status="succeeded")
    ts = datetime.now(UTC).isoformat()
    tail = f"\t{job.pk}\t{ts}\tINFO\tstdout\t\t\t\n"
    sql = f"COPY {JobLogLine._meta.db_table} (seq, message, job_id, ts, level, stream, host, task, event) FROM STDIN"
    start = time.perf_counter()
    for base in range(0, n, 1000):
        seqs = range(base + 1, min(base + 1000, n) + 1)
        text = "".join(chain.from_iterable(zip(map(str, seqs), repeat("\t"), map(str, seqs), repeat(tail))))
        with connection.cursor() as c, c.cursor.copy(sql) as copy:
            copy.write(text)
    return n / (time.perf_counter() - start)


def job_rate(jobs) -> float:
    """Lines stored per second from the first start to the last finish of these jobs."""
    from jobs.models import Job

    done = list(Job.objects.filter(pk__in=[j.pk for j in jobs]))
    assert all(j.status == "succeeded" for j in done), [(j.job_id, j.status, j.error) for j in done]
    span = max(j.finished_at for j in done) - min(j.started_at for j in done)
    return sum(j.line_count for j in done) / span.total_seconds()


def postgres_workers(server, lines: int, workers: int = 4) -> tuple[float, float]:
    """(one worker process's lines/s on `lines` lines, `workers` processes at once on as many
    lines each): the same process and measure for both."""
    from scale import worker_process

    from jobs.services import create_remote_exec_job

    env = dict(os.environ)
    one = create_remote_exec_job(server=server, command=f"seq 1 {lines}", enqueue=False)
    worker_process(one.job_id, env).wait()
    many = [create_remote_exec_job(server=server, command=f"seq 1 {lines}", enqueue=False) for _ in range(workers)]
    for proc in [worker_process(j.job_id, env) for j in many]:
        proc.wait()
    return job_rate([one]), job_rate(many)


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
        postgres = connection.vendor == "postgresql"
        if postgres:
            raw, raw_name = raw_copy_rate(args.lines), "raw COPY"
            one, four = postgres_workers(server, args.lines)
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
        goal = "≥ 0.8×" if postgres else "≥ 0.5×"
        workers = []
        if postgres:
            workers = [
                (
                    f"Postgres ingest, one worker process ({args.lines:,} lines)",
                    f"{one:,.0f} lines/s",
                    "≥ 0.8× raw COPY",
                    f"raw COPY {raw:,.0f} rows/s → ratio {one / raw:.2f}×",
                ),
                (
                    f"Postgres ingest, 4 worker processes at once ({args.lines:,} lines each)",
                    f"{four:,.0f} lines/s aggregate",
                    "≥ 1.6× one worker",
                    f"one worker {one:,.0f} lines/s → ratio {four / one:.2f}×",
                ),
            ]
        record(
            f"ingest-{connection.vendor}",
            [
                (
                    f"ingest {args.lines:,} remote lines ({connection.vendor})",
                    f"{rate:,.0f} lines/s ({elapsed:.2f} s)",
                    f"{goal} {raw_name}",
                    f"{raw_name} {raw:,.0f} rows/s → ratio {rate / raw:.2f}× (target {goal})",
                ),
                *workers,
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
