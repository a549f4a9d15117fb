"""A playbook job page hides what each task printed (DEBUG detail rows) behind a "task output"
toggle, in real Chromium against `manage.py serve`."""

from __future__ import annotations

import pytest

from jobs.log.sink import JobSink
from jobs.models import Job, JobType
from servers.services import create_or_update_server
from tests.web.browser.test_logviewer import ROWS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def playbook_job() -> Job:
    server, _ = create_or_update_server(name="web1", host="127.0.0.1", port=9, username="deploy")
    job = Job.objects.create(job_id="playbook-0000beef", job_type=JobType.PLAYBOOK, status="running", server=server)
    job.servers.set([server])
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    tags = {"host": "web1", "task": "show disk"}
    sink.write_lines("stdout", ["TASK [show disk] ***"], level="INFO", task="show disk")
    sink.write_lines("stdout", ["changed: [web1]"], level="INFO", event="runner_on_ok", **tags)
    sink.write_lines("stdout", ["Filesystem Size Used", "/dev/sda1 40G 12G"], level="DEBUG", **tags)
    sink.write_lines("stderr", ["df: warning: detail on stderr"], level="DEBUG", **tags)
    sink.write_lines("stdout", ["PLAY RECAP ***"], level="INFO")
    sink.close()
    Job.objects.filter(pk=job.pk).update(
        status="succeeded", exit_code=0, progress=100, line_count=sink.line_count, last_seq=sink.last_seq
    )
    return Job.objects.get(pk=job.pk)


def shown(page) -> list[str]:
    return page.eval_on_selector_all(ROWS, "rows => rows.map(r => r.querySelector('.lv-m').textContent)")


def test_task_output_waits_behind_its_toggle(logged_in):
    page = logged_in
    job = playbook_job()
    page.goto(f"/jobs/{job.job_id}/")
    toggle = page.locator("[data-lv=details]")
    assert toggle.get_attribute("aria-pressed") == "false"
    page.locator(ROWS, has_text="PLAY RECAP").wait_for()
    rows = shown(page)  # a row's text starts with its task tag when it has one
    assert len(rows) == 3 and rows[0].endswith("TASK [show disk] ***") and rows[2] == "PLAY RECAP ***"

    toggle.click()
    page.locator(ROWS, has_text="/dev/sda1 40G 12G").wait_for()
    assert toggle.get_attribute("aria-pressed") == "true"
    rows = shown(page)
    assert len(rows) == 6 and rows[4].endswith("df: warning: detail on stderr")

    # A level the user picks wins over the toggle: ≥ warning shows no detail rows at all.
    toggle.click()
    page.locator(ROWS, has_text="/dev/sda1").wait_for(state="detached")
    page.select_option("[data-lv=level]", "WARNING")
    page.wait_for_function("() => document.querySelectorAll('.lv-rows .lv-row:not([hidden])').length === 0")
    assert page.console_errors == []


def test_a_command_job_has_no_task_output_toggle(logged_in, server):
    from jobs.services import create_remote_exec_job

    job = create_remote_exec_job(server=server, command="true", enqueue=False)
    page = logged_in
    page.goto(f"/jobs/{job.job_id}/")
    page.locator("[data-lv=wrap]").wait_for()
    assert page.locator("[data-lv=details]").count() == 0
