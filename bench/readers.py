"""Readers cost the writer little (issue 15, item 2), on SQLite with a real qcluster.

A remote_exec job prints LINES lines as fast as it can (`seq 1 N`) on the bench sshd, run by
a real `manage.py qcluster`: once with nobody reading, once with one `manage.py job_logs
<id> --follow` (stdout to /dev/null) and one websocket viewer on a real daphne (acking every
message, reading until `end`, checked to get every line in order). Both are rated from the
job's own started_at → finished_at. The baseline is a raw sqlite3 `executemany` of the same
rows (same columns, 1000 a transaction) into the same JobLogLine table of the same
database, measured before and after the jobs in this run; runs alternate alone / with
readers so a swing of the machine's load hits both. Prints figures; never pass/fail."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from common import ROOT, make_server, record
from queries import start_qcluster, stop
from webbench import session_cookie, web_bench

JOB_TIMEOUT = 600


def db_path() -> Path:
    from django.db import connection

    return Path(connection.settings_dict["NAME"])


def subprocess_env() -> dict:
    return dict(os.environ, DATABASE_URL=f"sqlite:///{db_path()}")


def raw_executemany_rate(*, lines: int, job_id: str) -> float:
    """The job's rows (same columns and values as the sink stores for `seq`'s stdout) straight
    into the same JobLogLine table with sqlite3, 1000 rows a transaction, under a job of their own."""
    from jobs.models import Job, JobLogLine

    job = Job.objects.create(job_id=job_id, job_type="remote_exec", status="succeeded")
    db = sqlite3.connect(db_path(), isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    sql = (
        f"INSERT INTO {JobLogLine._meta.db_table} (job_id, seq, ts, level, stream, message, host, task, event)"
        " VALUES (?,?,?,?,?,?,?,?,?)"
    )
    ts = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    start = time.perf_counter()
    for base in range(0, lines, 1000):
        seqs = range(base + 1, min(base + 1000, lines) + 1)
        rows = [(job.pk, i, ts, "INFO", "stdout", str(i), "", "", "") for i in seqs]
        db.execute("BEGIN")
        db.executemany(sql, rows)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return lines / elapsed


def bare_table_rate(*, lines: int, packed: bool = False) -> float:
    """The limit for these rows on SQLite: the same kind of rows (job, seq, ts, level, stream,
    message) with the same unique (job, seq) index, 1000 a transaction, into a bare table in a
    fresh SQLite file (WAL, synchronous=NORMAL, as LivChat's own). `packed`: the 1000 messages
    go as one JSON array in one INSERT ... SELECT FROM json_each, as the sink stores an entry."""
    path = db_path().with_name("bare-table.sqlite3")
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE line (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL,"
        " level TEXT NOT NULL, stream TEXT NOT NULL, message TEXT NOT NULL)"
    )
    db.execute("CREATE UNIQUE INDEX line_job_seq ON line (job_id, seq)")
    sql = "INSERT INTO line (job_id, seq, ts, level, stream, message) VALUES (?,?,?,?,?,?)"
    packed_sql = (
        "INSERT INTO line (job_id, seq, ts, level, stream, message) SELECT 1, ? + key, ?, ?, ?, value FROM json_each(?)"
    )
    ts = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    start = time.perf_counter()
    for base in range(0, lines, 1000):
        seqs = range(base + 1, min(base + 1000, lines) + 1)
        db.execute("BEGIN")
        if packed:
            db.execute(packed_sql, (base + 1, ts, "INFO", "stdout", json.dumps([str(i) for i in seqs])))
        else:
            db.executemany(sql, [(1, i, ts, "INFO", "stdout", str(i)) for i in seqs])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return lines / elapsed


class Viewer(threading.Thread):
    """One websocket viewer of a job: acks every message, reads until `end`; `ready` is set
    once the first message (the job's status) came, i.e. it reads along from the start."""

    def __init__(self, *, port: int, job_id: str, cookie: str) -> None:
        super().__init__(daemon=True)
        self.port, self.job_id, self.cookie = port, job_id, cookie
        self.ready = threading.Event()
        self.seqs: list[int] = []
        self.messages = 0
        self.ended = False
        self.cpu = 0.0  # this thread's CPU seconds: decoding and acking

    def run(self) -> None:
        start = time.thread_time()
        try:
            self._read()
        finally:
            self.cpu = time.thread_time() - start

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        headers = {"Cookie": self.cookie, "Origin": f"http://127.0.0.1:{self.port}"}
        url = f"ws://127.0.0.1:{self.port}/ws/jobs/{self.job_id}/"
        with connect(url, additional_headers=headers, max_size=None) as ws:
            for raw in ws:
                self.ready.set()
                msg = json.loads(raw)
                self.messages += 1
                if msg["type"] == "lines":
                    self.seqs.extend(line["seq"] for line in msg["lines"])
                elif msg["type"] == "end":
                    self.ended = True
                    break
                if msg.get("ack"):  # flow control (jobs/live/flow.py) waits for these
                    try:
                        ws.send(json.dumps({"type": "ack", "ack": msg["ack"]}))
                    except ConnectionClosed:  # `end` and the close are on their way
                        pass


def start_follower(*, job_id: str) -> tuple[subprocess.Popen, threading.Event]:
    """`manage.py job_logs <id> --follow`, stdout to /dev/null. The job is still pending: the
    event is set when the command says it is waiting for a worker, i.e. it is in its loop."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "job_logs", job_id, "--follow"],
        env=subprocess_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    waiting = threading.Event()

    def watch() -> None:
        for line in proc.stderr:
            if "waiting for a worker" in line:
                waiting.set()

    threading.Thread(target=watch, daemon=True).start()
    return proc, waiting


def daphne_cpu(port: int) -> float:
    """CPU seconds used so far by our daphne child on `port` (0 when not found)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"daphne" in cmdline and str(port).encode() in cmdline and int(fields[1]) == os.getpid():
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def reap(proc: subprocess.Popen) -> tuple[int, float]:
    """(exit code, CPU seconds) of a child, from wait4's resource usage."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def wait_final(*, job, timeout: float) -> tuple[object, int]:
    """The job once final, and the largest WAL file seen meanwhile (bytes)."""
    from jobs.models import FINAL_STATUSES, Job

    wal = Path(f"{db_path()}-wal")
    biggest = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        biggest = max(biggest, wal.stat().st_size if wal.exists() else 0)
        current = Job.objects.get(pk=job.pk)
        if current.status in FINAL_STATUSES:
            return current, biggest
        time.sleep(0.25)  # this check is a reader too: keep it rare
    raise RuntimeError(f"job {job.job_id} did not finish within {timeout:.0f} s")


def run_job(*, server, lines: int, port: int | None, cookie: str = "", readers: str = "both") -> dict:
    """One `seq 1 lines` job through the qcluster; with `port`, a --follow and/or a websocket
    viewer (`readers`) read along from before its first line. Returns its rate and what the
    readers got."""
    from jobs.services import create_remote_exec_job, enqueue_job

    job = create_remote_exec_job(server=server, command=f"seq 1 {lines}", timeout=JOB_TIMEOUT, enqueue=False)
    follower = viewer = None
    if port is not None and readers != "ws":
        follower, waiting = start_follower(job_id=job.job_id)
        if not waiting.wait(60):
            raise RuntimeError("job_logs --follow did not start following")
    if port is not None and readers != "follow":
        viewer = Viewer(port=port, job_id=job.job_id, cookie=cookie)
        viewer.start()
        if not viewer.ready.wait(30):
            raise RuntimeError("the websocket viewer did not attach")
    web_cpu = daphne_cpu(port) if viewer is not None else 0.0
    enqueue_job(job_id=job.job_id, timeout=JOB_TIMEOUT)
    done, wal = wait_final(job=job, timeout=JOB_TIMEOUT)
    assert done.status == "succeeded", (done.status, done.error)
    out = {
        "rate": done.line_count / (done.finished_at - done.started_at).total_seconds(),
        "seconds": (done.finished_at - done.started_at).total_seconds(),
        "wal_mb": wal / 1e6,
    }
    out["follow_rc"], out["follow_cpu"] = reap(follower) if follower else (0, 0.0)
    if viewer is not None:
        viewer.join(timeout=120)
        out["daphne_cpu"] = daphne_cpu(port) - web_cpu
        out["viewer_cpu"] = viewer.cpu
        out["viewer_ok"] = viewer.ended and viewer.seqs == list(range(1, done.last_seq + 1))
        out["viewer_messages"] = viewer.messages
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=2, help="alone / with readers pairs, alternating")
    parser.add_argument("--readers", choices=("both", "follow", "ws"), default="both", help="to tell their costs apart")
    args = parser.parse_args()
    if os.environ.get("DATABASE_URL", "sqlite").split(":")[0] not in ("sqlite", ""):
        print("bench/readers.py measures SQLite; DATABASE_URL is not SQLite, skipping")
        return
    os.environ.pop("REDIS_URL", None)  # the embedded mode: readers poll
    with web_bench("readers") as (ssh, port):
        from jobs.services import create_remote_exec_job
        from jobs.tasks import run_job as run_inline

        server = make_server(ssh)
        # Warm-up: first contact pins the host key; not part of any figure.
        run_inline(create_remote_exec_job(server=server, command="true", enqueue=False).job_id)
        cookie = session_cookie()
        cluster = start_qcluster()
        try:
            raw = [raw_executemany_rate(lines=args.lines, job_id="remote_exec-00c0ffe0")]
            bare = [bare_table_rate(lines=args.lines)]
            packed = [bare_table_rate(lines=args.lines, packed=True)]
            alone, read = [], []
            for _ in range(args.rounds):
                alone.append(run_job(server=server, lines=args.lines, port=None))
                read.append(run_job(server=server, lines=args.lines, port=port, cookie=cookie, readers=args.readers))
            raw.append(raw_executemany_rate(lines=args.lines, job_id="remote_exec-00c0ffe1"))
            bare.append(bare_table_rate(lines=args.lines))
            packed.append(bare_table_rate(lines=args.lines, packed=True))
        finally:
            stop(cluster)
        report(lines=args.lines, raw=raw, bare=bare, packed=packed, alone=alone, read=read, readers=args.readers)


def cpu_text(read: list[dict], lines: int) -> str:
    names = (("follow_cpu", "job_logs --follow"), ("daphne_cpu", "daphne"), ("viewer_cpu", "websocket client"))
    return ", ".join(
        f"{label} {statistics.median(r[key] for r in read) / lines * 1e6:.1f} µs"
        for key, label in names
        if read[0].get(key)
    )


def report(
    *,
    lines: int,
    raw: list[float],
    bare: list[float],
    packed: list[float],
    alone: list[dict],
    read: list[dict],
    readers: str,
) -> None:
    base = statistics.mean(raw)
    limit = statistics.mean(bare)
    packed_limit = statistics.mean(packed)
    a = statistics.median(r["rate"] for r in alone)
    w = statistics.median(r["rate"] for r in read)
    each = ", ".join(f"{r['rate']:,.0f}" for r in alone)
    each_read = ", ".join(f"{r['rate']:,.0f}" for r in read)
    who = {"both": "`job_logs --follow` + 1 websocket viewer", "follow": "`job_logs --follow` only"}
    who = who.get(readers, "1 websocket viewer only")
    checks = sum(1 for r in read if r.get("viewer_ok", True) and r["follow_rc"] == 0)
    record(
        "readers-sqlite" if readers == "both" else f"readers-sqlite-{readers}",
        [
            (f"raw executemany of the same {lines:,} rows into JobLogLine (before, after)",
             f"{raw[0]:,.0f} / {raw[1]:,.0f} rows/s", "baseline", f"mean {base:,.0f} rows/s"),
            ("the same rows into a bare table (same index) in a fresh SQLite file (before, after)",
             f"{bare[0]:,.0f} / {bare[1]:,.0f} rows/s", "baseline: the limit",
             f"mean {limit:,.0f} rows/s; JobLogLine's raw executemany is {base / limit:.2f}× it"),
            ("the bare table again, each 1000 messages one JSON array (json_each), as the sink stores",
             f"{packed[0]:,.0f} / {packed[1]:,.0f} rows/s", "baseline: the sink's way",
             f"mean {packed_limit:,.0f} rows/s ({packed_limit / limit:.2f}× executemany)"),
            (f"SQLite ingest, real qcluster, no reader ({lines:,} lines)",
             f"{a:,.0f} lines/s (median of {each})", "≥ 0.7× the bare table",
             f"ratio {a / limit:.2f}× the bare table, {a / base:.2f}× raw executemany, "
             f"{a / packed_limit:.2f}× the bare table packed; "
             f"WAL up to {max(r['wal_mb'] for r in alone):.0f} MB"),
            (f"SQLite ingest, real qcluster, with {who} ({lines:,} lines)",
             f"{w:,.0f} lines/s (median of {each_read})", "≥ 0.6× the bare table",
             f"ratio {w / limit:.2f}× the bare table, {w / base:.2f}× raw executemany, "
             f"{w / packed_limit:.2f}× the bare table packed ({w / a:.2f}× alone); "
             f"WAL up to {max(r['wal_mb'] for r in read):.0f} MB; "
             f"{checks}/{len(read)} runs: viewer got every line in order, --follow exit 0; "
             f"viewer messages {', '.join(str(r.get('viewer_messages', '-')) for r in read)}"),
            ("readers' CPU per line while following (median)", cpu_text(read, lines), "-",
             f"raw executemany costs {1e6 / base:.1f} µs a row (wall) in this run"),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
