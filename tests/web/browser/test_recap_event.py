"""The job page tells the recap that the job ended with a CustomEvent (no class watching)."""

import pytest

from jobs.models import Job, JobStatus
from jobs.services import create_playbook_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_recap_fills_on_job_ended_event(logged_in, server):
    page = logged_in
    job = create_playbook_job(playbook="ping.yml", servers=[server], enqueue=False)
    page.add_init_script(
        "window.__ended = []; document.addEventListener('livchat:job-ended', e => window.__ended.push(e.detail));"
    )
    page.goto(f"/jobs/{job.job_id}/")
    page.locator("[data-lv=conn][data-state=live]").wait_for()
    assert page.locator("#playbook-recap[data-recap-pending]").count() == 1
    zero = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}
    hosts = {"test": {**zero, "ok": 3, "changed": 1}, "b-host": {**zero, "failed": 1}}
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, result={"playbook": "ping.yml", "hosts": hosts})
    page.locator("#playbook-recap tr.recap-bad td.mono", has_text="b-host").wait_for()
    page.wait_for_function("() => livchatViewer.stats().ended")
    rows = page.eval_on_selector_all("#playbook-recap tbody tr", "rows => rows.map(r => r.textContent)")
    assert rows == ["b-host0010000", "test3100000"], rows
    assert page.evaluate("window.__ended") == [{"jobId": job.job_id, "status": "failed"}]
    assert page.locator("#playbook-recap[data-recap-pending]").count() == 0
    assert page.console_errors == []
