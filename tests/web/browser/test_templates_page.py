"""The template page in real Chromium against `manage.py serve` (its worker) and the test sshd:
fill a prompt, launch, land on the live job page, see the run on the template page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from automation.services import save_template
from jobs.models import Job, JobStatus
from tests.web.browser.test_logviewer import output_row, wait_final

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_launch_with_a_prompt_opens_the_job_page(logged_in, server):
    page = logged_in
    save_template(
        name="greet",
        kind="command",
        command="echo hello {{ who }}",
        servers=[server.name],
        prompts=[
            {"name": "who", "label": "Who to greet", "type": "text", "required": True},
            {"name": "loud", "type": "choice", "choices": ["no", "yes"], "default": "no"},
        ],
    )
    page.goto("/templates/")
    page.get_by_role("link", name="greet").click()
    expect(page.get_by_label("Who to greet")).to_be_visible()
    page.get_by_label("Who to greet").fill("world; echo injected")
    page.click("#launch-button")
    page.wait_for_url(re.compile(r".*/jobs/remote_exec-[0-9a-f]{8}/$"))
    job = Job.objects.get()
    assert page.url.endswith(f"/jobs/{job.job_id}/")
    expect(output_row(page, "hello world; echo injected")).to_have_count(1)
    job = wait_final(job)
    assert job.status == JobStatus.SUCCEEDED and job.params["template"]["values"]["who"] == "world; echo injected"
    page.goto("/templates/greet/")
    row = page.locator(f'#template-runs tr[data-job-id="{job.job_id}"]')
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text("who=world; echo injected")
    expect(page.locator("nav.mainnav a.active")).to_have_text("Templates")
    assert page.console_errors == []
