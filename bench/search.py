"""Search across jobs (issue 25): a corpus of JOBS jobs and LINES lines stored by the real sink
(rows and files), then the whole answer of GET /api/logs/search's service against GNU grep over
the same log files, in the same run (files in the page cache for both: each is run once before
it is timed, then the median of 3).

- a literal that matches once in the corpus ÷ `grep -rcF` (goal ≤ 1.5×)
- a regex that matches nothing ÷ `grep -rcE` (goal ≤ 2×)
- the newest 20 hits of a common word (goal ≤ 200 ms)
- ingest: the design adds nothing to it (no index, no summary): 1.00× by construction, and the
  corpus's own ingest rate is printed.
Runs on SQLite, and on PostgreSQL with DATABASE_URL set. Prints figures; never pass/fail."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from common import cleanup, record, setup_django

NEEDLE = "needle-7f3a91c2 found once"
ABSENT = r"timeout after \d+ retries on shard [A-Z]{3}"
COMMON = "GET"


def build(*, jobs: int, lines: int) -> tuple[float, list]:
    from jobs.log.sink import JobSink
    from jobs.models import Job
    from servers.models import Server

    server = Server.objects.create(name="bench", host="127.0.0.1", username="u")
    per_job = lines // jobs
    made = []
    started = time.perf_counter()
    for j in range(jobs):
        job = Job.objects.create(job_id=f"remote_exec-{j:08x}", job_type="remote_exec", status="running", server=server)
        job.servers.set([server])
        sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
        batch = [f"{j}.{i} GET /api/items/{i % 977} 200 {i % 13}ms user{i % 101}" for i in range(per_job)]
        if j == jobs // 3:
            batch[per_job // 2] = f"{j} {NEEDLE} in the middle"
        for k in range(0, per_job, 1000):
            sink.write_lines("stdout", batch[k : k + 1000])
        sink.close()
        Job.objects.filter(pk=job.pk).update(status="succeeded")
        made.append(job)
    return time.perf_counter() - started, made


def timed_median(fn, rounds: int = 3) -> tuple[float, object]:
    fn()  # warm: the page cache, the process's caches
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def grep(flag: str, pattern: str, folder) -> float:
    def run():
        subprocess.run(["grep", "-r", "-c", flag, pattern, str(folder)], stdout=subprocess.DEVNULL, check=False)

    return timed_median(run)[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=10_000_000)
    args = parser.parse_args()
    data_dir = setup_django("search")
    try:
        from django.conf import settings
        from django.db import connection

        from jobs.log import search_jobs

        settings.LOG_SEARCH_BUDGET_SECONDS = 600  # the whole answer is timed, never a partial one
        ingest_s, _ = build(jobs=args.jobs, lines=args.lines)
        folder = settings.JOB_LOG_DIR
        everything = search_jobs.candidate_jobs(user=None)

        def ask(text: str, *, regex: bool = False, limit: int = 20):
            return search_jobs.search_jobs(
                jobs=everything, query=search_jobs.Query(text=text, regex=regex), limit=limit
            )

        literal_s, literal = timed_median(lambda: ask(NEEDLE))
        grep_f = grep("-F", NEEDLE, folder)
        absent_s, absent = timed_median(lambda: ask(ABSENT, regex=True))
        grep_e = grep("-E", ABSENT, folder)
        common_s, common = timed_median(lambda: ask(COMMON))
        assert [h.match_count for h in literal.jobs] == [1], "the literal is in one line of one job"
        assert absent.jobs == [] and len(common.jobs) == 20
        vendor = connection.vendor
        record(
            f"search-{vendor}",
            [
                (f"corpus: {args.jobs:,} jobs, {args.lines:,} lines", f"{args.lines / ingest_s:,.0f} lines/s",
                 "ingest ≥ 0.95× without search", "1.00×: search adds nothing at ingest (no index, no summary)"),
                ("a literal found once: the whole answer", f"{literal_s * 1000:,.0f} ms", "≤ 1.5× grep -rcF",
                 f"grep -rcF {grep_f * 1000:,.0f} ms → ratio {literal_s / grep_f:.2f}×"),
                ("a regex that matches nothing", f"{absent_s * 1000:,.0f} ms", "≤ 2× grep -rcE",
                 f"grep -rcE {grep_e * 1000:,.0f} ms → ratio {absent_s / grep_e:.2f}×"),
                (f"the newest 20 jobs with the common word {COMMON!r}, counted", f"{common_s * 1000:,.0f} ms",
                 "≤ 200 ms", f"{sum(h.match_count for h in common.jobs):,} matching lines counted"),
            ],
        )  # fmt: skip
    finally:
        cleanup(data_dir)


if __name__ == "__main__":
    main()
