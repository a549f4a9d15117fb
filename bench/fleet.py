"""One command on many servers: 20 server records (all on the bench sshd), each printing 10 000
lines, as one job, against the same command on one server in the same run. Prints figures;
never pass/fail.

Both run through the worker's code path (jobs.tasks.run_job in this process): connect, stream,
store every line (rows + log file), final status. The figure is the wall time of the whole job,
as a ratio against the one-server job (goal: at most 1.5x); every host's lines are then
checked to be all there, in order, tagged with their host.
"""

from __future__ import annotations

import statistics
import sys
import time

from common import cleanup, make_server, record, setup_django, start_sshd

HOSTS = 20
LINES = 10_000
ROUNDS = 3
COMMAND = f"seq -f 'line %g' 1 {LINES}"


def run_one(servers, *, forks: int | None) -> tuple[float, object]:
    from jobs.models import Job
    from jobs.services import create_fleet_exec_job, create_remote_exec_job
    from jobs.tasks import run_job

    if forks is None:
        job = create_remote_exec_job(server=servers[0], command=COMMAND, enqueue=False)
    else:
        job = create_fleet_exec_job(servers=servers, command=COMMAND, forks=forks, enqueue=False)
    start = time.perf_counter()
    run_job(job.job_id)
    elapsed = time.perf_counter() - start
    job = Job.objects.get(pk=job.pk)
    assert job.status == "succeeded", (job.status, job.error)
    return elapsed, job


def lines_kept(job, names: list[str]) -> tuple[int, int]:
    """(hosts whose 10 000 lines are all stored, in order, under their host; total stdout rows)."""
    from jobs.models import JobLogLine

    expected = [f"line {i}" for i in range(1, LINES + 1)]
    complete = 0
    for name in names:
        rows = list(
            JobLogLine.objects.filter(job=job, host=name, stream="stdout")
            .order_by("seq")
            .values_list("message", flat=True)
        )
        complete += rows == expected
    return complete, JobLogLine.objects.filter(job=job, stream="stdout").count()


def raw_insert_seconds(count: int) -> float:
    """Baseline in the same run: raw executemany of `count` rows shaped like the job's, in
    transactions of 1000, into a scratch table with the same unique index (the store's floor)."""
    from django.db import connection, transaction

    rows = [(1, i, "2026-01-01 00:00:00", "INFO", "stdout", f"line {i}", "fleet-00", "", "") for i in range(count)]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_fleet_raw")
        cursor.execute(
            "CREATE TABLE bench_fleet_raw (job_id integer, seq bigint, ts text, level text, stream text, "
            "message text, host text, task text, event text)"
        )
        cursor.execute("CREATE UNIQUE INDEX bench_fleet_raw_u ON bench_fleet_raw (job_id, seq)")
    start = time.perf_counter()
    for i in range(0, count, 1000):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO bench_fleet_raw VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows[i : i + 1000]
            )
    elapsed = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_fleet_raw")
    return elapsed


def connect_only(servers) -> tuple[float, float]:
    """`true` on one server and on all of them: what the fan-out's SSH set-up costs alone."""
    global COMMAND
    saved, COMMAND = COMMAND, "true"
    try:
        one = statistics.median(run_one(servers, forks=None)[0] for _ in range(ROUNDS))
        many = statistics.median(run_one(servers, forks=len(servers))[0] for _ in range(ROUNDS))
    finally:
        COMMAND = saved
    return one, many


def main() -> int:
    data_dir = setup_django("fleet")
    ssh = start_sshd()
    try:
        servers = [make_server(ssh, name=f"fleet-{i:02d}") for i in range(HOSTS)]
        run_one(servers[:1], forks=None)  # first contact pins the key; warms the connection path
        single, fleet20, fleet10 = [], [], []
        last = {}
        for _ in range(ROUNDS):
            single.append(run_one(servers, forks=None)[0])
            t, last[20] = run_one(servers, forks=HOSTS)
            fleet20.append(t)
            t, last[10] = run_one(servers, forks=10)
            fleet10.append(t)
        one = statistics.median(single)
        names = [s.name for s in servers]
        complete20, rows20 = lines_kept(last[20], names)
        complete10, rows10 = lines_kept(last[10], names)
        many20, many10 = statistics.median(fleet20), statistics.median(fleet10)
        raw = raw_insert_seconds(HOSTS * LINES)
        true_one, true_many = connect_only(servers)
        record(
            "fleet",
            [
                ("one command, 1 server x 10k lines (wall)", f"{one:.2f} s", "baseline", f"median of {ROUNDS}"),
                (
                    f"same command, {HOSTS} servers x 10k lines, forks={HOSTS}",
                    f"{many20:.2f} s",
                    "<= 1.5x",
                    f"{many20 / one:.2f}x the one-server job",
                ),
                (
                    "same, forks=10 (default: two waves)",
                    f"{many10:.2f} s",
                    "(info)",
                    f"{many10 / one:.2f}x the one-server job",
                ),
                (
                    "every line kept per host (forks=20)",
                    f"{complete20}/{HOSTS} hosts complete",
                    f"{HOSTS}/{HOSTS}",
                    f"{rows20} stdout rows of {HOSTS * LINES}",
                ),
                (
                    "every line kept per host (forks=10)",
                    f"{complete10}/{HOSTS} hosts complete",
                    f"{HOSTS}/{HOSTS}",
                    f"{rows10} stdout rows of {HOSTS * LINES}",
                ),
                (
                    f"baseline: raw executemany of the same {HOSTS * LINES:,} rows",
                    f"{raw:.2f} s",
                    "(info)",
                    f"fleet job = {many20 / raw:.2f}x raw insert",
                ),
                (
                    f"connect + `true`: 1 server / {HOSTS} servers",
                    f"{true_one:.2f} s / {true_many:.2f} s",
                    "(info)",
                    f"{true_many / true_one:.2f}x",
                ),
                (
                    f"{HOSTS} x 10k lines stored",
                    f"{HOSTS * LINES / many20:,.0f} lines/s",
                    "(info)",
                    f"one server: {LINES / one:,.0f} lines/s",
                ),
            ],
        )
        return 0 if complete20 == HOSTS and complete10 == HOSTS else 1
    finally:
        ssh.close()
        cleanup(data_dir)


if __name__ == "__main__":
    sys.exit(main())
