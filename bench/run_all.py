"""`make bench`: run every benchmark in its own process, then print one combined report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORT_DIR = HERE.parent / "var" / "bench"
BENCHES = ["ingest.py", "queries.py", "scale.py", "live.py"]


def main() -> int:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    for stale in REPORT_DIR.glob("*.md"):
        stale.unlink()
    failed = []
    for bench in BENCHES:
        print(f"\n### running bench/{bench}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / bench)], cwd=HERE)
        if result.returncode != 0:
            failed.append(bench)
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
