"""The viewer within the server's bounds: it acknowledges what it renders (jobs/live/flow.py), so
a live job far larger than the 1 MiB send window reaches the page whole over the socket;
and it reads on when a logs answer stops at its byte budget (long lines)."""

from __future__ import annotations

import pytest

from jobs.log.sink import JobSink
from jobs.models import Job
from jobs.services import create_remote_exec_job, new_job_id
from tests.web.browser.test_logviewer import ROWS, output_row, wait_final

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINES = 60_000  # about 6 MB of websocket JSON: six windows and more


def test_a_live_job_larger_than_the_send_window_reaches_the_page_over_the_socket(logged_in, server):
    page = logged_in
    # The page connects during the sleep, so every line comes over the socket, live.
    job = create_remote_exec_job(server=server, command=f"sleep 3; seq -f '%06g line of output' 1 {LINES}")
    page.goto(f"/jobs/{job.job_id}/")
    page.locator("[data-lv=conn][data-state=live]").wait_for()
    output_row(page, f"{LINES:06d} line of output").first.wait_for(timeout=90_000)
    job = wait_final(job)
    stats = page.evaluate("livchatViewer.stats()")
    assert stats["received"] == job.last_seq, stats  # nothing held back for want of an ack
    assert stats["gaps"] == 0 and stats["duplicates"] == 0
    assert page.console_errors == []


def test_older_blocks_of_long_lines_load_whole_although_each_answer_stops_at_its_budget(logged_in):
    page = logged_in
    job = Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status="running")
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", [f"{i:05d} " + "x" * 16_000 for i in range(1, 3001)])  # 1000 cut lines: 8 MB
    sink.close()
    Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0)

    page.goto(f"/jobs/{job.job_id}/")
    output_row(page, "03000 ").first.wait_for()
    # Block 1 (lines 1–1000) comes from the logs API in more than one answer.
    page.evaluate("location.hash = '#L900'")
    page.locator(f"{ROWS}[data-seq='900'] .lv-m", has_text="00900 xxx").wait_for(timeout=30_000)
    page.evaluate("location.hash = '#L100'")
    page.locator(f"{ROWS}[data-seq='100'] .lv-m", has_text="00100 xxx").wait_for(timeout=30_000)
    assert page.console_errors == []
