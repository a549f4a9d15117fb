"""Shared set-up for benchmarks: a fresh data dir + database, a real sshd, a report."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REPORT_DIR = ROOT / "var" / "bench"


def setup_django(name: str) -> Path:
    """Point LivChat at a throwaway data dir (SQLite unless DATABASE_URL is set) and migrate."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"livchat-bench-{name}-"))
    os.environ["LIVCHAT_DATA_DIR"] = str(data_dir)
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        os.environ["DATABASE_URL"] = _fresh_postgres_database(os.environ["DATABASE_URL"], name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "livchat.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return data_dir


def _fresh_postgres_database(url: str, name: str) -> str:
    """Each benchmark gets an empty database of its own (dropped at exit), so runs never
    see each other's rows, users or pinned host keys."""
    import atexit
    from urllib.parse import urlparse, urlunparse

    import psycopg

    db = f"livchat_bench_{name.replace('-', '_')}_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    atexit.register(drop)
    return urlunparse(urlparse(url)._replace(path=f"/{db}"))


def start_sshd():
    from tests.sshd import start_sshd as start

    return start(Path(tempfile.mkdtemp(prefix="livchat-bench-sshd-")))


def make_server(ssh, name: str = "bench", max_concurrent_jobs: int = 100):
    from servers.services import create_or_update_server

    server, _ = create_or_update_server(
        name=name,
        host=ssh.host,
        port=ssh.port,
        username=ssh.username,
        private_key=ssh.private_key_text,
        max_concurrent_jobs=max_concurrent_jobs,
    )
    return server


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def record(name: str, rows: list[tuple[str, str, str, str]]) -> None:
    """Print rows (metric, measured, target, baseline) and keep them for the combined report."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    widths = [max(len(r[i]) for r in [("metric", "measured", "target", "baseline / ratio"), *rows]) for i in range(4)]
    header = ("metric", "measured", "target", "baseline / ratio")
    lines = [" | ".join(c.ljust(w) for c, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    print(f"\n== {name} ==")
    print("\n".join(lines))
    with open(REPORT_DIR / f"{name}.md", "w") as fh:
        fh.write(f"## {name}\n\n| metric | measured | target | baseline / ratio |\n|---|---|---|---|\n")
        fh.writelines(f"| {' | '.join(r)} |\n" for r in rows)


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = ["percentile", "statistics", "timed"]
