"""Issue 24, items 11, 14 and 16 in real Chromium: the new token's Copy button puts it on the
clipboard; the job filters apply as they change (template, user, days, search) with no Filter
click; a multi-select is chips (no Ctrl-click); a field's error goes once the field is filled;
an "ago" time under a minute reads "just now" and its tooltip names the time once."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from automation.launch import launch_template
from automation.models import JobTemplate
from jobs.models import Job, JobStatus
from jobs.services import create_remote_exec_job
from servers.services import create_or_update_server
from tests.helpers import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _finished(job: Job) -> Job:
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, exit_code=0, finished_at=timezone.now())
    return job


@pytest.fixture
def nowhere(transactional_db):
    server, _ = create_or_update_server(name="nowhere-1", host="127.0.0.1", port=9, username="deploy", tags=["web"])
    return server


def test_the_new_token_is_copied_to_the_clipboard(logged_in):
    page = logged_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/accounts/tokens/")
    page.fill("input[name=name]", "copy me")
    page.click("button[type=submit].btn-primary")
    token = page.locator("#token-value").inner_text()
    button = page.locator("#copy-token")
    expect(button).to_be_visible()
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert page.console_errors == []


def test_job_filters_apply_as_they_change(logged_in, operator, nowhere):
    page = logged_in
    template = JobTemplate.objects.create(name="disk-report", command="df -h")
    template.servers.add(nowhere)
    bob = make_user("bob-filters", role="Operators")
    from_template = _finished(launch_template(template=template, user=operator, via="web", enqueue=False))
    by_bob = _finished(create_remote_exec_job(server=nowhere, command="uptime", created_by=bob, enqueue=False))
    old = _finished(create_remote_exec_job(server=nowhere, command="hostname", created_by=operator, enqueue=False))
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timezone.timedelta(days=30))
    rows = page.locator("#job-list tr[data-job-id]")

    page.goto("/jobs/")
    expect(rows).to_have_count(3)
    expect(page.locator("#apply-filters")).to_be_hidden()  # nothing to press
    page.select_option("select[name=template]", "disk-report")
    page.wait_for_url("**/jobs/?template=disk-report")
    expect(rows).to_have_count(1)
    expect(page.locator(f"tr[data-job-id='{from_template.job_id}']")).to_be_visible()

    page.goto("/jobs/")
    page.select_option("select[name=user]", bob.username)
    page.wait_for_url(f"**/jobs/?user={bob.username}")
    expect(rows).to_have_count(1)
    expect(page.locator(f"tr[data-job-id='{by_bob.job_id}']")).to_be_visible()

    page.goto("/jobs/")
    page.fill("input[name=since]", str(timezone.localdate()))
    page.wait_for_url("**/jobs/?since=*")
    expect(rows).to_have_count(2)

    page.goto("/jobs/")
    page.locator("#job-filters input[name=q]").press_sequentially("hostn", delay=30)
    page.wait_for_url("**/jobs/?q=hostn")
    expect(rows).to_have_count(1)
    expect(page.locator("#job-filters input[name=q]")).to_be_focused()  # typing goes on where it was
    assert page.console_errors == []


def test_servers_are_picked_as_chips_and_a_filled_field_loses_its_error(logged_in, nowhere):
    page = logged_in
    create_or_update_server(name="nowhere-2", host="127.0.0.1", port=9, username="deploy")
    page.goto("/jobs/run/")
    expect(page.locator("select[name=servers]")).to_be_hidden()
    entry = page.locator("#id_servers-entry")
    entry.fill("nowhere-2")
    entry.press("Enter")
    entry.fill("nowhere-1")
    entry.press("Enter")
    expect(page.locator(".chip[data-value='nowhere-2']")).to_be_visible()
    page.click(".chip[data-value='nowhere-2'] .chip-remove")
    chosen = page.locator("select[name=servers]").evaluate("s => [...s.selectedOptions].map(o => o.value)")
    assert chosen == ["nowhere-1"]

    # The add-server form: the error under Host goes as soon as Host is filled.
    page.goto("/servers/add/")
    page.fill("input[name=name]", "web-9")
    page.click("#save-server")
    error = page.locator(".field-error[data-field=host]")
    expect(error).to_have_text("Give the host name or IP address.")
    page.fill("input[name=host]", "10.0.0.9")
    expect(error).to_have_count(0)
    # A test with a bad port says so under the port, in words.
    page.fill("input[name=port]", "70000")
    page.click("#test-connection")
    expect(page.locator(".field-error[data-field=port]")).to_have_text("Port must be between 1 and 65535.")
    assert page.console_errors == []


def test_just_now_and_a_tooltip_that_names_the_time_once(browser, app_server, operator):
    context = browser.new_context(base_url=app_server, timezone_id="UTC")
    page = context.new_page()
    try:
        page.goto("/")
        html = page.evaluate(
            """async () => {
              const clock = await import("/static/js/clock.js");
              const el = document.createElement("time");
              el.dataset.clock = "ago";
              document.body.append(el);
              clock.setClock(el, new Date(Date.now() - 5000).toISOString());
              return [el.textContent, el.title];
            }"""
        )
        assert html[0] == "just now"
        assert html[1].count("UTC") == 1 and "(" not in html[1]
    finally:
        context.close()
