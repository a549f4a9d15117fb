"""In real Chromium: line-to-DOM latency on a live job, and the time until a finished
1,000,000-line job shows its tail. Run embedded and, when reachable, with REDIS_URL."""

from __future__ import annotations

import os
import threading
import time

from common import make_server, percentile, record
from live import LATENCY_CMD
from webbench import session_cookie, web_bench

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

# Each render stamps every seq the viewer has received since the last one: the first
# frame in which a line could be on screen.
RENDER_HOOK = """
() => {
  window.__seen = {};
  let prev = 0;
  window.livchatViewer.onRender = (viewer) => {
    const now = Date.now();
    const last = viewer.socket.cursor;
    for (let s = prev + 1; s <= last; s++) window.__seen[s] = now;
    prev = Math.max(prev, last);
  };
}
"""


def big_finished_job(n: int):
    from jobs.log.sink import JobSink
    from jobs.models import Job

    job = Job.objects.create(job_id="remote_exec-00b16b16", job_type="remote_exec", status="running")
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    for base in range(0, n, 10_000):
        sink.write_lines("stdout", [f"line {i}" for i in range(base + 1, min(base + 10_000, n) + 1)])
    sink.close()
    Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0)
    return job


def main() -> None:
    from playwright.sync_api import sync_playwright

    redis = bool(os.environ.get("REDIS_URL"))
    mode = "Redis push" if redis else "embedded polling"
    with web_bench("browser-redis" if redis else "browser") as (ssh, port):
        # Playwright's sync API keeps an event loop in this thread; the ORM calls here are
        # plain blocking set-up code (the app itself runs in daphne, without this flag).
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        from jobs.models import JobLogLine
        from jobs.services import create_remote_exec_job
        from jobs.tasks import run_job

        server = make_server(ssh)
        run_job(create_remote_exec_job(server=server, command="true", enqueue=False).job_id)
        cookie = session_cookie().split("=", 1)[1]
        big = big_finished_job(1_000_000)
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
            page = context.new_page()

            page.goto(f"{base}/jobs/{big.job_id}/")  # warm the static files cache
            tails = []
            for _ in range(5):
                t0 = time.perf_counter()
                page.goto(f"{base}/jobs/{big.job_id}/")
                page.get_by_text("line 1000000", exact=True).first.wait_for(state="visible", timeout=30_000)
                tails.append((time.perf_counter() - t0) * 1000)
            dom_rows = page.evaluate("() => window.livchatViewer.stats().domRows")

            job = create_remote_exec_job(server=server, command=LATENCY_CMD, enqueue=False)
            page.goto(f"{base}/jobs/{job.job_id}/")
            page.wait_for_function("() => !!window.livchatViewer")
            page.evaluate(RENDER_HOOK)
            worker = threading.Thread(target=run_job, args=(job.job_id,))
            worker.start()
            worker.join()
            page.wait_for_function("() => window.livchatViewer.stats().ended", timeout=30_000)
            seen = page.evaluate("() => window.__seen")
            browser.close()
        rows = JobLogLine.objects.filter(job=job, stream="stdout").values_list("seq", "message")
        latencies = [seen[str(seq)] - float(msg) * 1000 for seq, msg in rows if str(seq) in seen]
        record(
            f"browser-{'redis' if redis else 'embedded'}",
            [
                (f"line → browser DOM latency ({mode})",
                 f"p50 {percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms",
                 "p99 ≤ 150 ms embedded, ≤ 100 ms Redis", f"{len(latencies)} of {len(rows)} lines timed, 50 lines/s"),
                ("1,000,000-line finished job: navigation → tail visible",
                 f"median {percentile(tails, 50):.0f} ms (best {min(tails):.0f}, worst {max(tails):.0f})",
                 "< 1 s", f"{dom_rows} rows in the DOM"),
            ],
        )  # fmt: skip


if __name__ == "__main__":
    main()
