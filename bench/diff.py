"""Diff two runs (issue 25): jobs stored by the real sink, then the whole answer of
jobs/log/diff.py against GNU diff of the two runs' messages (one line each, as files), in the
same run; median of 3 after one warm-up.

- two LINES-line runs that differ in 100 scattered lines ÷ `diff` of the two files (goal ≤ 2×)
- two 100 k-line runs that share nothing: the answer's time (goal: within 2 s, saying so)
Prints figures; never pass/fail."""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import cleanup, record, setup_django


def store(server, messages: list[str]):
    from jobs.log.sink import JobSink
    from jobs.models import Job
    from jobs.services import new_job_id

    job = Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status="running", server=server)
    job.servers.set([server])
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    for k in range(0, len(messages), 1000):
        sink.write_lines("stdout", messages[k : k + 1000])
    sink.close()
    Job.objects.filter(pk=job.pk).update(status="succeeded", params={"command": "bench"})
    return Job.objects.get(pk=job.pk)


def median_time(fn, rounds: int = 3) -> tuple[float, object]:
    result = fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    data_dir = setup_django("diff")
    try:
        from jobs.log import diff
        from servers.models import Server

        server = Server.objects.create(name="bench", host="127.0.0.1", username="u")
        base = [f"{i} GET /api/items/{i % 977} 200 user{i % 101}" for i in range(args.lines)]
        changed = list(base)
        for i in random.Random(7).sample(range(args.lines), 100):
            changed[i] = f"{i} POST /api/items/{i % 977} 500 user{i % 101}"
        old, new = store(server, base), store(server, changed)
        folder = Path(tempfile.mkdtemp(prefix="livchat-bench-diff-"))
        (folder / "a").write_text("\n".join(base) + "\n")
        (folder / "b").write_text("\n".join(changed) + "\n")
        ours, answer = median_time(lambda: diff.diff_jobs(job=new, against=old))
        gnu, _ = median_time(
            lambda: subprocess.run(["diff", str(folder / "a"), str(folder / "b")], capture_output=True)
        )
        assert answer["summary"]["added"] == 100 and answer["summary"]["removed"] == 100, answer["summary"]
        apart_a = store(server, [f"alpha {i} {i * 7919 % 10007}" for i in range(100_000)])
        apart_b = store(server, [f"beta {i} {i * 104729 % 10009}" for i in range(100_000)])
        start = time.perf_counter()
        apart = diff.diff_jobs(job=apart_b, against=apart_a)
        apart_s = time.perf_counter() - start
        cleanup(folder)
        record(
            "diff",
            [
                (f"two {args.lines:,}-line runs, 100 scattered lines differ: the answer", f"{ours * 1000:,.0f} ms",
                 "≤ 2× GNU diff", f"diff {gnu * 1000:,.0f} ms → ratio {ours / gnu:.2f}×"),
                ("two 100,000-line runs that share nothing", f"{apart_s * 1000:,.0f} ms", "within 2 s, saying so",
                 f"summary {apart['summary']}"),
            ],
        )  # fmt: skip
    finally:
        cleanup(data_dir)


if __name__ == "__main__":
    main()
