"""Worker-side figures: memory on 1 GB of output, 50 jobs in one worker, per-line overhead
next to plain `ssh host cmd > file`, and aggregate ingest of 4 worker processes (SQLite and,
when reachable, Postgres vs raw COPY)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

from common import ROOT, cleanup, make_server, record, setup_django, start_sshd

RUN_ONE = """
import os, sys, django
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "livchat.settings")
django.setup()
from jobs.tasks import run_job
run_job(sys.argv[1])
"""


def worker_process(job_id: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUN_ONE.format(root=str(ROOT)), job_id], env=env)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def bench_memory(server, env) -> tuple[str, str, str, str]:
    from jobs.services import create_remote_exec_job

    line = "x" * 1023
    n = 1_048_576  # 1 GiB of output in 1 KiB lines
    job = create_remote_exec_job(server=server, command=f"yes {line} | head -n {n}", enqueue=False)
    proc = worker_process(job.job_id, env)
    samples = []
    while proc.poll() is None:
        samples.append(rss_mb(proc.pid))
        time.sleep(0.25)
    peak = max(samples) if samples else 0.0
    job.refresh_from_db()
    half = [s for s in samples[len(samples) // 2 :] if s] or [0]
    return (
        "worker peak RSS while one job streams 1 GiB",
        f"{peak:.0f} MB peak, {min(half):.0f}–{max(half):.0f} MB over the 2nd half",
        "< 150 MB, flat",
        f"{job.line_count:,} lines stored, status {job.status}",
    )


def bench_fifty(server) -> tuple[str, str, str, str]:
    from jobs.models import JobLogLine
    from jobs.services import create_remote_exec_job
    from jobs.tasks import run_job

    per_job = 20_000
    jobs = [create_remote_exec_job(server=server, command=f"seq 1 {per_job}", enqueue=False) for _ in range(50)]
    threads = [threading.Thread(target=run_job, args=(j.job_id,)) for j in jobs]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    bad = 0
    for j in jobs:
        got = list(JobLogLine.objects.filter(job=j, stream="stdout").order_by("seq").values_list("message", flat=True))
        bad += got != [str(i) for i in range(1, per_job + 1)]
    return (
        "50 concurrent jobs in one worker process",
        f"{50 * per_job / elapsed:,.0f} lines/s total ({elapsed:.1f} s)",
        "0 lost or crossed lines",
        f"{bad} job(s) with lost/crossed lines",
    )


def bench_overhead(ssh, server) -> tuple[str, str, str, str]:
    from jobs.services import create_remote_exec_job
    from jobs.tasks import run_job

    n = 1_000_000
    out = f"/tmp/livchat-bench-plain-{os.getpid()}"
    t0 = time.perf_counter()
    with open(out, "wb") as fh:
        subprocess.run(ssh.ssh_command(f"seq 1 {n}"), stdout=fh, check=True)
    plain = time.perf_counter() - t0
    os.unlink(out)
    job = create_remote_exec_job(server=server, command=f"seq 1 {n}", enqueue=False)
    t0 = time.perf_counter()
    run_job(job.job_id)
    ours = time.perf_counter() - t0
    return (
        "per-line overhead vs `ssh host 'seq 1 1000000' > file`",
        f"{(ours - plain) / n * 1e6:.2f} µs/line ({ours:.2f} s vs {plain:.2f} s)",
        "-",
        f"plain ssh {n / plain:,.0f} lines/s; LivChat {n / ours:,.0f} lines/s",
    )


def bench_cancel(server, repeats: int = 5) -> tuple[str, str, str, str]:
    """Cancel a job whose parent and child ignore SIGTERM; time until the job is final."""
    from jobs.models import Job, JobLogLine
    from jobs.services import create_remote_exec_job, request_cancel
    from jobs.tasks import run_job

    stubborn = "trap '' TERM; (trap '' TERM; sleep 300) & echo started; sleep 300; wait"
    latencies = []
    for _ in range(repeats):
        job = create_remote_exec_job(server=server, command=stubborn, enqueue=False)
        worker = threading.Thread(target=run_job, args=(job.job_id,))
        worker.start()
        deadline = time.monotonic() + 30
        while not JobLogLine.objects.filter(job=job, message="started").exists():
            if time.monotonic() > deadline or Job.objects.get(pk=job.pk).is_final:
                raise RuntimeError(f"the cancel job never started: {Job.objects.get(pk=job.pk).error}")
            time.sleep(0.02)
        t0 = time.perf_counter()
        request_cancel(job=job, requested_by="bench")
        while not Job.objects.get(pk=job.pk).is_final:
            time.sleep(0.01)
        latencies.append(time.perf_counter() - t0)
        worker.join()
    latencies.sort()
    return (
        "cancel → job final, remote tree gone (SIGTERM ignored → SIGKILL)",
        f"median {latencies[len(latencies) // 2]:.2f} s, worst {latencies[-1]:.2f} s",
        "≤ 2 s",
        f"{repeats} runs; poll 0.25 s + TERM grace 1 s + KILL",
    )


def bench_parallel_workers(server, env, workers: int = 4) -> tuple[str, str, str, str]:
    from django.db import connection

    from jobs.models import Job
    from jobs.services import create_remote_exec_job

    per_job = 500_000
    jobs = [create_remote_exec_job(server=server, command=f"seq 1 {per_job}", enqueue=False) for _ in range(workers)]
    t0 = time.perf_counter()
    procs = [worker_process(j.job_id, env) for j in jobs]
    for p in procs:
        p.wait()
    elapsed = time.perf_counter() - t0
    stored = sum(Job.objects.get(pk=j.pk).line_count for j in jobs)
    baseline = raw_copy_rate(per_job) if connection.vendor == "postgresql" else None
    return (
        f"ingest, {workers} worker processes at once ({connection.vendor})",
        f"{stored / elapsed:,.0f} lines/s aggregate ({elapsed:.1f} s)",
        "≥ 300,000 lines/s on Postgres",
        f"raw COPY of the same rows, one connection: {baseline:,.0f} rows/s" if baseline else "-",
    )


def raw_copy_rate(n: int) -> float:
    from datetime import UTC, datetime

    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "CREATE TEMP TABLE bench_copy (job_id bigint, seq bigint, ts timestamptz, level text, stream text,"
            " message text, host text, task text, event text)"
        )
        c.execute("CREATE UNIQUE INDEX ON bench_copy (job_id, seq)")
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        for base in range(0, n, 1000):
            with c.cursor.copy("COPY bench_copy FROM STDIN") as copy:
                for i in range(base + 1, min(base + 1000, n) + 1):
                    copy.write_row((1, i, now, "INFO", "stdout", str(i), "", "", ""))
        rate = n / (time.perf_counter() - t0)
        c.execute("DROP TABLE bench_copy")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    data_dir = setup_django("scale")
    ssh = start_sshd()
    try:
        from django.db import connection

        from jobs.services import create_remote_exec_job
        from jobs.tasks import run_job

        server = make_server(ssh)
        run_job(create_remote_exec_job(server=server, command="true", enqueue=False).job_id)  # pin the key
        env = dict(os.environ)
        if connection.vendor == "sqlite":
            env["DATABASE_URL"] = f"sqlite:///{connection.settings_dict['NAME']}"
        rows = [
            bench_overhead(ssh, server),
            bench_cancel(server),
            bench_fifty(server),
            bench_parallel_workers(server, env),
        ]
        if not (args.skip_memory or os.environ.get("SCALE_SKIP_MEMORY")):
            rows.append(bench_memory(server, env))
        record(f"scale-{connection.vendor}", rows)
    finally:
        ssh.close()
        cleanup(data_dir)


if __name__ == "__main__":
    main()
