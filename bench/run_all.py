"""`make bench`: run every benchmark in its own process, then print one combined report.

Benchmarks that compare embedded and scale-out modes run twice: as configured, then with
Postgres (`DATABASE_URL`) and/or Redis (`REDIS_URL`) when those are reachable here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPORT_DIR = ROOT / "var" / "bench"
PG = os.environ.get("LIVCHAT_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("LIVCHAT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")

# (script, extra environment) — None values mean "only when the scale-out env is reachable"
PLAN: list[tuple[str, dict | None]] = [
    ("ingest.py", {}),
    ("readers.py", {}),
    ("queries.py", {}),
    ("scale.py", {}),
    ("live.py", {}),
    ("browser.py", {}),
    ("ingest.py", {"DATABASE_URL": PG}),
    ("queries.py", {"DATABASE_URL": PG}),
    ("scale.py", {"DATABASE_URL": PG, "SCALE_SKIP_MEMORY": "1"}),
    ("live.py", {"REDIS_URL": REDIS}),
    ("browser.py", {"REDIS_URL": REDIS}),
    ("playbook.py", {}),
    ("mcp.py", {}),
    ("schedules.py", {}),
    ("fleet.py", {}),
    ("policies.py", {}),
    ("search.py", {}),
    ("search.py", {"DATABASE_URL": PG}),
    ("diff.py", {}),
]


def scaleout_reachable() -> bool:
    result = subprocess.run([str(ROOT / "scripts" / "scaleout-env.sh")], capture_output=True, text=True)
    return result.returncode == 0


def main() -> int:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    for stale in REPORT_DIR.glob("*.md"):
        stale.unlink()
    scaleout = scaleout_reachable()
    failed = []
    for script, extra in PLAN:
        if extra and not scaleout:
            print(f"\n### skipping bench/{script} with {extra}: Postgres/Redis not reachable here")
            continue
        print(f"\n### running bench/{script} {' '.join(f'{k}={v}' for k, v in extra.items())}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / script)], cwd=HERE, env={**os.environ, **extra})
        if result.returncode != 0:
            failed.append(f"{script} {extra or ''}")
    parts = [p.read_text() for p in sorted(REPORT_DIR.glob("*.md")) if p.name != "report.md"]
    report = "# LivChat benchmark report\n\n" + "\n".join(parts)
    (REPORT_DIR / "report.md").write_text(report)
    print("\n" + report)
    print(f"(written to {REPORT_DIR / 'report.md'})")
    if failed:
        print(f"benchmarks that did not finish: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
