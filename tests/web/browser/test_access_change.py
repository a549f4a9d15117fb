"""The live log viewer in real Chromium when the viewer's access changes while it watches: the
server re-checks every few seconds (jobs/live/recheck.py) and closes with 4403; the page shows the
server's reason and stops, instead of reconnecting."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from jobs.log.sink import JobSink
from jobs.models import Job
from servers.models import Server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_deactivated_viewer_is_told_and_not_reconnected(logged_in, operator):
    page = logged_in
    server = Server.objects.create(name="srv-web", host="127.0.0.1", port=9, username="deploy")
    job = Job.objects.create(job_id="remote_exec-0000beef", job_type="remote_exec", status="running", server=server)
    job.servers.add(server)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", ["first", "second"])
    sink.close()

    page.goto(f"/jobs/{job.job_id}/")
    page.locator("[data-lv=conn][data-state=live]").wait_for()
    get_user_model().objects.filter(pk=operator.pk).update(is_active=False)

    # Within a re-check interval (3 s in the served app): the server's words, not a generic code.
    conn = page.locator("[data-lv=conn][data-state=error]")
    conn.wait_for(timeout=30_000)
    assert conn.inner_text() == "Your access changed: This account is inactive. Reload the page."
    stats = page.evaluate("livchatViewer.stats()")
    assert stats["connects"] == 1 and stats["reconnects"] == 0
    assert page.evaluate("livchatViewer.viewer.socket.retryTimer") is None  # no reconnect scheduled
    assert page.console_errors == []
